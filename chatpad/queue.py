"""Redis and the RQ queues. Connections open lazily from app.config, never at import.

Queues by purpose, so a slow model never delays a send: inbound (webhook events), ai (reply generation),
outbound (platform sends), mail (IMAP sync, SMTP), default (housekeeping).
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis import BlockingConnectionPool, Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

QUEUE_NAMES = ("inbound", "ai", "outbound", "mail", "default")

# Retries with backoff for jobs that fail on a passing fault (needs a worker --with-scheduler, which ours run).
INBOUND_RETRY = Retry(max=4, interval=[5, 30, 120, 600])

log = logging.getLogger("chatpad.queue")


def get_redis() -> Redis:
    """The app's Redis connection (one pool per app)."""
    ext = current_app.extensions
    conn = ext.get("chatpad.redis")
    if conn is None:
        config = current_app.config
        if config.get("SERVES_STREAMS"):
            # The stream process: many greenlets at once share a bounded pool and wait for a connection (up to
            # 10 s) rather than fail. Their pub/sub goes through one shared connection (chatpad.realtime).
            pool = BlockingConnectionPool.from_url(
                config["REDIS_URL"],
                max_connections=int(config.get("STREAMS_REDIS_CONNECTIONS", 20)),
                timeout=10,
                health_check_interval=30,
            )
            conn = Redis(connection_pool=pool)
        else:
            conn = Redis.from_url(config["REDIS_URL"], health_check_interval=30)
        ext["chatpad.redis"] = conn
    return conn


def get_queue(name: str) -> Queue:
    """A named queue on the app's Redis."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())


_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def job_id(*parts: object) -> str:
    """A deterministic RQ job id from parts (RQ allows only letters, digits, '_' and '-')."""
    return "-".join(_JOB_ID_UNSAFE.sub("_", str(p)) for p in parts)


def enqueue(
    queue: str,
    func: str,
    *args: Any,
    job_id: str | None = None,
    retry: Retry | None = None,
    **options: Any,
) -> Job | None:
    """Enqueue a job by dotted path. With job_id the job is unique: a duplicate returns None instead of running twice.

    The web process enqueues by name so it never imports worker-only code.
    """
    q = get_queue(queue)
    try:
        return q.enqueue(func, *args, job_id=job_id, unique=job_id is not None, retry=retry, **options)
    except DuplicateJobError:
        log.debug("job %s already queued", job_id)
        return None


def enqueue_after(queue: str, seconds: float, func: str, *args: Any, **options: Any) -> Job:
    """Enqueue a job by dotted path to run no sooner than `seconds` from now (a backoff, a debounce).

    RQ keeps a scheduled job's due time in whole seconds, truncated: enqueue_in(0.5 s) at 10.2 s is due at 10 s, at
    once, and at 10.7 s due at 11 s, 0.3 s later. A send retry meant to wait out a 0.5 s backoff came back 0.35 s
    after the failure. Here the due time is rounded up to the next whole second: the wait is a floor, late by under a
    second (plus the scheduler's polling), never early."""
    due = datetime.fromtimestamp(math.ceil(time.time() + seconds), UTC)
    return get_queue(queue).enqueue_at(due, func, *args, **options)
