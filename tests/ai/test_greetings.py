"""Greetings instead of handoffs: a first contact without a question (Get Started, an icebreaker the knowledge cannot
answer, an empty or emoji-only message, "hi", "hola") is greeted by name and community with what the AI can do."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.ai import compose_reply
from chatpad.models import SocialAccount
from tests.ai.test_offline import MONDAY_9AM_CHICAGO

FORGE = D.LOCATIONS[0]
HELLO = "I'm the MHP Communities Assistant for Forge at the Lake"


@pytest.fixture
def first(demo, talk, db):
    """The AI's answer to a new customer's first message on a demo account."""

    def first_(text: str, *, account: str = "Forge Lake Community", **kw):
        page = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == account))
        conversation = talk.conversation(page)
        talk.say(conversation, text, **kw)
        return compose_reply(conversation, now=MONDAY_9AM_CHICAGO)

    return first_


@pytest.mark.parametrize("text", ["hi", "Hello!", "hey there", "good morning", "", "👋", "🙂🙂"])
def test_a_hello_without_a_question_is_greeted(first, text):
    reply = first(text)
    assert HELLO in reply.text, reply.text
    assert reply.handoff is False
    assert [q.title for q in reply.quick_replies][:2] == ["Available homes", "Office hours"]


def test_get_started_postback_is_greeted(first):
    meta = {"postback": {"title": "Get Started", "payload": "GET_STARTED"}, "get_started": True}
    reply = first("Get Started", meta=meta)
    assert reply.text.startswith(f"Hi Jamie! {HELLO}.")
    assert reply.handoff is False and reply.quick_replies


def test_an_icebreaker_the_knowledge_answers_is_answered_after_a_greeting(first):
    meta = {"postback": {"title": "Do you allow pets?", "payload": "IB_PETS"}}
    reply = first("Do you allow pets?", account="@forgelakemhp", meta=meta)
    assert HELLO in reply.text and D.AGENT_FAQS[0]["body"] in reply.text
    assert reply.handoff is False


def test_an_icebreaker_the_knowledge_cannot_answer_is_greeted_not_handed_off(first):
    meta = {"postback": {"title": "Tell me more", "payload": "IB_MORE"}}
    reply = first("Tell me more", account="@forgelakemhp", meta=meta)
    assert HELLO in reply.text
    assert reply.handoff is False


def test_an_emergency_on_first_contact_still_goes_to_a_person(first):
    reply = first("hi, water is pouring from my ceiling, it's an emergency")
    assert reply.handoff is True


def test_the_general_inbox_greeting_says_who_answers(first):
    reply = first("hi", account="info@mhpcommunities.com")
    assert "I'm the MHP Communities Assistant" in reply.text and "20 communities" in reply.text
