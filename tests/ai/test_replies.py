"""The AI inside the real pipeline: a customer's message in, the AI's answer out through the channel, and a person
brought in when the AI asks for one or fails. Through the loopback channel (tests/plugins/loopback.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import Conversation, Location, Message, Notification
from tests.pipeline.test_ingest import deliver, msg
from tests.plugins.loopback import sent_messages

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
