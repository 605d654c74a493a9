"""Handoff topics (issue 18): what the admin listed per agent and location always goes to a person, with the topic
that caused it; both providers honour the list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import Agent, Location
from tests.ai.test_languages import ask  # noqa: F401  (fixture)
from tests.ai.test_openai_client import KEY

FORGE = D.LOCATIONS[0]


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("I was charged twice for lot rent this month", "billing dispute"),
        ("you guys overcharged me on my water bill", "billing dispute"),
        ("Me cobraron dos veces la renta del lote este mes", "billing dispute"),
        ("my lawyer says the eviction notice is not valid", "legal"),
        ("necesito hablar de una demanda con el abogado", "legal"),
    ],
)
def test_a_handoff_topic_goes_to_a_person_not_to_the_knowledge(ask, question, topic):  # noqa: F811
    reply, _ = ask(question)
    assert reply.handoff is True, reply.text
    assert reply.extra["handoff_topic"] == topic
    assert reply.extra["handoff_reason"] == f"Handoff topic: {topic}"
    assert f"${FORGE.lot_rent}/month" not in reply.text


def test_a_spanish_topic_handoff_is_said_in_spanish(ask):  # noqa: F811
    reply, _ = ask("Me cobraron dos veces la renta del lote este mes")
    assert reply.text.startswith("Gracias por avisarnos."), reply.text


def test_a_locations_own_topic_with_its_words(ask, db):  # noqa: F811
    forge = db.session.scalar(select(Location).where(Location.name == FORGE.name))
    forge.handoff_topics = [{"name": "rent increase", "keywords": ["rent going up", "aumento de renta"]}]
    db.session.commit()
    reply, _ = ask("is my rent going up next year?")
    assert reply.handoff is True and reply.extra["handoff_topic"] == "rent increase"
    # Another location of the same agent does not have it.
    reply, _ = ask("is my rent going up next year?", account="Magnolia Springs Community")
    assert reply.extra.get("handoff_topic") is None


def test_without_the_topic_the_knowledge_answers(ask, db):  # noqa: F811
    agent = db.session.scalar(select(Agent).where(Agent.name == D.AGENT_NAME))
    agent.handoff_topics = []
    db.session.commit()
    reply, _ = ask("I was charged twice for lot rent this month")
    assert reply.extra.get("handoff_topic") is None


def test_the_openai_compatible_provider_gets_the_list_and_hands_off_with_the_topic(ai_config, standin, ask):  # noqa: F811
    ai_config(AI_PROVIDER="openai", AI_BASE_URL=standin.base_url, AI_API_KEY=KEY, AI_API_VERSION=None)
    standin.control(handoff_topic="Billing Dispute")
    reply, _ = ask("I was charged twice for lot rent this month")
    system = standin.requests()[0]["body"]["messages"][0]["content"]
    assert "Handoff topics: a message about any of these always goes to a team member" in system
    assert "- billing dispute\n- legal\n- emergency" in system
    assert '"handoff_topic": null' in system
    assert reply.handoff is True
    assert reply.extra["handoff_topic"] == "billing dispute"  # the list's own spelling
