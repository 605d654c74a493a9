"""Through the real pipeline (loopback channel): the inbox shows the language each customer message was written in
and the AI answered in, and which handoff topic sent a conversation to a person (issue 18)."""

from __future__ import annotations

from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import Conversation, Message
from tests.ai.test_replies import forge_loop  # noqa: F401  (fixture)
from tests.conftest import login
from tests.pipeline.test_ingest import deliver, msg


def _page(client, conversation_id) -> str:
    login(client, D.ADMIN_EMAIL, D.ADMIN_PASSWORD)
    response = client.get(f"/admin/inbox/c/{conversation_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_inbox_shows_the_language_of_a_spanish_conversation(app, db, client, forge_loop, workers):  # noqa: F811
    (result,) = deliver(app, "loop-forge", msg("q1", "¿Tienen casas de 3 habitaciones disponibles?"))
    workers.run("ai", "outbound")
    db.session.expire_all()
    rows = db.session.scalars(
        select(Message).where(Message.conversation_id == result.conversation_id).order_by(Message.id)
    ).all()
    assert (rows[0].sender_type, rows[0].language) == ("contact", "es")
    assert {(m.sender_type, m.language) for m in rows[1:]} == {("ai", "es")}  # the answer, in parts
    html = _page(client, result.conversation_id)
    assert 'title="Written in Spanish (detected)">Spanish</span>' in html
    assert 'title="Answered in Spanish (detected)">Spanish</span>' in html


def test_a_billing_dispute_is_handed_off_with_its_topic_shown_in_the_inbox(app, db, client, forge_loop, workers):  # noqa: F811
    (result,) = deliver(app, "loop-forge", msg("q1", "I was charged twice for lot rent this month"))
    workers.run("ai", "outbound")
    db.session.expire_all()
    conversation = db.session.get(Conversation, result.conversation_id)
    assert conversation.human_takeover is True
    said = " ".join(
        m.content
        for m in db.session.scalars(
            select(Message).where(Message.conversation_id == conversation.id, Message.sender_type == "ai")
        )
    )
    assert f"${D.LOCATIONS[0].lot_rent}/month" not in said  # not the lot rent answer
    note = db.session.scalar(
        select(Message).where(Message.conversation_id == conversation.id, Message.sender_type == "system")
    )
    assert note.meta["handoff_topic"] == "billing dispute"
    assert note.content == "Handed to a person (billing dispute): Handoff topic: billing dispute"
    html = _page(client, conversation.id)
    assert '<span class="badge badge-warning handoff-topic"' in html and "Topic: billing dispute</span>" in html
