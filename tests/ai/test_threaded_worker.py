"""The threaded RQ worker: many jobs at once in one process, with RQ's registries, heartbeats, timeouts and
shutdown behaving as on RQ's own workers. Real Redis, real worker processes where signals matter."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from rq import Worker
from rq.command import send_stop_job_command
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from sqlalchemy import select

from chatpad.models import Message
from chatpad.queue import get_queue, get_redis
from jobs.threaded import ThreadedWorker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
J = "tests.ai.worker_jobs"


@contextmanager
def _process_state_restored():
    """BaseWorker.work() installs SIGINT/SIGTERM handlers and may set RQ's logger levels; put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    loggers = {name: logging.getLogger(name) for name in ("rq.worker", "rq.job")}
    levels = {name: (lg.level, lg.propagate, list(lg.handlers)) for name, lg in loggers.items()}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        for name, (level, propagate, handlers) in levels.items():
            loggers[name].setLevel(level)
            loggers[name].propagate = propagate
            loggers[name].handlers[:] = handlers


def _work(queue, threads=8, **kwargs) -> ThreadedWorker:
    worker = ThreadedWorker([queue], connection=queue.connection, threads=threads, job_monitoring_interval=1)
    for key, value in kwargs.items():
        setattr(worker, key, value)
    with _process_state_restored():
        worker.work(burst=True, logging_level=None)
    return worker


def _exc(job: Job) -> str:
    result = job.latest_result()
    return result.exc_string if result else ""


def _wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_runs_many_jobs_at_once_in_one_process(app):
    """Twelve jobs that each wait half a second run side by side in one process, not one after another."""
    with app.app_context():
        queue = get_queue("ai")
        jobs = [queue.enqueue(f"{J}.track", 0.5) for _ in range(12)]
        _work(queue, threads=8)
        redis = get_redis()
        assert int(redis.get("test:max_inflight")) >= 6
        assert all(job.get_status() == JobStatus.FINISHED for job in jobs)
        assert FinishedJobRegistry(queue=queue).count == 12 and StartedJobRegistry(queue=queue).count == 0
        assert Worker.count(connection=redis) == 0


def test_running_jobs_are_in_the_started_registry_and_heartbeat(app):
    """While jobs run they are in RQ's StartedJobRegistry at the same time, and their executions keep getting
    heartbeats (so another worker's maintenance never takes them for abandoned); afterwards the registry is empty."""
    with app.app_context():
        queue = get_queue("ai")
        jobs = [queue.enqueue(f"{J}.observe", 2.5) for _ in range(3)]
        worker = _work(queue, threads=4)
        results = [job.return_value() for job in jobs]
        assert all(r["in_started_registry"] for r in results)
        assert max(r["started_count"] for r in results) >= 2
        assert all(r["heartbeat_after_start"] >= 1 for r in results)
        assert {r["worker"] for r in results} == {worker.name}
        assert StartedJobRegistry(queue=queue).count == 0


def test_a_crashing_job_fails_alone(app):
    """A job that raises is failed with its traceback; the jobs beside it finish and the worker carries on."""
    with app.app_context():
        queue = get_queue("ai")
        bad = queue.enqueue(f"{J}.crash")
        good = [queue.enqueue(f"{J}.track", 0.2) for _ in range(3)]
        _work(queue, threads=4)
        assert bad.get_status() == JobStatus.FAILED and "boom: a job that crashes" in _exc(bad)
        assert bad.id in FailedJobRegistry(queue=queue)
        assert all(job.get_status() == JobStatus.FINISHED for job in good)


def test_job_timeout_works_in_threads_without_sigalrm(app):
    """A job past its timeout fails with JobTimeoutException raised in its own thread; no SIGALRM is involved and
    the other jobs are untouched."""
    alarm_handler = signal.getsignal(signal.SIGALRM)  # pytest-timeout's own, when it uses the signal method
    with app.app_context():
        queue = get_queue("ai")
        slow = queue.enqueue(f"{J}.spin", 30, job_timeout=1)
        quick = queue.enqueue(f"{J}.track", 0.2)
        _work(queue, threads=4)
        assert slow.get_status() == JobStatus.FAILED
        assert "JobTimeoutException: Task exceeded maximum timeout value (1 seconds)" in _exc(slow)
        assert quick.get_status() == JobStatus.FINISHED
        assert signal.getsignal(signal.SIGALRM) is alarm_handler


def test_a_hung_thread_is_failed_and_its_late_result_ignored(app):
    """A job stuck in one C call past timeout + grace is failed by the worker and its slot freed; when the call
    finally returns, its result does not overwrite the failure."""
    with app.app_context():
        queue = get_queue("ai")
        stuck = queue.enqueue(f"{J}.block", 4, job_timeout=1)
        _work(queue, threads=2, hung_grace=1)
        assert stuck.get_status() == JobStatus.FAILED and "Job hung" in _exc(stuck)
        for thread in threading.enumerate():
            if thread.name == f"rq-job-{stuck.id}":
                thread.join(10)
        assert stuck.get_status() == JobStatus.FAILED


# --- a real worker process: signals, commands, and the AI replies ---


def _env(database_url, redis_url, **extra):
    env = {
        "CHATPAD_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PATH": "/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _start_worker(env, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.worker", "ai", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_lets_running_jobs_finish_and_takes_no_more(app, database_url, redis_url):
    """SIGTERM (warm shutdown): the jobs already running finish, queued ones stay queued for the next worker, and
    the worker leaves RQ's worker registry."""
    with app.app_context():
        queue, redis = get_queue("ai"), get_redis()
        running = [queue.enqueue(f"{J}.track", 2) for _ in range(3)]
        waiting = queue.enqueue(f"{J}.track", 2)
        proc = _start_worker(_env(database_url, redis_url), "--threads", "3")
        try:
            _wait_for(lambda: redis.get("test:inflight") == b"3", what="three jobs running")
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, output[-3000:]
        assert all(job.get_status() == JobStatus.FINISHED for job in running), output[-3000:]
        assert waiting.get_status() == JobStatus.QUEUED and queue.count == 1
        assert Worker.count(connection=redis) == 0


def test_second_sigterm_interrupts_running_jobs(app, database_url, redis_url):
    """A second SIGTERM (cold shutdown) interrupts the running jobs, which fail (to be retried per their policy),
    and the worker exits instead of waiting for them."""
    with app.app_context():
        queue, redis = get_queue("ai"), get_redis()
        jobs = [queue.enqueue(f"{J}.spin", 60) for _ in range(2)]
        proc = _start_worker(_env(database_url, redis_url), "--threads", "2")
        try:
            _wait_for(lambda: redis.get("test:spinning") == b"2", what="two jobs running")
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)  # RQ ignores a repeat within one second (it may be the same signal twice)
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
        for job in jobs:
            assert job.get_status() == JobStatus.FAILED, output[-3000:]
            assert "WorkerShutdownError" in _exc(job)
        assert Worker.count(connection=redis) == 0


def test_rq_stop_job_command_stops_one_thread(app, database_url, redis_url):
    """`rq`'s stop-job command stops that job (status stopped, not retried) and leaves the others running."""
    with app.app_context():
        queue, redis = get_queue("ai"), get_redis()
        victim = queue.enqueue(f"{J}.spin", 60)
        other = queue.enqueue(f"{J}.spin", 2)
        proc = _start_worker(_env(database_url, redis_url), "--threads", "2")
        try:
            _wait_for(lambda: redis.get("test:spinning") == b"2", what="both jobs running")
            send_stop_job_command(redis, victim.id)
            _wait_for(lambda: victim.get_status() == JobStatus.STOPPED, what="the job to stop")
            _wait_for(lambda: other.get_status() == JobStatus.FINISHED, what="the other job to finish")
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 0, output[-3000:]


# The worker process serves the test-only loopback channel as well (registered the way tests/plugins/loopback does).
LOOPBACK_WORKER = (
    "import sys; from chatpad.channels import CHANNELS; "
    "CHANNELS['loopback'] = 'tests.plugins.loopback:LoopbackChannel'; "
    "from jobs.worker import main; main(sys.argv[1:])"
)


def _burst(env: dict[str, str], queue: str) -> subprocess.CompletedProcess:
    """`jobs.worker <queue> --burst` with the loopback channel: runs what is queued, then exits."""
    return subprocess.run(
        [sys.executable, "-c", LOOPBACK_WORKER, queue, "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_fifty_conversations_are_answered_concurrently_by_one_process(
    app, db, make, demo, standin, database_url, redis_url
):
    """The issue's bar: with a model that takes 2 s per call, one ai worker process (`jobs.worker ai`, the real
    generate_reply jobs) keeps at least 20 of 50 conversations' AI calls in flight at once, measured at the model.
    Every answer is sent once: by that process itself (one send at a time), or — when the send lock stays busy
    longer than SEND_HERE_LOCK_WAIT, as 50 answers arriving in the same instant can make it on a slow machine — by
    the outbound queue, which a simple outbound worker then drains."""
    from chatpad.models import Agent, Location
    from tests.pipeline.test_ingest import deliver, msg

    locations = db.session.scalars(select(Location).order_by(Location.name)).all()
    agent = db.session.get(Agent, locations[0].agent_id)
    for n, location in enumerate(locations[:5]):
        make.account(agent, "loopback", location, account_id=f"loop-{n}", account_name=f"Loop {n}")
    for i in range(50):
        deliver(app, f"loop-{i % 5}", msg(f"m{i}", f"Hi, is anything available? ({i})", sender=f"cust-{i}"))
    with app.app_context():
        assert get_queue("ai").count == 50
    standin.control(latency=2.0)

    env = _env(database_url, redis_url, AI_PROVIDER="openai", AI_BASE_URL=standin.base_url, AI_API_KEY="sk-bench")
    proc = _burst(env, "ai")

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "running up to 64 jobs at once" in proc.stderr
    stats = standin.stats()
    assert stats["requests"] == 50 and stats["max_in_flight"] >= 20, stats
    with app.app_context():
        handed_over = get_queue("outbound").count
    assert handed_over < 50  # the AI process sends its answers itself; only a busy lock's overflow is handed over
    if handed_over:
        outbound = _burst(env, "outbound")
        assert outbound.returncode == 0, outbound.stderr[-3000:]
    db.session.expire_all()
    answers = db.session.scalars(select(Message).where(Message.sender_type == "ai")).all()
    assert len({m.conversation_id for m in answers}) == 50
    assert all(m.status == "sent" and m.external_id for m in answers)
    assert len({m.external_id for m in answers}) == len(answers)  # each part sent once
    joined = {m.conversation_id: "" for m in answers}
    for m in answers:
        joined[m.conversation_id] += " " + m.content
    assert all("(sandbox model)" in text for text in joined.values())
