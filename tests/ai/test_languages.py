"""The customer's language (issue 18): detected, stored on the message, answered in when the location answers in it
(the offline provider in Spanish: its own texts and its matching; the OpenAI-compatible one is told), and handed
off politely in that language when the location does not."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.ai import compose_reply
from chatpad.ai.language import detect_language
from chatpad.models import Location, Message, SocialAccount
from tests.ai.test_offline import AVAILABLE, MONDAY_9AM_CHICAGO
from tests.ai.test_openai_client import KEY

FORGE = D.LOCATIONS[0]
PETS = D.AGENT_FAQS[0]["body"]


@pytest.fixture
def ask(demo, talk, db):
    """Ask as a new customer on a demo account; returns (reply, the customer's message)."""

    def ask_(text: str, *, account: str = "Forge Lake Community"):
        page = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == account))
        conversation = talk.conversation(page)
        message = talk.say(conversation, text)
        return compose_reply(conversation, now=MONDAY_9AM_CHICAGO), message

    return ask_


def _forge(db) -> Location:
    return db.session.scalar(select(Location).where(Location.name == FORGE.name))


def test_spanish_question_about_homes_is_answered_in_spanish_with_the_listings(ask, db):
    reply, message = ask("¿Tienen casas de 3 habitaciones disponibles?")
    assert reply.handoff is False, reply.text
    three = sorted((h for h in AVAILABLE if h["beds"] == 3), key=lambda h: h["price"])
    assert three, "the demo's Forge at the Lake has 3-bedroom homes"
    assert "disponibles en Forge at the Lake" in reply.text, reply.text
    for home in three[:5]:
        assert f"Lote {home['lot']}" in reply.text and f"${home['price']:,}" in reply.text
    assert "Here are" not in reply.text and "available" not in reply.text
    assert reply.extra["language"] == "es"
    db.session.expire_all()
    assert db.session.get(Message, message.id).language == "es"


def test_hola_is_greeted_in_spanish(ask):
    reply, _ = ask("hola")
    assert reply.text.startswith(
        "¡Hola Jamie! Soy MHP Communities Assistant, el asistente virtual de Forge at the Lake"
    )
    assert reply.handoff is False
    assert [q.title for q in reply.quick_replies] == [
        "Casas disponibles",
        "Horario",
        "Agendar visita",
        "Renta del lote",
    ]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("¿cuánto es la renta del lote?", f"${FORGE.lot_rent}/month"),
        ("horario de la oficina?", "Horario de la oficina esta semana"),
        ("¿cuál es la dirección?", "Forge at the Lake está en 4100 Lakeshore Dr, Conroe, TX 77356"),
        ("quiero agendar una visita", "Puede agendar una visita a Forge at the Lake aquí"),
    ],
)
def test_spanish_topics_are_understood(ask, question, expected):
    reply, _ = ask(question)
    assert expected in reply.text, reply.text
    assert reply.handoff is False


def test_knowledge_written_only_in_english_gets_a_spanish_lead_in(ask):
    reply, _ = ask("¿aceptan perros?")
    assert f"Esta información la tenemos en inglés: {PETS}" in reply.text, reply.text
    assert reply.handoff is False


def test_a_translation_written_by_the_admin_is_used(ask, db):
    from chatpad.models import KnowledgeItem

    item = db.session.scalar(select(KnowledgeItem).where(KnowledgeItem.title == D.AGENT_FAQS[0]["title"]))
    item.data = {**item.data, "translations": {"es": "Sí, se permiten hasta dos mascotas por casa."}}
    db.session.commit()
    reply, _ = ask("¿se permiten mascotas?")
    assert "Sí, se permiten hasta dos mascotas por casa." in reply.text and "inglés" not in reply.text


def test_a_language_the_location_does_not_answer_in_is_handed_off_politely_in_it(ask):
    reply, message = ask("Bonjour, avez-vous des maisons à vendre avec trois chambres ?")
    assert reply.handoff is True
    assert reply.text.startswith("Merci pour votre message")
    assert reply.extra["handoff_reason"] == "Wrote in French; this location answers in English, Spanish"
    assert reply.extra["language"] == "en"  # the answer is sent as the location's first language's message


def test_spanish_is_handed_off_where_the_location_answers_in_english_only(ask, db):
    _forge(db).languages = ["en"]
    db.session.commit()
    reply, _ = ask("¿Tienen casas de 3 habitaciones disponibles?")
    assert reply.handoff is True
    assert reply.text.startswith("¡Gracias por su mensaje!")


def test_the_openai_compatible_provider_is_told_the_language(ai_config, standin, ask):
    ai_config(AI_PROVIDER="openai", AI_BASE_URL=standin.base_url, AI_API_KEY=KEY, AI_API_VERSION=None)
    ask("¿Tienen casas de 3 habitaciones disponibles?")
    [received] = standin.requests()
    system = received["body"]["messages"][0]["content"]
    assert "The customer writes in Spanish. Answer in Spanish, the whole reply" in system


def test_short_messages_fall_back_to_what_the_customer_wrote_before():
    assert detect_language("ok", previous="es") == "es"
    assert detect_language("👍", default="en") == "en"
    assert detect_language("hola") == "es" and detect_language("hi") == "en"


def test_the_offline_ai_hands_off_a_language_it_cannot_write_even_where_the_location_answers_in_it(ask, db):
    _forge(db).languages = ["en", "es", "fr"]
    db.session.commit()
    reply, _ = ask("Bonjour, avez-vous des maisons à vendre avec trois chambres ?")
    assert reply.handoff is True and reply.text.startswith("Merci pour votre message")
    assert reply.extra["handoff_reason"] == "Wrote in French; the offline AI answers in English and Spanish only"
