"""The shared pipeline's inbound rules, through the loopback channel (tests/plugins/loopback.py)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from chatpad.channels import get_channel
from chatpad.extensions import db as _db
from chatpad.models import Contact, ContactIdentity, Conversation, Message, Notification
from chatpad.pipeline import ingest, take_over
from chatpad.queue import get_queue


@pytest.fixture
def shop(make):
    biz = make.business()
    account = make.account(biz.agent, "loopback", biz.location, account_id="loop-1", account_name="Loop Page")
    biz.loop = account
    return biz


def deliver(app, account_id: str, *events: dict):
    body = json.dumps({"account": account_id, "events": list(events)}).encode()
    with app.app_context():
        results = [ingest(e) for e in get_channel("loopback").parse(body)]
        _db.session.remove()
        return results


def msg(mid: str, text: str = "Hi there", sender: str = "cust-1", **extra) -> dict:
    return {"kind": "message", "mid": mid, "text": text, "sender": sender, **extra}


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def ai_jobs(workers) -> int:
    return workers.queued("ai")


def test_a_message_is_routed_to_its_account_location_and_agent(app, db, shop, workers):
    (result,) = deliver(app, "loop-1", msg("m1", "Is lot 14 available?", name="Jane Doe"))
    assert result.status == "stored" and result.reply_wanted
    conversation = db.session.get(Conversation, result.conversation_id)
    assert conversation.social_account_id == shop.loop.id
    assert conversation.location_id == shop.location.id and conversation.agent_id == shop.agent.id
    assert conversation.contact.name == "Jane Doe"
    assert conversation.last_message_preview == "Is lot 14 available?" and conversation.unread_count == 1
    assert conversation.last_inbound_at is not None
    assert ai_jobs(workers) == 1


def test_repeated_delivery_stores_one_message_and_asks_for_one_reply(app, db, shop, workers):
    results = [deliver(app, "loop-1", msg("m-dup"))[0] for _ in range(10)]
    assert [r.status for r in results] == ["stored"] + ["duplicate"] * 9
    assert count(db, Message) == 1 and count(db, Contact) == 1 and count(db, Conversation) == 1
    assert ai_jobs(workers) == 1


def test_concurrent_delivery_stores_one_message(app, db, shop, workers):
    """Ten workers handling the same delivery at once: one message, one contact, one conversation, one reply."""
    barrier = threading.Barrier(10)
    statuses = []

    def worker():
        barrier.wait()
        statuses.append(deliver(app, "loop-1", msg("m-race", sender="cust-race"))[0].status)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["duplicate"] * 9 + ["stored"]
    assert count(db, Message) == 1 and count(db, ContactIdentity) == 1 and count(db, Conversation) == 1
    assert ai_jobs(workers) == 1


def test_a_burst_asks_for_one_reply(app, shop, workers):
    for i in range(4):
        deliver(app, "loop-1", msg(f"burst-{i}", f"part {i}"))
    assert ai_jobs(workers) == 1


def test_unknown_and_inactive_accounts_are_ignored(app, db, shop, workers):
    (unknown,) = deliver(app, "no-such-page", msg("x1"))
    assert unknown.status == "ignored" and "no active loopback account" in unknown.reason
    shop.loop.is_active = False
    db.session.commit()
    (inactive,) = deliver(app, "loop-1", msg("x2"))
    assert inactive.status == "ignored"
    assert count(db, Message) == 0 and ai_jobs(workers) == 0


def test_the_same_email_on_two_channels_is_one_contact(app, db, make, shop):
    other = make.account(shop.agent, "loopback", None, account_id="loop-2")
    deliver(app, "loop-1", msg("a1", sender="psid-9", data={"contact": {"email": "Mike@Example.com", "name": "Mike"}}))
    deliver(app, "loop-2", msg("b1", sender="mike@example.com", data={"contact": {"email": "mike@example.com"}}))
    assert count(db, Contact) == 1
    contact = db.session.scalar(select(Contact))
    assert contact.email == "mike@example.com" and len(contact.identities) == 2
    assert count(db, Conversation) == 2  # one per account, both on Mike's history
    assert other.id in {i.social_account_id for i in contact.identities}


def test_a_resolved_conversation_reopens_when_the_customer_writes(app, db, shop):
    (first,) = deliver(app, "loop-1", msg("r1"))
    conversation = db.session.get(Conversation, first.conversation_id)
    conversation.status = "resolved"
    db.session.commit()
    (second,) = deliver(app, "loop-1", msg("r2"))
    assert second.conversation_id == first.conversation_id
    db.session.expire_all()
    assert db.session.get(Conversation, first.conversation_id).status == "open"


def test_taken_over_conversations_notify_the_team_and_the_ai_stays_quiet(app, db, shop, workers):
    (first,) = deliver(app, "loop-1", msg("t1"))
    with app.app_context():
        get_queue("ai").empty()  # the first message's reply is not the point here
    conversation = db.session.get(Conversation, first.conversation_id)
    take_over(conversation, user=shop.user, reason="test")
    for i in range(3):
        (result,) = deliver(app, "loop-1", msg(f"t-more-{i}", "Hello? Anyone?"))
        assert result.status == "stored" and not result.reply_wanted
    assert ai_jobs(workers) == 0
    notices = db.session.scalars(select(Notification).where(Notification.kind == "message_in_takeover")).all()
    assert len(notices) == 1 and "taken over" in notices[0].title


def test_a_reply_from_the_platforms_own_inbox_means_a_person_took_over(app, db, shop, workers):
    (first,) = deliver(app, "loop-1", msg("e1"))
    (echo,) = deliver(
        app, "loop-1", {"kind": "echo", "mid": "page-reply-1", "text": "Hi, Sam here!", "sender": "cust-1"}
    )
    assert echo.status == "stored"
    conversation = db.session.get(Conversation, first.conversation_id)
    assert conversation.human_takeover and conversation.status == "waiting"
    human = db.session.scalar(select(Message).where(Message.external_id == "page-reply-1"))
    assert human.sender_type == "human" and human.direction == "outbound" and human.status == "sent"


def test_echoes_of_our_own_messages_are_not_a_takeover(app, db, shop):
    deliver(app, "loop-1", msg("o1"))
    (echo,) = deliver(
        app,
        "loop-1",
        {"kind": "echo", "mid": "ours-1", "text": "AI said", "sender": "cust-1", "data": {"app_id": "sandbox-app"}},
    )
    assert echo.status == "ignored"
    assert not db.session.scalar(select(Conversation)).human_takeover


def test_edits_keep_history_and_unsends_hide_the_message(app, db, shop):
    deliver(app, "loop-1", msg("ed1", "I want a 2 bedroom"))
    deliver(
        app, "loop-1", {"kind": "edit", "sender": "cust-1", "target": "ed1", "data": {"text": "I want a 3 bedroom"}}
    )
    message = db.session.scalar(select(Message).where(Message.external_id == "ed1"))
    assert message.content == "I want a 3 bedroom"
    assert message.meta["edits"][0]["text"] == "I want a 2 bedroom"
    deliver(app, "loop-1", {"kind": "delete", "sender": "cust-1", "target": "ed1"})
    db.session.expire_all()
    assert db.session.scalar(select(Message).where(Message.external_id == "ed1")).deleted_at is not None


def test_messages_keep_the_platform_time(app, db, shop):
    at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    deliver(app, "loop-1", msg("ts1", ts=at.timestamp()))
    message = db.session.scalar(select(Message))
    assert message.created_at == at
    assert db.session.scalar(select(Conversation)).last_inbound_at == at
    assert at - timedelta(seconds=1) < db.session.scalar(select(Conversation)).last_message_at


def _another_worker_stores_first(shop, mid: str):
    """A before_flush hook: when the session is about to insert message `mid` (after ingest found it not stored),
    another connection stores the same platform message and commits first — the race the customer lock makes rare
    (a worker without Redis locking, a lock that expired)."""
    from sqlalchemy import insert

    done = []

    def before_flush(session, flush_context, instances):
        if done or not any(isinstance(o, Message) and o.external_id == mid for o in session.new):
            return
        done.append(mid)
        conversation_id = session.scalar(select(Conversation.id).where(Conversation.social_account_id == shop.loop.id))
        with _db.engine.begin() as other:
            other.execute(
                insert(Message).values(
                    conversation_id=conversation_id,
                    channel="loopback",
                    channel_account_id=shop.loop.id,
                    direction="inbound",
                    sender_type="contact",
                    content="theirs",
                    external_id=mid,
                    status="received",
                    created_at=datetime.now(UTC),
                    media=[],
                    meta={},
                )
            )

    return before_flush


@pytest.mark.parametrize("alone", [True, False])
def test_a_message_stored_by_another_worker_meanwhile_is_a_duplicate(app, db, shop, workers, alone):
    """Alone (the inbound worker), the duplicate rolls the event's transaction back; not alone (the widget, mail sync:
    their raw event is in the same transaction), only the message is given up and the caller's row is kept."""
    from sqlalchemy import event

    from chatpad.models import WebhookEvent

    if not alone and db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: the caller's transaction, which already wrote, blocks the other worker")
    deliver(app, "loop-1", msg("m-first"))  # the customer and the conversation exist
    body = json.dumps({"account": "loop-1", "events": [msg("m-late", "Mine")]}).encode()
    with app.app_context():
        raw = WebhookEvent(channel="loopback", body=body, status="processed", attempts=1)
        if not alone:  # the caller's own work in the same transaction, as the widget's raw event
            _db.session.add(raw)
            _db.session.flush()
        race = _another_worker_stores_first(shop, "m-late")
        event.listen(_db.session, "before_flush", race)
        try:
            (parsed,) = get_channel("loopback").parse(body)
            result = ingest(parsed, alone=alone)
            _db.session.commit()
        finally:
            event.remove(_db.session, "before_flush", race)
            _db.session.remove()
    assert result.status == "duplicate"
    assert [m.content for m in db.session.scalars(select(Message).where(Message.external_id == "m-late"))] == ["theirs"]
    assert count(db, WebhookEvent, WebhookEvent.channel == "loopback") == (0 if alone else 1)
    assert ai_jobs(workers) == 1  # the first message's reply; none for the duplicate


def test_a_customer_made_by_another_worker_meanwhile_is_the_one_written_to(app, db, shop, workers):
    """A new customer's identity is inserted with ON CONFLICT DO NOTHING: when another worker committed the same
    (account, sender) between ingest's lookup and its insert, the message goes to that worker's contact, and the
    event's transaction goes on (no savepoint needed, nothing rolled back)."""
    from sqlalchemy import event, insert

    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: the caller's transaction, which already wrote, blocks the other worker")
    theirs = uuid.uuid4()
    raced = []

    def another_worker_first(conn, cursor, statement, parameters, context, executemany):
        if raced or not statement.startswith("INSERT INTO contact_identities"):
            return
        raced.append(statement)
        with _db.engine.begin() as other:
            other.execute(insert(Contact).values(id=theirs, organization_id=shop.org.id, name="Theirs"))
            other.execute(
                insert(ContactIdentity).values(
                    contact_id=theirs, channel="loopback", social_account_id=shop.loop.id, external_id="cust-new"
                )
            )

    with app.app_context():
        event.listen(_db.engine, "before_cursor_execute", another_worker_first)
        try:
            (result,) = deliver(app, "loop-1", msg("m-new", "Hello", sender="cust-new"))
        finally:
            event.remove(_db.engine, "before_cursor_execute", another_worker_first)
    assert raced and result.status == "stored"
    conversation = db.session.get(Conversation, result.conversation_id)
    assert conversation.contact_id == theirs
    assert count(db, ContactIdentity, ContactIdentity.external_id == "cust-new") == 1
    assert ai_jobs(workers) == 1
