"""Privacy jobs: retention runs, Meta's data deletion requests, and the sweep that keeps both moving.

The scheduler (jobs/scheduler.py) runs run_retention daily and sweep every ten minutes; the callback view queues
process_deletion_request as soon as Meta's request is recorded.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from chatpad.extensions import db
from chatpad.models import DataDeletionRequest, WebhookEvent, utcnow
from chatpad.queue import enqueue, job_id
from jobs import app_context

log = logging.getLogger("chatpad.jobs.privacy")

STUCK_AFTER = timedelta(minutes=10)  # a deletion request not carried out after this is queued again


def run_retention() -> dict[str, int]:
    """Delete every organization's conversations past its retention period; audited per organization. When the
    run's time budget (RETENTION_RUN_SECONDS) runs out, a follow-up run is queued at once."""
    from chatpad.privacy import run_retention as apply_all

    with app_context():
        results = apply_all()
        totals = {
            "organizations": len(results),
            "conversations": sum(r.deleted.conversations for r in results),
            "messages": sum(r.deleted.messages for r in results),
        }
        if any(r.more for r in results):
            enqueue("default", "jobs.privacy.run_retention")
            totals["continued"] = 1
        return totals


def process_deletion_request(request_id: int) -> dict[str, int]:
    """Carry out one of Meta's data deletion requests (chatpad.privacy.meta.carry_out). Idempotent; a failure is
    recorded on the request (its status page says so) and raised so RQ retries."""
    from chatpad.privacy.meta import carry_out

    with app_context():
        try:
            request = carry_out(request_id)
        except Exception as exc:
            db.session.rollback()
            row = db.session.get(DataDeletionRequest, request_id)
            if row is not None:
                row.status, row.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
                db.session.commit()
            raise
        return dict(request.result or {}) if request is not None else {}


def sweep() -> dict[str, int]:
    """Queue deletion requests that were never carried out (Redis was down, a worker died), and delete raw webhook
    deliveries older than WEBHOOK_EVENT_RETENTION_DAYS (they exist for replay; the messages are stored)."""
    with app_context():
        now = utcnow()
        stuck = list(
            db.session.scalars(
                select(DataDeletionRequest.id).where(
                    DataDeletionRequest.status.in_(("received", "failed")),
                    DataDeletionRequest.created_at < now - STUCK_AFTER,
                )
            )
        )
        for request_id in stuck:
            enqueue(
                "default",
                "jobs.privacy.process_deletion_request",
                request_id,
                job_id=job_id("deletion", request_id, int(now.timestamp())),
            )
        days = current_app.config.get("WEBHOOK_EVENT_RETENTION_DAYS", 30)
        purged = 0
        if days:
            purged = (
                db.session.execute(
                    delete(WebhookEvent).where(
                        WebhookEvent.status != "pending", WebhookEvent.received_at < now - timedelta(days=days)
                    )
                ).rowcount
                or 0
            )
            db.session.commit()
        if stuck or purged:
            log.info(
                "privacy sweep: %s deletion request(s) queued again, %s raw webhook event(s) purged", len(stuck), purged
            )
        return {"requeued": len(stuck), "purged_events": purged}
