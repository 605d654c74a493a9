"""Erasing one customer everywhere: what goes, what stays, who else is untouched, and the admin's confirmation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from chatpad.models import (
    AnonymousActivity,
    Attachment,
    AuditLog,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Notification,
    Rating,
    WebhookEvent,
    utcnow,
)
from chatpad.privacy import anonymous_activity, erase_contact, preview_erasure
from tests.conftest import csrf_from, login


def count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_erasure_deletes_every_trace_of_the_customer(app, db, world):
    """After an erasure nothing about the customer is left: messages, identities, files, raw deliveries, notices."""
    customer_id = world.customer.id
    conversation_ids = [c.id for c in world.conversations.values()]
    own_files = [p for p in world.files.values() if p != world.shared_file]
    summary = erase_contact(world.customer, actor=world.biz.user)

    assert summary.conversations == 4 and summary.messages == 12 and summary.identities == 4
    assert summary.attachments == 2 and summary.ratings == 1
    assert summary.channels == ["email", "facebook", "instagram", "widget"]
    db.session.expire_all()
    assert db.session.get(Contact, customer_id) is None
    assert count(db, ContactIdentity, ContactIdentity.contact_id == customer_id) == 0
    assert count(db, Conversation, Conversation.id.in_(conversation_ids)) == 0
    assert count(db, Message, Message.conversation_id.in_(conversation_ids)) == 0
    assert count(db, Rating) == 0
    assert all(not p.exists() for p in own_files)
    # Raw deliveries: the one its message came from and a duplicate that only mentions the PSID.
    assert count(db, WebhookEvent, WebhookEvent.id.in_([*world.linked_event_ids, world.mention_event_id])) == 0
    titles = db.session.scalars(select(Notification.title)).all()
    assert titles == ["Sam Bystander asked for a callback"]
    assert not any("Dana" in t or "dana@" in t for t in titles)


def test_erasure_leaves_everyone_else_alone(app, db, world):
    """The bystander in the same business and a namesake in another business keep all their data."""
    erase_contact(world.customer, actor=world.biz.user)
    db.session.expire_all()
    assert db.session.get(Contact, world.bystander.id) is not None
    assert db.session.get(Contact, world.namesake.id) is not None
    assert count(db, Conversation, Conversation.contact_id == world.bystander.id) == 2
    # The floor plan's bytes were attached to the bystander's mail too: stored once, still there for them.
    assert world.shared_file.exists()
    assert count(db, Attachment) == 1
    assert db.session.get(WebhookEvent, world.bystander_event_id) is not None


def test_erasure_keeps_anonymous_counts_for_analytics(app, db, world):
    """The per-day counts per channel survive the erasure, so analytics totals stay right, without names."""
    erase_contact(world.customer, actor=world.biz.user)
    today = utcnow().date()
    by_channel = anonymous_activity(world.biz.org.id, today - timedelta(days=3), today, by=("channel",))
    assert set(by_channel) == {("facebook",), ("instagram",), ("email",), ("widget",)}
    for counts in by_channel.values():
        assert counts["conversations"] == 1 and counts["new_conversations"] == 1
        assert counts["messages"] == 3 and counts["inbound"] == 1 and counts["outbound"] == 2
        assert counts["ai_replies"] == 1 and counts["human_replies"] == 1
    row = db.session.scalars(select(AnonymousActivity)).first()
    assert row.location_id == world.biz.location.id and row.reason == "erasure"
    # Another organization sees none of it.
    assert anonymous_activity(world.namesake.organization_id, today - timedelta(days=3), today) == {}


def test_erasure_is_audited_by_id_without_personal_data(app, db, world):
    """The audit log says who erased which contact id and how much, never the name, address or content."""
    customer_id = world.customer.id
    erase_contact(world.customer, actor=world.biz.user, ip="203.0.113.9")
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "privacy.erase")).one()
    assert entry.user_id == world.biz.user.id and entry.organization_id == world.biz.org.id
    assert entry.target_type == "Contact" and entry.target_id == str(customer_id)
    assert entry.detail["messages"] == 12 and entry.ip == "203.0.113.9"
    flat = str(entry.detail)
    assert "Dana" not in flat and "dana@example.com" not in flat and "lot 14" not in flat.lower()


def test_preview_names_what_will_be_deleted(app, db, world):
    """The confirmation's numbers are the ones the erasure then deletes."""
    preview = preview_erasure(world.customer)
    assert (preview.identities, preview.conversations, preview.messages) == (4, 4, 12)
    assert (preview.attachments, preview.ratings, preview.notifications) == (2, 1, 2)
    assert preview.channels == ["email", "facebook", "instagram", "widget"]


def test_admin_erases_after_confirming(app, db, client, world):
    """The admin sees what will go, must tick the box, and then the customer is gone."""
    login(client, world.biz.user.email)
    url = f"/admin/customer-data/{world.customer.id}/erase"
    page = client.get(url).get_data(as_text=True)
    assert "Erase Dana Whitfield?" in page
    assert "4 conversations with 12 messages" in page and "2 attached files" in page
    assert "@forgelake" in page and "dana@example.com" in page

    refused = client.post(url, data={"csrf_token": csrf_from(page)})
    assert refused.status_code == 400 and "Tick the box to confirm." in refused.get_data(as_text=True)
    assert db.session.get(Contact, world.customer.id) is not None

    done = client.post(url, data={"csrf_token": csrf_from(page), "confirm": "y"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/customer-data/")
    assert "The customer was erased: 4 conversation(s), 12 message(s)" in client.get("/admin/customer-data/").get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(Contact, world.customer.id) is None


def test_erasure_needs_a_csrf_token(app, db, client, world):
    """A forged form without the CSRF token erases nothing."""
    login(client, world.biz.user.email)
    url = f"/admin/customer-data/{world.customer.id}/erase"
    assert client.post(url, data={"confirm": "y"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Contact, world.customer.id) is not None


def test_agents_cannot_reach_customer_data(app, db, client, make, world):
    """Only owners and admins handle data requests; an agent gets 403 on every privacy page."""
    agent = make.user(world.biz.org, role="agent")
    login(client, agent.email)
    base = f"/admin/customer-data/{world.customer.id}"
    for url in ("/admin/customer-data/?q=Dana", base, f"{base}/erase", "/admin/retention/", "/admin/audit/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"{base}/erase", data={"confirm": "y"}).status_code in (400, 403)
    db.session.expire_all()
    assert db.session.get(Contact, world.customer.id) is not None


def test_another_organizations_customer_is_not_found(app, db, client, world):
    """An admin can neither see, export nor erase a customer of another organization, even by id."""
    login(client, world.biz.user.email)
    page = client.get(f"/admin/customer-data/{world.customer.id}").get_data(as_text=True)
    token = csrf_from(page)
    other = world.namesake.id
    assert client.get(f"/admin/customer-data/{other}").status_code == 404
    assert client.get(f"/admin/customer-data/{other}/erase").status_code == 404
    assert (
        client.post(f"/admin/customer-data/{other}/erase", data={"csrf_token": token, "confirm": "y"}).status_code
        == 404
    )
    assert client.post(f"/admin/customer-data/{other}/export", data={"csrf_token": token}).status_code == 404
    assert client.get("/admin/customer-data/not-a-uuid").status_code == 404
    db.session.expire_all()
    assert db.session.get(Contact, other) is not None
