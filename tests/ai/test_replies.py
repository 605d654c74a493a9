"""The AI inside the real pipeline: a customer's message in, the AI's answer out through the channel, and a person
brought in when the AI asks for one or fails. Through the loopback channel (tests/plugins/loopback.py)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import delete, select, update

from chatpad import demo_data as D
from chatpad.models import Conversation, Location, Message, Notification, SocialAccount
from tests.pipeline.test_ingest import deliver, msg
from tests.plugins.loopback import fail_next, sent_messages

FORGE = next(loc for loc in D.LOCATIONS if loc.slug == "forge-at-the-lake")


@pytest.fixture
def forge_loop(demo, make, db):
    """A loopback account for the demo's Forge at the Lake community."""
    from chatpad.models import Agent

    forge = db.session.scalar(select(Location).where(Location.name == FORGE.name))
    agent = db.session.get(Agent, forge.agent_id)
    return make.account(agent, "loopback", forge, account_id="loop-forge", account_name="Forge Loop")


def _conversation(db, result) -> Conversation:
    db.session.expire_all()
    return db.session.get(Conversation, result.conversation_id)


def _ai_replies(db, conversation_id) -> list[Message]:
    """The AI's messages in a conversation, read afresh, in order."""
    db.session.expire_all()
    query = select(Message).where(Message.conversation_id == conversation_id, Message.sender_type == "ai")
    return db.session.scalars(query.order_by(Message.id)).all()


def _said(db, conversation) -> str:
    rows = db.session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.direction == "outbound")
    ).all()
    return " ".join(m.content for m in rows)


def test_a_question_is_answered_from_the_communitys_knowledge(app, db, forge_loop, workers):
    """A customer asks about lot rent; the offline AI's answer is stored as the AI's and sent from the same account."""
    (result,) = deliver(app, "loop-forge", msg("q1", "How much is lot rent?"))
    workers.run("ai", "outbound")

    conversation = _conversation(db, result)
    said = _said(db, conversation)
    assert f"${FORGE.lot_rent}/month" in said
    sent = sent_messages()
    assert sent and all(s["account"] == "loop-forge" and s["to"] == "cust-1" for s in sent)
    assert " ".join(s["text"] for s in sent) == said
    ai_rows = db.session.scalars(select(Message).where(Message.sender_type == "ai")).all()
    assert ai_rows and all(m.status == "sent" for m in ai_rows)
    assert conversation.human_takeover is False


def test_asking_for_a_person_hands_the_conversation_over(app, db, forge_loop, workers):
    """'Can I talk to a person?' takes the conversation over for the team, who are notified, and the customer is
    told someone is coming."""
    (result,) = deliver(app, "loop-forge", msg("q2", "can I talk to a real person?"))
    workers.run("ai", "outbound")

    conversation = _conversation(db, result)
    assert conversation.human_takeover is True
    assert "bringing in a member of the Forge at the Lake team" in _said(db, conversation)
    assert db.session.scalar(select(Notification).where(Notification.conversation_id == conversation.id))


def test_a_failing_model_is_retried_then_a_person_takes_over(app, db, forge_loop, workers, ai_config, standin):
    """When the model keeps failing, the reply job retries and finally hands off: the customer hears from the team,
    not silence, and the reason is recorded."""
    ai_config(AI_PROVIDER="openai", AI_BASE_URL=standin.base_url, AI_API_KEY="sk-x", AI_MAX_RETRIES=0)
    standin.control(fail={"status": 500})
    (result,) = deliver(app, "loop-forge", msg("q3", "Is lot 14 available?"))
    workers.run("ai", "outbound", fast_forward=True)

    conversation = _conversation(db, result)
    assert len(standin.requests()) == 4  # the job's first run and its 3 retries, one call each
    assert conversation.human_takeover is True
    assert "A member of our team will get back to you shortly." in _said(db, conversation)


def test_a_permanent_ai_error_hands_off_without_waiting_for_retries(app, db, forge_loop, workers, ai_config, standin):
    """A wrong API key cannot fix itself: the first failure hands off."""
    ai_config(AI_PROVIDER="openai", AI_BASE_URL=standin.base_url, AI_API_KEY="sk-wrong")
    standin.control(api_key="sk-right")
    (result,) = deliver(app, "loop-forge", msg("q4", "hello"))
    workers.run("ai", "outbound")

    assert len(standin.requests()) == 1
    assert _conversation(db, result).human_takeover is True


def test_the_ai_job_sends_its_reply_and_leaves_a_failed_send_to_the_outbound_queue(app, db, forge_loop, workers):
    """The AI job sends the reply it composed itself, with no outbound job; when the platform fails, the retry with
    backoff is the outbound queue's, and the reply goes out once."""
    (first,) = deliver(app, "loop-forge", msg("s1", "How much is lot rent?"))
    workers.run("ai")  # the ai queue only: the reply is sent by the AI job
    assert len(sent_messages()) >= 1 and workers.queued("outbound") == 0

    with app.app_context():
        fail_next("transient")
    (second,) = deliver(app, "loop-forge", msg("s2", "And what are your office hours?", sender="cust-2"))
    sent_before = len(sent_messages())
    workers.run("ai")
    assert len(sent_messages()) == sent_before and workers.scheduled("outbound") == 1  # retried later, not now
    workers.run("outbound", fast_forward=True)
    rows = _ai_replies(db, second.conversation_id)
    assert rows and all(m.status == "sent" for m in rows)
    assert len(sent_messages()) == sent_before + len(rows)


def test_a_crash_while_sending_does_not_lose_the_ai_reply(app, db, forge_loop, workers):
    """A bug in the sending code (not a platform error) does not fail the AI job or lose its reply: the part that was
    in flight stays claimed (its fate unknown), the parts after it wait rather than go out first, and after the claim
    grace the sweeper sends them all, in order (docs/reliability.md)."""
    from datetime import timedelta

    from chatpad.models import utcnow
    from jobs.housekeeping import sweep

    with app.app_context():
        fail_next("crash")
    (result,) = deliver(app, "loop-forge", msg("c1", "How much is lot rent? And do you allow pets?"))
    workers.run("ai")
    assert sent_messages() == [] and workers.queued("outbound") == 0

    def parts():
        return _ai_replies(db, result.conversation_id)

    stored = parts()
    assert len(stored) >= 2, "the answer must have several parts for this test to mean anything"
    assert stored[0].status == "sending" and all(m.status == "pending" for m in stored[1:])
    long_ago = utcnow() - timedelta(minutes=10)
    for m in stored:
        m.created_at = long_ago
        m.sent_at = long_ago if m.status == "sending" else None
    db.session.commit()
    assert sweep()["claims"] == 1
    workers.run("outbound")
    assert [m.status for m in parts()] == ["sent"] * len(stored)
    assert [s["text"] for s in sent_messages()] == [m.content for m in stored]


def test_when_this_process_is_busy_sending_the_outbound_queue_sends_the_reply(app, db, forge_loop, workers):
    """The AI job waits for the process's one-send lock only briefly: when another send holds it (a burst of
    replies), the reply goes to the outbound queue instead, and is sent from there, once and in order."""
    from chatpad.pipeline.replies import SENDING

    (result,) = deliver(app, "loop-forge", msg("busy-1", "How much is lot rent?"))
    assert SENDING.acquire(timeout=5)
    try:
        workers.run("ai")  # the job runs in this process: the lock is taken
    finally:
        SENDING.release()
    assert sent_messages() == [] and workers.queued("outbound") == 1
    workers.run("outbound")
    rows = _ai_replies(db, result.conversation_id)
    assert rows and all(m.status == "sent" for m in rows)
    assert [s["text"] for s in sent_messages()] == [m.content for m in rows]


MEANWHILE = [
    "the customer writes again",
    "a person takes over",
    "the account is disconnected",
    "the account is removed",
    "another run answered",
]


@pytest.mark.parametrize("meanwhile", MEANWHILE)
def test_what_changes_while_the_model_thinks_decides_what_is_sent(
    app, db, forge_loop, workers, ai_config, standin, meanwhile
):
    """The model takes a second; while it thinks, something changes. After it answers, the job reads that afresh
    (one statement) and the reply is dropped, or failed with the reason, instead of going out regardless."""
    ai_config(AI_PROVIDER="openai", AI_BASE_URL=standin.base_url, AI_API_KEY="sk-x", REPLY_DEBOUNCE_SECONDS=0)
    standin.control(latency=1.0)
    (result,) = deliver(app, "loop-forge", msg("think-1", "How much is lot rent?"))
    with app.app_context():
        first = db.session.scalar(select(Message).where(Message.conversation_id == result.conversation_id))
        key = f"ai:{result.conversation_id}:{first.id}:0"
        db.session.remove()

    def change() -> None:
        deadline = time.monotonic() + 10
        while not standin.requests() and time.monotonic() < deadline:
            time.sleep(0.02)
        with app.app_context():
            if meanwhile == "the customer writes again":
                deliver(app, "loop-forge", msg("think-2", "And are pets allowed?"))
            elif meanwhile == "a person takes over":
                db.session.execute(
                    update(Conversation).where(Conversation.id == result.conversation_id).values(human_takeover=True)
                )
            elif meanwhile == "the account is disconnected":
                disconnect = update(SocialAccount).where(SocialAccount.id == forge_loop.id).values(is_active=False)
                db.session.execute(disconnect)
            elif meanwhile == "the account is removed":  # its conversations stay, with no account
                db.session.execute(delete(SocialAccount).where(SocialAccount.id == forge_loop.id))
            else:
                db.session.add(
                    Message(
                        conversation_id=result.conversation_id,
                        channel="loopback",
                        channel_account_id=forge_loop.id,
                        direction="outbound",
                        sender_type="ai",
                        content="Answered by the other run.",
                        status="sent",
                        idempotency_key=key,
                    )
                )
            db.session.commit()
            db.session.remove()

    thread = threading.Thread(target=change)
    thread.start()
    workers.run("ai")
    thread.join()
    assert workers.scheduled("ai") == 0  # no job failed (a failed one waits for its retry)

    replies = _ai_replies(db, result.conversation_id)
    if meanwhile == "the customer writes again":
        # The first answer was dropped; the newer job answered both messages, once.
        assert len(standin.requests()) == 2
        assert all(not (m.idempotency_key or "").startswith(key[:-2]) for m in replies)
        assert replies and all(m.status == "sent" for m in replies)
        assert [s["text"] for s in sent_messages()] == [m.content for m in replies]
    elif meanwhile in ("a person takes over", "the account is removed"):
        assert replies == [] and sent_messages() == []
    elif meanwhile == "the account is disconnected":
        assert replies and all(m.status == "failed" for m in replies)
        assert replies[0].error == "The account was disconnected before this message was sent."
        assert sent_messages() == []
    else:
        assert [m.content for m in replies] == ["Answered by the other run."] and sent_messages() == []
