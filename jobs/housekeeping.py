"""Periodic housekeeping jobs the scheduler runs (jobs/scheduler.py lists them).

The sweeper is what makes "acknowledge first, process later" safe: whatever a crash, a Redis outage or a killed
worker left half-done — an event stored but never queued, a message claimed but never confirmed, a reply never
generated — it finds in the database and puts back on the queues. Every job it queues is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from chatpad.extensions import db
from chatpad.lanes import batch_note_key, waiting_ids
from chatpad.models import Conversation, Message, SocialAccount, WebhookEvent, utcnow
from chatpad.pipeline.replies import (
    clear_reply_pending,
    enqueue_send,
    pending_send_job,
    reply_pending_job,
    schedule_ai_reply,
    send_job_id,
)
from chatpad.pipeline.takeover import hand_back
from chatpad.queue import INBOUND_RETRY, QUEUE_NAMES, get_queue, get_redis, job_id
from jobs import app_context

log = logging.getLogger("chatpad.jobs.housekeeping")

# Grace periods come from config (SWEEP_*_GRACE_SECONDS; docs/reliability.md):
#   event: a stored event not processed after this is re-queued;
#   claim: a send claimed this long ago and never confirmed: the worker died (keep it above PLATFORM_HTTP_TIMEOUT);
#   pending: a pending message with no send job in sight;
#   reply: a customer message the AI never answered.
GIVE_UP_AFTER = timedelta(hours=24)  # pending this long (and not waiting for a reconnection): failed
# A delayed job (a retry's backoff, a debounced reply) this late means no RQ scheduler is moving them: see below.
SCHEDULED_OVERDUE = timedelta(seconds=10)


def _grace(kind: str) -> timedelta:
    return timedelta(seconds=float(current_app.config[f"SWEEP_{kind.upper()}_GRACE_SECONDS"]))


def heartbeat() -> str:
    """Record that the scheduler and a worker are alive (shown on the admin home)."""

    with app_context():
        now = utcnow().isoformat()
        get_redis().set("chatpad:scheduler:heartbeat", now, ex=600)
        return now


def sweep() -> dict[str, int]:
    """Re-queue what a crash or an outage left behind. Safe to run any time, on any number of workers."""
    with app_context():
        counts = {
            "abandoned": _reclaim_abandoned_jobs(),
            "overdue": _release_overdue_scheduled_jobs(),
            "events": _requeue_events(),
            "claims": _release_stale_claims(),
            "pending": _requeue_pending_sends(),
            "replies": _requeue_unanswered(),
            "handed_back": _auto_hand_back(),
        }
        if any(counts.values()):
            log.info("sweeper: %s", counts)
        return counts


def _reclaim_abandoned_jobs() -> int:
    """Jobs whose worker was killed mid-run stay "started" in RQ until a worker's maintenance (every 10 minutes)
    notices that their heartbeat stopped. Do it here, every sweep, with RQ's own cleanup: such a job is retried when
    it has retries left and failed otherwise, so the checks below see it is no longer running and re-queue its work."""
    reclaimed = 0
    for name in QUEUE_NAMES:
        registry = StartedJobRegistry(queue=get_queue(name))
        expired = registry.get_expired_job_ids()
        if expired:
            registry.cleanup()
            reclaimed += len(expired)
    return reclaimed


def _release_overdue_scheduled_jobs() -> int:
    """Delayed jobs are moved onto their queue by the RQ scheduler inside one worker, the one holding that queue's
    scheduler lock. When that worker is killed its lock lives on for a minute, and the others only try to take it
    every two minutes: meanwhile every retry and every debounced reply waits. Jobs overdue by SCHEDULED_OVERDUE are
    moved here instead; ZREM decides who moves each one, and a rare double move only runs an idempotent job twice."""
    from rq.utils import current_timestamp

    moved = 0
    cutoff = current_timestamp() - int(SCHEDULED_OVERDUE.total_seconds())
    redis = get_redis()
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        registry = ScheduledJobRegistry(queue=queue)
        for overdue_id in registry.get_jobs_to_schedule(cutoff):
            if not redis.zrem(registry.key, overdue_id):
                continue  # the scheduler got to it first
            try:
                job = Job.fetch(overdue_id, connection=redis)
            except NoSuchJobError:
                continue
            queue.enqueue_job(job)
            moved += 1
    if moved:
        log.warning("moved %s overdue scheduled job(s): is a worker running with its scheduler?", moved)
    return moved


def _job_active(job_id: str) -> bool:
    """Is this job going to run (queued, scheduled, deferred) or running? Its status alone can lie after a kill:
    a worker takes a job by moving it from the queue to RQ's intermediate list, then marks it started; killed in
    between, it leaves the job "queued" but in no queue (RQ's own cleanup of that list runs every 10 minutes and
    then waits a minute more). So a queued job counts only if it is really in its queue, or already started."""
    try:
        job = Job.fetch(job_id, connection=get_redis())
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        queue = get_queue(job.origin)
        return get_redis().lpos(queue.key, job.id) is not None or job.id in queue.started_job_registry
    return status in (JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def _forget_job(queue, job_id: str) -> None:
    """Clear a dead job of this id (finished, failed, or lost in a killed worker's hands) so it can be queued anew."""
    queue.connection.delete(f"rq:job:{job_id}")
    queue.connection.lrem(queue.intermediate_queue_key, 0, job_id)


def _requeue_events() -> int:

    cutoff = utcnow() - _grace("event")
    ids = db.session.scalars(
        select(WebhookEvent.id)
        .where(WebhookEvent.status == "pending", WebhookEvent.received_at < cutoff)
        .order_by(WebhookEvent.id)
        .limit(1000)
    ).all()
    queued = 0
    waiting = waiting_ids() if ids else set()  # still in the list: a consumer or dispatcher will take them
    for event_id in ids:
        if event_id in waiting:
            continue
        event_job = job_id("event", event_id)
        batch = get_redis().get(batch_note_key(event_id))  # queued with others in one job (dispatch.py)
        if _job_active(event_job) or (batch is not None and _job_active(batch.decode())):
            continue
        queue = get_queue("inbound")
        _forget_job(queue, event_job)
        queue.enqueue("jobs.inbound.process_event", event_id, job_id=event_job, retry=INBOUND_RETRY)
        queued += 1
    return queued


def _release_stale_claims() -> int:

    result = db.session.execute(
        update(Message)
        .where(Message.status == "sending", Message.sent_at < utcnow() - _grace("claim"))
        .values(status="pending", error="Retrying: the worker sending this message stopped")
    )
    db.session.commit()
    return result.rowcount


def _requeue_pending_sends() -> int:

    now = utcnow()
    db.session.execute(
        update(Message)
        .where(
            Message.status == "pending",
            Message.created_at < now - GIVE_UP_AFTER,
            Message.channel_account_id.in_(select(SocialAccount.id).where(SocialAccount.status != "needs_reauth")),
        )
        .values(status="failed", error="Not sent within 24 hours; the platform kept failing.")
    )
    db.session.commit()
    rows = db.session.execute(
        select(Message.id, Message.conversation_id, Message.meta)
        .join(SocialAccount, SocialAccount.id == Message.channel_account_id)
        .where(
            Message.status == "pending",
            Message.created_at < now - _grace("pending"),
            SocialAccount.status != "needs_reauth",
        )
        .order_by(Message.id)
        .limit(1000)
    ).all()
    # A conversation's pending messages go out in order, in one job named after the first of them and its attempt
    # count. Only that job tells whether the conversation is in hand: a later message's own job id never exists, and
    # sending it alone while the first waits out its backoff would deliver the parts of a reply out of order.
    by_conversation: dict = {}
    for message_id, conversation_id, meta in rows:
        by_conversation.setdefault(conversation_id, []).append((message_id, meta or {}))
    queued = 0
    for items in by_conversation.values():
        first, meta = items[0]
        attempts = int(meta.get("attempts", 0))
        swept = send_job_id(first, f"{attempts}-swept")
        if _job_active(pending_send_job(first, meta)) or _job_active(swept):
            continue
        _forget_job(get_queue("outbound"), swept)
        enqueue_send([message_id for message_id, _ in items], attempt=f"{attempts}-swept")
        queued += len(items)
    return queued


def _requeue_unanswered() -> int:
    """Conversations whose latest customer message has no AI answer, no takeover and no reply in flight."""

    now = utcnow()
    later = aliased(Message)
    candidates = db.session.scalars(
        select(Conversation.id)
        .where(
            Conversation.human_takeover.is_(False),
            Conversation.status != "resolved",
            Conversation.last_inbound_at < now - _grace("reply"),
            Conversation.last_inbound_at > now - timedelta(hours=23),
            # nothing was said to the customer after their last message
            ~exists(
                select(later.id).where(
                    later.conversation_id == Conversation.id,
                    later.direction == "outbound",
                    later.sender_type.in_(("ai", "human")),
                    later.created_at >= Conversation.last_inbound_at,
                )
            ),
        )
        .limit(500)
    ).all()
    queued = 0
    for conversation_id in candidates:
        message = db.session.scalar(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == "inbound")
            .order_by(Message.created_at.desc())
            .limit(1)
        )
        if message is not None and (message.meta or {}).get("no_reply_reason"):
            continue
        pending = reply_pending_job(conversation_id)
        if pending is not None and not _job_active(pending):
            clear_reply_pending(conversation_id)  # its job was lost (Redis restarted, or a worker killed taking it)
        if schedule_ai_reply(conversation_id):
            queued += 1
    return queued


def _auto_hand_back() -> int:

    due = db.session.scalars(
        select(Conversation).where(
            Conversation.human_takeover.is_(True),
            Conversation.takeover_until.is_not(None),
            Conversation.takeover_until < utcnow(),
        )
    ).all()
    for conversation in due:
        hand_back(conversation)
    return len(due)
