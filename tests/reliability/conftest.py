"""Fixtures and checks shared by the fault tests: a business on the demo's Forge Lake Page, and ways to ask whether
the pipeline has settled and what Meta (the sandbox) really received."""

from __future__ import annotations

from collections import Counter

import pytest
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from chatpad.models import Conversation, Message, WebhookEvent
from chatpad.queue import get_queue


@pytest.fixture
def forge(make, meta_sandbox):
    """A business whose location owns the demo's Forge Lake Community Page (sandbox Page token)."""
    business = make.business()
    page_id = meta_sandbox.page_id(0)
    business.account.account_id = page_id
    business.account.account_name = "Forge Lake Community"
    business.account.access_token = meta_sandbox.page_token(page_id)
    make.db.session.commit()
    business.page_id = page_id
    return business


def sends_by_recipient(meta_sandbox) -> Counter:
    """How many messages Meta accepted for each recipient PSID — what customers really received."""
    return Counter(r["json"]["recipient"]["id"] for r in meta_sandbox.accepted())


def sends_by_message(meta_sandbox) -> Counter:
    """Accepted sends per outbound message (each send is tagged chatpad:<message id>)."""
    return Counter(r["json"]["message"].get("metadata") for r in meta_sandbox.accepted())


def duplicate_sends(meta_sandbox) -> int:
    """Sends beyond the first of the same outbound message: what a customer would see twice."""
    return sum(n - 1 for n in sends_by_message(meta_sandbox).values() if n > 1)


def queues_idle(app, redis=None) -> bool:
    """Nothing queued, running or scheduled on the pipeline's queues."""
    with app.app_context():
        for name in ("inbound", "ai", "outbound"):
            queue = get_queue(name) if redis is None else _queue_on(name, redis)
            if queue.count or len(StartedJobRegistry(queue=queue)) or len(ScheduledJobRegistry(queue=queue)):
                return False
    return True


def _queue_on(name, redis):
    from rq import Queue

    return Queue(name, connection=redis)


def db_counts(db) -> dict:
    """What the database holds, by kind: inbound messages, AI replies by status, events by status."""
    db.session.expire_all()
    session = db.session
    return {
        "inbound": session.scalar(select(func.count()).select_from(Message).where(Message.direction == "inbound")),
        "conversations": session.scalar(select(func.count()).select_from(Conversation)),
        "replies": dict(
            session.execute(
                select(Message.status, func.count())
                .where(Message.direction == "outbound", Message.sender_type == "ai")
                .group_by(Message.status)
            ).all()
        ),
        "events": dict(session.execute(select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)).all()),
        # Why a reply failed or was skipped, so a failing run says it.
        "reasons": sorted(
            set(
                session.scalars(
                    select(Message.error).where(
                        Message.direction == "outbound", Message.status.in_(("failed", "skipped"))
                    )
                )
            ),
            key=str,
        ),
    }


def unanswered(db) -> list[str]:
    """Conversations whose customer has had no AI reply sent (or delivered) since their last message."""
    db.session.expire_all()
    out = []
    for conversation in db.session.scalars(select(Conversation)):
        last_in = db.session.scalar(
            select(func.max(Message.created_at)).where(
                Message.conversation_id == conversation.id, Message.direction == "inbound"
            )
        )
        answered = db.session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == "outbound",
                Message.status.in_(("sent", "delivered", "read")),
                Message.created_at >= last_in,
            )
        )
        if not answered:
            out.append(conversation.thread_key)
    return out
