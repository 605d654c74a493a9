"""The shared pipeline's outbound rules: parts in order, windows, retries, dead tokens, crash recovery."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from chatpad.messages import OutboundReply
from chatpad.models import Conversation, Message, Notification, SocialAccount, WebhookEvent, utcnow
from chatpad.pipeline import ReplyRefusedError, queue_reply, resume_account
from chatpad.pipeline.replies import clear_reply_pending
from chatpad.queue import get_queue
from tests.plugins.loopback import fail_next, sent_messages

from .test_ingest import deliver, msg

LONG = (
    "Lot 14 is a 2019 Clayton with three bedrooms and two baths. It is still available. "
    "Would you like to book a tour this week?"
)


@pytest.fixture
def chat(app, db, make):
    """A loopback account with one customer conversation, the AI's reply job cleared."""
    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1", account_name="Loop Page")
    (result,) = deliver(app, "loop-1", msg("c1", "Is lot 14 available?"))
    with app.app_context():
        get_queue("ai").empty()
        clear_reply_pending(result.conversation_id)
    biz.conversation = db.session.get(Conversation, result.conversation_id)
    return biz


def outbound(db):
    return db.session.scalars(select(Message).where(Message.direction == "outbound").order_by(Message.id)).all()


def test_a_long_reply_goes_out_in_parts_in_order(db, chat, workers):
    rows = queue_reply(chat.conversation, OutboundReply(LONG, sender_type="human"), user=chat.user)
    assert len(rows) >= 3 and all(r.status == "pending" for r in rows)
    workers.run("outbound")
    sent = sent_messages()
    assert [s["text"] for s in sent] == [r.content for r in rows]
    assert all(s["to"] == "cust-1" and s["account"] == "loop-1" for s in sent)
    db.session.expire_all()
    assert [m.status for m in outbound(db)] == ["sent"] * len(rows)
    assert [m.external_id for m in outbound(db)] == [s["mid"] for s in sent]


def test_the_same_reply_key_sends_once(db, chat, workers):
    first = queue_reply(chat.conversation, OutboundReply("Hello"), idempotency_key="ai-test-1")
    again = queue_reply(chat.conversation, OutboundReply("Hello"), idempotency_key="ai-test-1")
    assert [m.id for m in first] == [m.id for m in again]
    workers.run("outbound")
    assert len(sent_messages()) == 1


def test_outside_the_window_the_ai_is_silent_and_a_person_is_told_why(db, chat, workers):
    chat.conversation.last_inbound_at = utcnow() - timedelta(hours=30)
    db.session.commit()
    (skipped,) = queue_reply(chat.conversation, OutboundReply("Following up!"))
    assert skipped.status == "skipped" and skipped.error == "Outside the 24-hour window"
    (human,) = queue_reply(chat.conversation, OutboundReply("Sorry for the wait!", sender_type="human"), user=chat.user)
    assert human.status == "pending"
    chat.conversation.last_inbound_at = utcnow() - timedelta(days=8)
    db.session.commit()
    with pytest.raises(ReplyRefusedError, match="7-day"):
        queue_reply(chat.conversation, OutboundReply("Hi again", sender_type="human"), user=chat.user)
    workers.run("outbound")
    # Checked again at send time: the week passed while it waited, so the person's reply is not sent either.
    assert sent_messages() == []
    db.session.expire_all()
    assert db.session.get(Message, human.id).error == "Outside the 7-day window"


def test_a_transient_failure_is_retried_with_backoff(db, chat, workers):
    fail_next("transient", "transient")
    (row,) = queue_reply(chat.conversation, OutboundReply("Hello"))
    workers.run("outbound")
    db.session.expire_all()
    waiting = db.session.get(Message, row.id)
    assert waiting.status == "pending" and waiting.error.startswith("Retrying (attempt 2 of 8): HTTP 503")
    assert workers.scheduled("outbound") == 1  # not sent again at once: backoff
    workers.run("outbound", fast_forward=True)
    db.session.expire_all()
    assert db.session.get(Message, row.id).status == "sent"
    assert len(sent_messages()) == 1


def test_a_permanent_failure_is_shown_with_the_platforms_reason(db, chat, workers):
    fail_next("permanent")
    (row,) = queue_reply(chat.conversation, OutboundReply("Hello"))
    workers.run("outbound", fast_forward=True)
    db.session.expire_all()
    failed = db.session.get(Message, row.id)
    assert failed.status == "failed" and failed.error == "(#100) Invalid parameter"
    assert workers.scheduled("outbound") == 0


def test_a_dead_token_marks_the_account_keeps_the_message_and_resumes_after_reconnection(db, chat, workers):
    fail_next("auth")
    (row,) = queue_reply(chat.conversation, OutboundReply("Hello"))
    (second,) = queue_reply(chat.conversation, OutboundReply("Anything else?"))
    workers.run("outbound", fast_forward=True)
    db.session.expire_all()
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == "loop-1"))
    assert account.status == "needs_reauth" and "session has expired" in account.last_error
    assert {m.status for m in outbound(db)} == {"pending"}
    assert workers.scheduled("outbound") == 0 and sent_messages() == []  # no retry storm
    notices = db.session.scalars(select(Notification).where(Notification.kind == "account_needs_reauth")).all()
    assert len(notices) == 1 and "Loop Page" in notices[0].title

    account.mark_healthy()
    db.session.commit()
    assert resume_account(account) == 2
    workers.run("outbound")
    assert [s["text"] for s in sent_messages()] == ["Hello", "Anything else?"]


def test_rate_limits_pause_the_account(db, chat, workers):
    fail_next("ratelimit")
    queue_reply(chat.conversation, OutboundReply("One"))
    queue_reply(chat.conversation, OutboundReply("Two"))
    workers.run("outbound")
    assert sent_messages() == []  # the second waits too: the account is paused, not just the message
    assert workers.scheduled("outbound") == 2
    time.sleep(0.3)  # Retry-After was 0.2 s
    workers.run("outbound", fast_forward=True)
    assert sorted(s["text"] for s in sent_messages()) == ["One", "Two"]


def test_deliveries_and_reads_move_status_forward_only(app, db, chat, workers):
    (row,) = queue_reply(chat.conversation, OutboundReply("Hello"))
    workers.run("outbound")
    mid = sent_messages()[0]["mid"]
    deliver(app, "loop-1", {"kind": "delivery", "sender": "cust-1", "target": mid})
    db.session.expire_all()
    assert db.session.get(Message, row.id).status == "delivered"


def test_the_sweeper_finishes_what_a_crash_left(app, db, chat, workers):
    """An event stored but never queued (Redis was down), a send claimed by a worker that died, and a customer
    message the AI never got to: the sweeper finds each in the database and queues it again."""
    from jobs.housekeeping import sweep

    old = utcnow() - timedelta(minutes=10)
    event = WebhookEvent(channel="loopback", body=b'{"account": "loop-1", "events": []}', received_at=old)
    (row,) = queue_reply(chat.conversation, OutboundReply("Hello"))
    with app.app_context():
        get_queue("outbound").empty()
    db.session.add(event)
    claimed = db.session.get(Message, row.id)
    claimed.status, claimed.sent_at = "sending", old
    conversation = db.session.get(Conversation, chat.conversation.id)
    conversation.last_inbound_at = old
    db.session.query(Message).filter(Message.direction == "inbound").update({"created_at": old})
    db.session.query(Message).filter(Message.direction == "outbound").update({"created_at": old - timedelta(minutes=5)})
    db.session.commit()

    counts = sweep()
    assert counts["events"] == 1 and counts["claims"] == 1 and counts["pending"] == 1 and counts["replies"] == 1
    assert workers.queued("inbound") == 1 and workers.queued("outbound") == 1 and workers.queued("ai") == 1
    workers.run("outbound", "inbound")
    db.session.expire_all()
    assert db.session.get(Message, row.id).status == "sent"
    assert db.session.get(WebhookEvent, event.id).status == "ignored"
    # Nothing is queued twice: the reply is already on its way.
    assert sweep() == {
        "abandoned": 0,
        "overdue": 0,
        "events": 0,
        "claims": 0,
        "pending": 0,
        "replies": 0,
        "handed_back": 0,
    }
