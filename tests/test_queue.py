"""RQ wiring: named queues, unique job ids, and a real worker process running jobs with the app loaded."""

import subprocess
import sys

from rq.job import Job

from chatpad.queue import QUEUE_NAMES, enqueue, get_queue, get_redis


def test_named_queues(app):
    with app.app_context():
        assert set(QUEUE_NAMES) == {"inbound", "ai", "outbound", "mail", "default"}
        assert get_queue("ai").name == "ai"


def test_a_job_id_runs_once(app):
    with app.app_context():
        first = enqueue("default", "jobs.housekeeping.heartbeat", job_id="heartbeat-test")
        second = enqueue("default", "jobs.housekeeping.heartbeat", job_id="heartbeat-test")
        assert first is not None and second is None
        assert get_queue("default").count == 1


def test_worker_process_runs_jobs_with_the_app(app, database_url, redis_url):
    """python -m jobs.worker --burst: the same entry point operators run."""
    with app.app_context():
        job = enqueue("default", "jobs.housekeeping.heartbeat", job_id="hb-worker")
        env = {
            "CHATPAD_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PATH": "/usr/bin:/bin",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "jobs.worker", "default", "--burst"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        job = Job.fetch("hb-worker", connection=get_redis())
        assert job.is_finished, proc.stderr[-2000:]
        assert get_redis().get("chatpad:scheduler:heartbeat").decode() == job.return_value()


def test_worker_class_follows_the_queues():
    """Sends run one at a time (a killed sender leaves at most one message in doubt); jobs that wait on the network
    run in threads; a mixed worker with outbound forks per job; SQLite keeps platform jobs one at a time."""
    from jobs.worker import choose_worker_class

    assert choose_worker_class(["outbound"]) == "simple"
    assert choose_worker_class(["inbound", "mail", "default"]) == "threaded"
    assert choose_worker_class(["ai"]) == "threaded"
    assert choose_worker_class(["inbound", "outbound", "default"]) == "fork"
    assert choose_worker_class(["inbound", "mail", "default"], sqlite=True) == "fork"
    assert choose_worker_class(["ai"], sqlite=True) == "threaded"
    assert choose_worker_class(["outbound"], "threaded") == "threaded"  # an operator's explicit choice wins


def test_a_delayed_job_never_comes_due_early(app):
    """RQ keeps due times in whole seconds, truncated, so a half-second backoff could come due at once. Delayed jobs
    (send retries, the debounce, an event's retry) are due no sooner than asked, whatever the clock's fraction."""
    import time

    from rq.registry import ScheduledJobRegistry

    from chatpad.queue import enqueue_after

    with app.app_context():
        queue = get_queue("outbound")
        registry = ScheduledJobRegistry(queue=queue)
        for n in range(12):  # across the fractions of a second
            asked = time.time() + 0.5
            job = enqueue_after("outbound", 0.5, "jobs.housekeeping.heartbeat", job_id=f"later-{n}")
            due = registry.connection.zscore(registry.key, job.id)
            assert asked <= due < asked + 1
            time.sleep(0.09)
        assert queue.count == 0 and registry.count == 12
