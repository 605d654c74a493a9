"""Handing stored webhook events to the inbound queue, off the request path.

The webhook request does the least that is durable: verify, INSERT the raw event (one autocommit round trip) and
LPUSH its id onto a Redis list (one more). Creating the RQ job — the expensive part of an enqueue — happens here, in
the workers: each inbound worker runs a dispatcher thread that BLPOPs ids and enqueues process_event jobs with
deterministic ids. An id lost between the two (a worker killed mid-dispatch, Redis down during the request) is still
a pending row in webhook_events, and the sweeper queues it.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from chatpad.queue import INBOUND_RETRY, get_queue, get_redis, job_id

log = logging.getLogger("chatpad.dispatch")

PENDING_KEY = "chatpad:inbound:pending"
BATCH = 200


def announce(event_id: int) -> None:
    """Tell the dispatchers a new event is stored (one Redis round trip)."""
    announce_many([event_id])


def announce_many(event_ids: list[int]) -> None:
    """Tell the dispatchers these events are stored, oldest first (one Redis round trip)."""
    if event_ids:
        get_redis().lpush(PENDING_KEY, *event_ids)


def enqueue_events(event_ids: list[int]) -> int:
    """Create the process_event jobs for these stored events; returns how many were new."""
    from rq.exceptions import DuplicateJobError

    queue = get_queue("inbound")
    created = 0
    for event_id in event_ids:
        try:
            queue.enqueue(
                "jobs.inbound.process_event",
                event_id,
                job_id=job_id("event", event_id),
                unique=True,
                retry=INBOUND_RETRY,
            )
            created += 1
        except DuplicateJobError:
            pass
    return created


def dispatch_pending(block: float | None = None) -> int:
    """Move announced event ids onto the inbound queue. With block, wait up to that many seconds for the first."""
    redis = get_redis()
    ids: list[int] = []
    if block:
        item = redis.brpop(PENDING_KEY, timeout=block)
        if item is None:
            return 0
        ids.append(int(item[1]))
    popped = redis.rpop(PENDING_KEY, BATCH) or []
    ids.extend(int(x) for x in popped)
    return enqueue_events(ids) if ids else 0


def start_dispatcher(app: Flask, stop: threading.Event) -> threading.Thread:
    """Run a dispatcher thread until stop is set (jobs/worker.py starts one per inbound worker)."""

    def loop() -> None:
        with app.app_context():
            while not stop.is_set():
                try:
                    dispatch_pending(block=1)
                except Exception:  # Redis restarting: wait and go on; the sweeper covers anything missed
                    log.warning("dispatcher: Redis unavailable, retrying", exc_info=True)
                    stop.wait(1)

    thread = threading.Thread(target=loop, name="chatpad-dispatcher", daemon=True)
    thread.start()
    return thread
