"""Jobs the threaded-worker tests enqueue (importable by a worker process started from the repository root)."""

from __future__ import annotations

import time

from rq import get_current_job
from rq.executions import ExecutionRegistry
from rq.registry import StartedJobRegistry

# Count jobs in flight and keep the maximum, atomically.
_ENTER = """
local n = redis.call('incr', KEYS[1])
local m = tonumber(redis.call('get', KEYS[2]) or '0')
if n > m then redis.call('set', KEYS[2], n) end
return n
"""


def track(seconds: float) -> int:
    """Sleep while counted as in flight; return how many were in flight when this one started."""
    redis = get_current_job().connection
    n = redis.eval(_ENTER, 2, "test:inflight", "test:max_inflight")
    try:
        time.sleep(seconds)
    finally:
        redis.decr("test:inflight")
    return n


def crash() -> None:
    raise RuntimeError("boom: a job that crashes")


def spin(seconds: float) -> str:
    """Busy in Python (so a timeout or stop can interrupt it between steps)."""
    redis = get_current_job().connection
    redis.incr("test:spinning")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return "finished"


def block(seconds: float) -> str:
    """One long C call (time.sleep) that no asynchronous exception can interrupt."""
    time.sleep(seconds)
    return "woke up"


def observe(seconds: float) -> dict:
    """Sleep, then report what RQ's registries say about this running job."""
    job = get_current_job()
    time.sleep(seconds)
    started = StartedJobRegistry(job.origin, connection=job.connection)
    [execution] = ExecutionRegistry(job.id, connection=job.connection).get_executions()
    return {
        "in_started_registry": job.id in started,
        "started_count": started.count,
        "heartbeat_after_start": (execution.last_heartbeat - execution.created_at).total_seconds(),
        "worker": job.worker_name,
    }
