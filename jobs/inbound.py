"""Inbound jobs: stored webhook events → parsed events → the pipeline.

A batch (process_events: what a consumer pulled, or a dispatched job) is read and counted as attempted with one
UPDATE, each event is then ingested in its own transactions, and those that came through are marked done with one
UPDATE per outcome at the end. A worker that dies before that end leaves its events pending with the attempt
counted: the sweeper queues them again and ingest, which dedupes by platform message id, stores nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rq import Retry
from sqlalchemy import func, update

from chatpad.channels import get_channel
from chatpad.channels.errors import AnomalousPayloadError, UnsupportedEventError
from chatpad.extensions import db
from chatpad.models import Agent, SocialAccount, WebhookEvent, utcnow
from chatpad.pipeline import ingest
from chatpad.queue import INBOUND_RETRY, enqueue_after, job_id
from jobs import app_context

log = logging.getLogger("chatpad.jobs.inbound")
unsupported_log = logging.getLogger("chatpad.webhooks.unsupported")

MAX_EVENT_ATTEMPTS = 5

# Outcome of one event: its final status and error, and what ingest did with the events in it.
Outcome = tuple[str, str | None, dict[str, int]]


def process_event(event_id: int) -> dict[str, int]:
    """Parse a stored webhook event with its channel's adapter and ingest every event in it.

    Idempotent: ingest dedupes by platform message id, so a retry after a crash re-ingests harmlessly. A failure
    raises (RQ retries with backoff); after MAX_EVENT_ATTEMPTS the event is marked failed with the error so an admin
    can see and replay it.
    """
    with app_context(expire_on_commit=False):
        events = _claim([event_id])
        if not events:  # unknown, or already done
            return {}
        event = events[0]
        try:
            status, error, counts = _handle(event)
        except Exception as exc:
            if _fail(event, exc) == "pending":
                raise
            return {}
        _finish({event.id: (status, error)})
        return counts


def process_events(event_ids: list[int]) -> dict[str, int]:
    """Several stored events, in order: what a consumer pulled at once or the dispatcher queued together
    (chatpad/pipeline/dispatch.py). One that fails on a passing fault does not hold up the rest: it is re-queued
    alone, after the first backoff interval, as the process_event job the sweeper knows it by, with the retries
    that remain."""
    totals: dict[str, int] = {}
    with app_context(expire_on_commit=False):
        done: dict[int, tuple[str, str | None]] = {}
        for event in _claim(event_ids):
            _forget_all_but_accounts()
            try:
                status, error, counts = _handle(event)
            except Exception as exc:
                if _fail(event, exc) == "pending":
                    log.warning("event %s failed in a batch; retrying it alone", event.id, exc_info=True)
                    _retry_alone(event.id)
                    totals["retried"] = totals.get("retried", 0) + 1
                continue
            done[event.id] = (status, error)
            for key, n in counts.items():
                totals[key] = totals.get(key, 0) + n
        _finish(done)
    return totals


def _claim(event_ids: Sequence[int]) -> list[Any]:
    """Count an attempt on each event not yet done and read it, in one statement; in the order given."""
    rows = db.session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id.in_(list(event_ids)), WebhookEvent.status.notin_(("processed", "ignored")))
        .values(attempts=func.coalesce(WebhookEvent.attempts, 0) + 1)
        .returning(WebhookEvent.id, WebhookEvent.channel, WebhookEvent.body, WebhookEvent.attempts)
    ).all()
    db.session.commit()
    position = {event_id: n for n, event_id in enumerate(event_ids)}
    return sorted(rows, key=lambda row: position[row.id])


def _handle(event: Any) -> Outcome:
    """Parse and ingest one event. Its final status, or an exception for a fault worth retrying."""
    counts: dict[str, int] = {}
    try:
        for item in get_channel(event.channel).parse(event.body):
            result = ingest(item, raw_event_id=event.id, alone=True)
            counts[result.status] = counts.get(result.status, 0) + 1
    except AnomalousPayloadError as exc:
        db.session.rollback()
        return "failed", f"unreadable payload: {exc}", counts
    except UnsupportedEventError as exc:  # well formed, not something ChatPad handles: done, not retried
        db.session.rollback()
        unsupported_log.info("%s event %s not handled: %s", event.channel, event.id, exc)
        return "ignored", None, counts
    useful = counts.get("stored", 0) + counts.get("updated", 0)
    log.info("event %s (%s): %s", event.id, event.channel, counts)
    return ("processed" if useful or counts.get("duplicate") else "ignored"), None, counts


def _fail(event: Any, exc: Exception) -> str:
    """Record a failed attempt: pending with the error (to be retried), or failed for good after the last one."""
    db.session.rollback()
    reason = f"{type(exc).__name__}: {exc}"
    if event.attempts >= MAX_EVENT_ATTEMPTS:
        log.error("event %s failed for good after %s attempts: %s", event.id, event.attempts, reason, exc_info=exc)
        _finish({event.id: ("failed", reason)})
        return "failed"
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == event.id).values(status="pending", error=reason))
    db.session.commit()
    return "pending"


def _finish(done: dict[int, tuple[str, str | None]]) -> None:
    """Mark events done: one UPDATE per outcome (usually one: processed)."""
    by_outcome: dict[tuple[str, str | None], list[int]] = {}
    for event_id, outcome in done.items():
        by_outcome.setdefault(outcome, []).append(event_id)
    if not by_outcome:
        return
    now = utcnow()
    for (status, error), ids in by_outcome.items():
        db.session.execute(
            update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(status=status, error=error, processed_at=now)
        )
    db.session.commit()


def _forget_all_but_accounts() -> None:
    """Before the next event of a batch: read contacts, conversations and messages afresh (this session does not
    expire them on commit), but keep the accounts and agents routing has loaded (ingest.route reuses them)."""
    for obj in list(db.session.identity_map.values()):
        if not isinstance(obj, SocialAccount | Agent):
            db.session.expire(obj)


def _retry_alone(event_id: int) -> None:
    intervals = list(INBOUND_RETRY.intervals)
    enqueue_after(
        "inbound",
        intervals[0],
        "jobs.inbound.process_event",
        event_id,
        job_id=job_id("event", event_id),
        retry=Retry(max=INBOUND_RETRY.max - 1, interval=intervals[1:] or intervals[:1]),
    )


def fetch_media(message_id: int) -> dict[str, int]:
    """Download a stored message's MMS or WhatsApp media into attachments (chatpad/pipeline/media.py); raises on a
    passing failure so RQ retries with backoff."""
    from chatpad.pipeline.media import fetch_media as fetch

    with app_context(expire_on_commit=False):
        return fetch(message_id)
