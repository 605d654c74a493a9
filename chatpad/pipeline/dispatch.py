"""Handing stored webhook events to the inbound queue, off the request path.

The webhook request does the least that is durable: verify, INSERT the raw event (one autocommit round trip) and
LPUSH its id onto a Redis list (one more). Creating the RQ job — the expensive part of an enqueue — happens here, in
the workers: each inbound worker runs a dispatcher thread that BLPOPs ids and enqueues jobs for them. What it pops
in one go is one job per EVENTS_PER_JOB events (process_events), so at a busy moment RQ's per-job cost is paid once
per batch, while a quiet moment still gets a job per event at once; all of one pop's jobs are created in one Redis
round trip. Each batched event is also noted under its own key with the batch's job id, so the sweeper can tell a
queued event from a lost one. An id lost between the request and the dispatcher (a worker killed mid-dispatch, Redis
down during the request) is still a pending row in webhook_events, and the sweeper queues it.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from rq import Queue

from chatpad.queue import INBOUND_RETRY, get_queue, get_redis, job_id

log = logging.getLogger("chatpad.dispatch")

PENDING_KEY = "chatpad:inbound:pending"
BATCH = 200
# Events per inbound job when several are waiting. Small enough that a burst still spreads over a threaded worker's
# threads (a new customer's event waits on a Graph profile lookup), large enough that echoes and delivery receipts,
# which cost a job far more than their own work, stop paying for one each.
EVENTS_PER_JOB = 8
# How long the note "event N is in batch job J" is kept: longer than any queue backlog the sweeper should trust.
BATCH_NOTE_SECONDS = 3600


def announce(event_id: int) -> None:
    """Tell the dispatchers a new event is stored (one Redis round trip)."""
    announce_many([event_id])


def announce_many(event_ids: list[int]) -> None:
    """Tell the dispatchers these events are stored, oldest first (one Redis round trip)."""
    if event_ids:
        get_redis().lpush(PENDING_KEY, *event_ids)


def batch_note_key(event_id: int) -> str:
    """The Redis key naming the batch job an event was queued in (read by the sweeper)."""
    return f"chatpad:event-job:{event_id}"


def enqueue_events(event_ids: list[int]) -> int:
    """Queue jobs for these stored events, EVENTS_PER_JOB to a job, in one Redis round trip; returns how many events
    were queued. A lone event gets the process_event job named after it, which a duplicate enqueue leaves alone."""
    from rq.exceptions import DuplicateJobError

    if len(event_ids) == 1:
        try:
            get_queue("inbound").enqueue(
                "jobs.inbound.process_event",
                event_ids[0],
                job_id=job_id("event", event_ids[0]),
                unique=True,
                retry=INBOUND_RETRY,
            )
        except DuplicateJobError:
            return 0
        return 1
    queue = get_queue("inbound")
    chunks = [event_ids[i : i + EVENTS_PER_JOB] for i in range(0, len(event_ids), EVENTS_PER_JOB)]
    jobs = []
    notes: dict[int, str] = {}
    for chunk in chunks:
        if len(chunk) == 1:
            jobs.append(
                Queue.prepare_data(
                    "jobs.inbound.process_event", (chunk[0],), job_id=job_id("event", chunk[0]), retry=INBOUND_RETRY
                )
            )
            continue
        batch_job = job_id("events", chunk[0], chunk[-1], len(chunk))
        jobs.append(Queue.prepare_data("jobs.inbound.process_events", (chunk,), job_id=batch_job))
        notes.update(dict.fromkeys(chunk, batch_job))
    with queue.connection.pipeline() as pipe:
        for event_id, batch_job in notes.items():
            pipe.set(batch_note_key(event_id), batch_job, ex=BATCH_NOTE_SECONDS)
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    return len(event_ids)


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
