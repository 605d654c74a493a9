"""The inbound lanes: handing stored webhook events to the workers, off the request path. A shared leaf (Redis
only), so the webhook request, the widget, the workers and the sweeper all use it without reaching into the pipeline.

The webhook request does the least that is durable: verify, INSERT the raw event and LPUSH its id onto a Redis list
(both shared with whatever other deliveries arrive at the same moment: chatpad/webhooks/store.py). There are two
lists, two lanes: customers' messages and anything else that may need an answer (PENDING_KEY), and receipts
(RECEIPTS_KEY: delivery and read receipts, echoes of ChatPad's own sends — two or more for every reply, none needing
an answer). A customer's message never waits behind receipts (they have their own consumer), and receipts are taken in
batches (one claim, one finish and one account lookup for many) after a short linger, instead of one by one as they
trickle in. The workers take the ids in batches, two ways:

- consumers (threaded inbound workers, the production setup; jobs/consumers.py runs them): a few threads in the
  worker process pop up to EVENTS_PER_JOB ids and process them at once (jobs.inbound.process_events), with no RQ
  job in between. A pull takes what is waiting, so batches grow exactly when events arrive faster than they are
  processed, and a busy moment stops paying RQ's per-job cost (enqueue, dequeue, registries, result) for every echo
  and delivery receipt whose own work is a single UPDATE. One event that fails is retried alone as an RQ job
  (process_event);
- a dispatcher (fork and simple workers, e.g. `make run` on SQLite, and the test harness): one thread pops what is
  waiting and enqueues one RQ job per EVENTS_PER_JOB events, all in one Redis round trip. Each batched event is
  noted under its own key with its job's id, so the sweeper can tell a queued event from a lost one.

An id lost on the way (a worker killed with a batch in hand, Redis down during the request) is still a pending row
in webhook_events: the sweeper queues it once it is older than SWEEP_EVENT_GRACE_SECONDS and not waiting in the list
or in a job.
"""

from __future__ import annotations

from rq import Queue

from chatpad.queue import INBOUND_RETRY, get_queue, get_redis, job_id

PENDING_KEY = "chatpad:inbound:pending"
RECEIPTS_KEY = "chatpad:inbound:receipts"
LANES = (PENDING_KEY, RECEIPTS_KEY)  # in the order they are served
BATCH = 200
# Events per batch (a consumer's pull, a dispatched job) when several are waiting. Small enough that a burst still
# spreads over several threads (a new customer's event waits on a Graph profile lookup), large enough that echoes and
# delivery receipts, which cost a job far more than their own work, stop paying for one each.
EVENTS_PER_JOB = 8
# How long the note "event N is in batch job J" is kept: longer than any queue backlog the sweeper should trust.
BATCH_NOTE_SECONDS = 3600
# Receipts: up to this many per batch, by one consumer that waits RECEIPTS_LINGER after a batch that was not full,
# so that a trickle gathers into batches while a backlog is drained without pause.
RECEIPTS_PER_BATCH = 32
RECEIPTS_LINGER = 0.25


def announce(event_id: int) -> None:
    """Tell the dispatchers a new event is stored (one Redis round trip)."""
    announce_many([event_id])


def announce_many(event_ids: list[int], receipts: list[int] | None = None) -> None:
    """Tell the dispatchers these events are stored, oldest first, and these receipts (one Redis round trip)."""
    if event_ids and not receipts:
        get_redis().lpush(PENDING_KEY, *event_ids)
        return
    with get_redis().pipeline(transaction=False) as pipe:
        if event_ids:
            pipe.lpush(PENDING_KEY, *event_ids)
        if receipts:
            pipe.lpush(RECEIPTS_KEY, *receipts)
        pipe.execute()


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
        batch_job = job_id("events", chunk[0], chunk[-1], len(chunk))
        jobs.append(Queue.prepare_data("jobs.inbound.process_events", (chunk,), job_id=batch_job))
        notes.update(dict.fromkeys(chunk, batch_job))
    with queue.connection.pipeline() as pipe:
        for event_id, batch_job in notes.items():
            pipe.set(batch_note_key(event_id), batch_job, ex=BATCH_NOTE_SECONDS)
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    return len(event_ids)


def pop_pending(limit: int, block: float | None = None, lanes: tuple[str, ...] = (PENDING_KEY,)) -> list[int]:
    """Take up to limit announced ids, oldest first, from the first of the lanes that has any. With block, wait up to
    that many seconds for the first."""
    redis = get_redis()
    ids: list[int] = []
    lane = None
    if block:
        item = redis.brpop(list(lanes), timeout=block)
        if item is None:
            return ids
        lane = item[0].decode() if isinstance(item[0], bytes) else item[0]
        ids.append(int(item[1]))
        limit -= 1
    for key in (lane,) if lane else lanes:
        if limit <= 0:
            break
        taken = [int(x) for x in redis.rpop(key, limit) or []]
        ids.extend(taken)
        limit -= len(taken)
    return ids


def waiting_ids() -> set[int]:
    """The ids announced and not yet taken, in either lane (the sweeper leaves these alone)."""
    with get_redis().pipeline(transaction=False) as pipe:
        for key in LANES:
            pipe.lrange(key, 0, -1)
        return {int(x) for ids in pipe.execute() for x in ids}


def dispatch_pending(block: float | None = None) -> int:
    """Move announced event ids onto the inbound queue as jobs, messages before receipts. With block, wait up to that
    many seconds for one."""
    ids = pop_pending(BATCH, block, LANES)
    return enqueue_events(ids) if ids else 0
