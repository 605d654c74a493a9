"""Periodic housekeeping jobs the scheduler runs (jobs/scheduler.py lists them)."""

from __future__ import annotations

import logging

from jobs import app_context

log = logging.getLogger("chatpad.jobs.housekeeping")


def heartbeat() -> str:
    """Record that the scheduler and a worker are alive (shown on the admin home)."""
    from datetime import UTC, datetime

    from chatpad.queue import get_redis

    with app_context():
        now = datetime.now(UTC).isoformat()
        get_redis().set("chatpad:scheduler:heartbeat", now, ex=600)
        return now
