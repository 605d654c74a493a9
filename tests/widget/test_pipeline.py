"""The widget through the shared pipeline with real burst workers: the AI answers with the location's context, a
handoff tells the visitor a person is coming, and a stored widget event replays through the inbound job."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from chatpad.channels.widget.adapter import build_envelope
from chatpad.lanes import enqueue_events
from chatpad.models import Conversation, Message, WebhookEvent
from chatpad.pipeline import take_over
from tests.plugins.widget import WidgetVisitor


def test_the_ai_answers_the_visitor_from_the_widget(visitor, widget, db, workers):
    """A visitor's question gets the AI's reply on the widget, named after the widget's title, delivered."""
    pytest.importorskip("chatpad.ai", reason="the AI (chatpad.ai) is merged separately")
    visitor.start()
    visitor.send("What are your office hours?")
    workers.run("ai", "outbound")
    history = visitor.get("messages").get_json()
    assert [m["from"] for m in history["messages"]][:2] == ["visitor", "ai"]
    reply = history["messages"][1]
    assert reply["text"] and reply["author"] == widget.location.name
    db.session.expire_all()
    stored = db.session.scalars(select(Message).where(Message.sender_type == "ai")).all()
    assert stored and all(m.status == "sent" and m.external_id.startswith("wo_") for m in stored)


def test_a_handoff_tells_the_visitor_a_person_is_coming_until_one_joins(visitor, widget, db):
    """The AI (or the pipeline) handing off shows "waiting"; a person taking over shows "joined"."""
    visitor.start()
    conversation_id = visitor.send("I need to talk to a person").get_json()["conversation"]["id"]
    conversation = db.session.get(Conversation, uuid.UUID(conversation_id))
    take_over(conversation, reason="The customer asked for a person")
    state = visitor.get("messages").get_json()["conversation"]
    assert state["waiting"] is True and state["human"] is False
    take_over(conversation, user=widget.user, reason="Picking it up")
    state = visitor.get("messages").get_json()["conversation"]
    assert state["human"] is True and state["waiting"] is False


def test_a_stored_widget_event_replays_through_the_inbound_job(client, widget, db, workers):
    """The queued path (used when the request could not ingest at once): the inbound worker stores the same message,
    and a replay of the same event stores nothing twice."""
    visitor = WidgetVisitor(client, widget.widget.account_id)
    session = visitor.start()
    body = build_envelope(
        widget_key=widget.widget.account_id,
        visitor_id=session["visitor"]["id"],
        client_id="queued-1",
        text="Sent while the database was busy",
    )
    events = [WebhookEvent(channel="widget", body=body), WebhookEvent(channel="widget", body=body)]
    db.session.add_all(events)
    db.session.commit()
    with workers.app.app_context():
        enqueue_events([e.id for e in events])
    workers.run("inbound")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert {e.status for e in db.session.scalars(select(WebhookEvent))} == {"processed"}
    texts = [m["text"] for m in visitor.get("messages").get_json()["messages"]]
    assert texts == ["Sent while the database was busy"]
