"""`python -m tests.loopback_worker [queues…]`: the real worker (jobs/worker.py) in its own process, with the
test-only loopback channel (tests/plugins/loopback.py) registered, for tests that need a worker running beside them."""

from chatpad.channels import CHANNELS

CHANNELS["loopback"] = "tests.plugins.loopback:LoopbackChannel"

if __name__ == "__main__":
    from jobs.worker import main

    main()
