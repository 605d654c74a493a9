"""Inbound jobs: a stored webhook event → parsed events → the pipeline."""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import Retry
from sqlalchemy import func, update

from chatpad.channels import get_channel
from chatpad.channels.errors import AnomalousPayloadError, UnsupportedEventError
from chatpad.extensions import db
from chatpad.models import WebhookEvent, utcnow
from chatpad.pipeline import ingest
from chatpad.queue import INBOUND_RETRY, get_queue, job_id
from jobs import app_context

log = logging.getLogger("chatpad.jobs.inbound")
unsupported_log = logging.getLogger("chatpad.webhooks.unsupported")

MAX_EVENT_ATTEMPTS = 5


def process_event(event_id: int) -> dict[str, int]:
    """Parse a stored webhook event with its channel's adapter and ingest every event in it.

    Idempotent: ingest dedupes by platform message id, so a retry after a crash re-ingests harmlessly. A failure
    raises (RQ retries with backoff); after MAX_EVENT_ATTEMPTS the event is marked failed with the error so an admin
    can see and replay it.
    """
    with app_context(expire_on_commit=False):
        return _process(event_id)


def process_events(event_ids: list[int]) -> dict[str, int]:
    """Several stored events in one job, in order (the dispatcher hands a worker what it popped together, so a busy
    moment pays RQ's per-job cost once per batch, not once per event). Each event is its own transaction, exactly as
    in process_event. One that fails on a passing fault does not hold up the rest: it is re-queued alone, after the
    first backoff interval, as the process_event job the sweeper knows it by, with the retries that remain.
    """
    totals: dict[str, int] = {}
    with app_context(expire_on_commit=False):
        for event_id in event_ids:
            try:
                counts = _process(event_id)
            except Exception:  # marked pending with the error by _process; retried on its own
                log.warning("event %s failed in a batch; retrying it alone", event_id, exc_info=True)
                _retry_alone(event_id)
                totals["retried"] = totals.get("retried", 0) + 1
                continue
            for status, n in counts.items():
                totals[status] = totals.get(status, 0) + n
    return totals


def _retry_alone(event_id: int) -> None:
    intervals = list(INBOUND_RETRY.intervals)
    get_queue("inbound").enqueue_in(
        timedelta(seconds=intervals[0]),
        "jobs.inbound.process_event",
        event_id,
        job_id=job_id("event", event_id),
        retry=Retry(max=INBOUND_RETRY.max - 1, interval=intervals[1:] or intervals[:1]),
    )


def _process(event_id: int) -> dict[str, int]:
    # Rows loaded for an earlier event of the batch are read afresh (the session does not expire them on commit).
    db.session.expire_all()
    # Count the attempt and read the event in one statement (no ORM object to reload after each commit).
    event = db.session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.status.notin_(("processed", "ignored")))
        .values(attempts=func.coalesce(WebhookEvent.attempts, 0) + 1)
        .returning(WebhookEvent.channel, WebhookEvent.body, WebhookEvent.attempts)
    ).first()
    db.session.commit()
    if event is None:  # unknown, or already done
        return {}
    counts: dict[str, int] = {}
    try:
        parsed = get_channel(event.channel).parse(event.body)
        for item in parsed:
            result = ingest(item, raw_event_id=event_id)
            counts[result.status] = counts.get(result.status, 0) + 1
    except AnomalousPayloadError as exc:
        db.session.rollback()
        _finish(event_id, "failed", f"unreadable payload: {exc}")
        return counts
    except UnsupportedEventError as exc:  # well formed, not something ChatPad handles: done, not retried
        db.session.rollback()
        unsupported_log.info("%s event %s not handled: %s", event.channel, event_id, exc)
        _finish(event_id, "ignored", None)
        return counts
    except Exception as exc:
        db.session.rollback()
        if event.attempts >= MAX_EVENT_ATTEMPTS:
            _finish(event_id, "failed", f"{type(exc).__name__}: {exc}")
            log.exception("event %s failed for good after %s attempts", event_id, event.attempts)
            return counts
        _finish(event_id, "pending", f"{type(exc).__name__}: {exc}")
        raise
    useful = counts.get("stored", 0) + counts.get("updated", 0)
    _finish(event_id, "processed" if useful or counts.get("duplicate") else "ignored", None)
    log.info("event %s (%s): %s", event_id, event.channel, counts)
    return counts


def _finish(event_id: int, status: str, error: str | None) -> None:
    values: dict = {"status": status, "error": error}
    if status != "pending":
        values["processed_at"] = utcnow()
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))
    db.session.commit()
