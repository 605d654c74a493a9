"""Running real RQ workers in tests: burst workers in this process (SimpleWorker), and time travel for jobs
scheduled in the future (retries with backoff, debounced replies)."""

from __future__ import annotations

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from chatpad.lanes import dispatch_pending
from chatpad.queue import QUEUE_NAMES, get_queue, get_redis


class Workers:
    def __init__(self, app):
        self.app = app

    def run(self, *queues: str, fast_forward: bool = False, rounds: int = 10) -> None:
        """Work the queues until they are empty. With fast_forward, jobs scheduled for later run now too."""
        names = queues or QUEUE_NAMES
        with self.app.app_context():
            for _ in range(rounds):
                if "inbound" in names:
                    dispatch_pending()  # what the worker's dispatcher thread does
                if fast_forward:
                    self.release_scheduled(*names)
                rq_queues = [get_queue(n) for n in names]
                if not any(q.count for q in rq_queues):
                    break
                SimpleWorker(rq_queues, connection=get_redis()).work(burst=True, with_scheduler=False)

    def release_scheduled(self, *queues: str) -> int:
        """Move every scheduled job of these queues onto its queue now (as if its time had come)."""
        moved = 0
        with self.app.app_context():
            for name in queues or QUEUE_NAMES:
                queue = get_queue(name)
                registry = ScheduledJobRegistry(queue=queue)
                for job_id in registry.get_job_ids():
                    job = queue.fetch_job(job_id)
                    registry.remove(job_id)
                    if job is not None:
                        queue.enqueue_job(job)
                        moved += 1
        return moved

    def scheduled(self, *queues: str) -> int:
        with self.app.app_context():
            return sum(len(ScheduledJobRegistry(queue=get_queue(n))) for n in queues or QUEUE_NAMES)

    def queued(self, name: str) -> int:
        with self.app.app_context():
            return get_queue(name).count


@pytest.fixture
def workers(app):
    """Burst workers in this process, with the test app as the jobs' app."""
    from jobs import set_app

    set_app(app)
    return Workers(app)
