"""Retention: each organization may choose to keep conversations only N days (Organization.retention_days).

A conversation whose last message is older than N days is deleted with everything hanging off it, exactly as an
erasure deletes it (chatpad.privacy.erase.delete_conversations): messages, attachments and their files, ratings,
notifications, raw webhook copies; anonymous per-day counts stay for analytics. Contacts stay: they are the
customer record, and a customer writing again finds the team knowing their name (erase one to remove them too).

The scheduler runs run_retention() daily (jobs/privacy.py). Deletion goes in batches, each its own transaction, so a
first run over years of history never holds a long lock; a run that reaches its time budget hands over to a
follow-up job. Every run of every organization with a retention period is written to the audit log, with counts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Conversation, Organization, utcnow

from .erase import ErasureSummary, delete_conversations, remove_files

log = logging.getLogger("chatpad.privacy.retention")

MAX_RETENTION_DAYS = 3650


@dataclass
class RetentionResult:
    """One organization's run: what was deleted, and whether more is due (the time budget ran out)."""

    organization_id: int
    days: int
    cutoff: datetime
    deleted: ErasureSummary = field(default_factory=ErasureSummary)
    more: bool = False


def expired_conversations(org: Organization, now: datetime | None = None):
    """The query of this organization's conversations past its retention period (none without one)."""
    if not org.retention_days:
        return None
    cutoff = (now or utcnow()) - timedelta(days=org.retention_days)
    return select(Conversation.id).where(Conversation.organization_id == org.id, Conversation.last_message_at < cutoff)


def apply_retention(
    org: Organization,
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    deadline: float | None = None,
    audit: bool = True,
) -> RetentionResult | None:
    """Delete one organization's expired conversations in batches; None when it keeps conversations forever.

    deadline: a time.monotonic() value after which no further batch starts (result.more then says work is left).
    """
    if not org.retention_days:
        return None
    now = now or utcnow()
    batch_size = batch_size or current_app.config.get("RETENTION_BATCH_SIZE", 200)
    result = RetentionResult(org.id, org.retention_days, now - timedelta(days=org.retention_days))
    query = expired_conversations(org, now)
    while True:
        ids = list(db.session.scalars(query.order_by(Conversation.last_message_at).limit(batch_size)))
        if not ids:
            break
        part = delete_conversations(org.id, ids, reason="retention")
        db.session.commit()
        part.files = remove_files(part.pending_files)
        result.deleted.add(part)
        # At least one batch per run, so a follow-up always makes progress however small the budget.
        if deadline is not None and time.monotonic() > deadline:
            result.more = db.session.scalar(query.limit(1)) is not None
            break
    if audit:
        record_audit(
            "privacy.retention_run",
            organization_id=org.id,
            target=org,
            detail={
                "retention_days": org.retention_days,
                "cutoff": result.cutoff.isoformat(),
                "finished": not result.more,
                **result.deleted.counts(),
            },
        )
        db.session.commit()
    if result.deleted.conversations:
        log.info(
            "retention for organization %s (%s days): deleted %s",
            org.id,
            org.retention_days,
            result.deleted.counts(),
        )
    return result


def run_retention(*, now: datetime | None = None, budget_seconds: float | None = None) -> list[RetentionResult]:
    """Apply every organization's retention period. Returns one result per organization that has one; any with
    ``more`` set ran out of time (the job queues a follow-up)."""
    budget = budget_seconds if budget_seconds is not None else current_app.config.get("RETENTION_RUN_SECONDS", 480)
    deadline = time.monotonic() + budget
    results = []
    org_ids = list(
        db.session.scalars(
            select(Organization.id).where(Organization.retention_days.is_not(None)).order_by(Organization.id)
        )
    )
    for org_id in org_ids:
        org = db.session.get(Organization, org_id)
        if org is None:
            continue
        result = apply_retention(org, now=now, deadline=deadline)
        if result is not None:
            results.append(result)
    return results
