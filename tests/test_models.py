"""The data model on the real database: constraints, cascades, aware timestamps."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from chatpad.models import Contact, Conversation, Message, SocialAccount


def test_social_account_is_unique_per_channel_and_platform_id(make, db):
    """The same Page cannot be connected twice, even by two organizations."""
    a = make.business()
    b = make.business()
    make.account(a.agent, "facebook", account_id="555")
    with pytest.raises(IntegrityError):
        make.account(b.agent, "facebook", account_id="555")
    db.session.rollback()
    # The same id on another channel is another account.
    make.account(b.agent, "instagram", account_id="555")


def test_deleting_a_location_keeps_its_accounts_as_general(make, db):
    """ON DELETE SET NULL: the account survives, answering as General."""
    biz = make.business()
    account_id = biz.account.id
    db.session.delete(biz.location)
    db.session.commit()
    account = db.session.get(SocialAccount, account_id)
    assert account is not None and account.location_id is None
    assert account.location_label == "General"


def test_deleting_an_agent_deletes_its_accounts(make, db):
    biz = make.business()
    account_id = biz.account.id
    db.session.delete(biz.agent)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(SocialAccount, account_id) is None


def _conversation(db, biz):
    contact = Contact(organization_id=biz.org.id, name="Jo")
    db.session.add(contact)
    db.session.flush()
    conv = Conversation(
        organization_id=biz.org.id,
        agent_id=biz.agent.id,
        location_id=biz.location.id,
        social_account_id=biz.account.id,
        contact_id=contact.id,
        channel="facebook",
    )
    db.session.add(conv)
    db.session.flush()
    return conv


def test_a_platform_message_id_is_stored_once_per_account(make, db):
    """The unique key that makes repeated webhook deliveries harmless."""
    biz = make.business()
    conv = _conversation(db, biz)
    common = dict(
        conversation_id=conv.id,
        channel="facebook",
        channel_account_id=biz.account.id,
        direction="inbound",
        sender_type="contact",
        content="hi",
    )
    db.session.add(Message(external_id="m_1", **common))
    db.session.commit()
    db.session.add(Message(external_id="m_1", **common))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Messages without a platform id (drafts, notes) never collide.
    db.session.add_all([Message(external_id=None, **common), Message(external_id=None, **common)])
    db.session.commit()
    assert len(db.session.scalars(select(Message)).all()) == 3


def test_timestamps_come_back_aware_utc(make, db):
    biz = make.business()
    conv = _conversation(db, biz)
    eastern = datetime(2026, 11, 26, 9, 30, tzinfo=UTC) + timedelta(hours=0)
    conv.last_inbound_at = eastern
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Conversation, conv.id).last_inbound_at
    assert stored.tzinfo is not None and stored == eastern


def test_naive_datetimes_are_refused(make, db):
    biz = make.business()
    conv = _conversation(db, biz)
    conv.last_inbound_at = datetime(2026, 1, 1, 12, 0)
    with pytest.raises(Exception, match="naive"):
        db.session.commit()
    db.session.rollback()


def test_message_reads_as_the_seeds_unified_message(make, db):
    biz = make.business()
    conv = _conversation(db, biz)
    msg = Message(
        conversation_id=conv.id,
        channel="facebook",
        channel_account_id=biz.account.id,
        direction="inbound",
        sender_type="contact",
        content="Is lot 14 available?",
        external_id="m_9",
        meta={"sender_id": "psid-1", "sender_name": "Jo", "thread_id": "psid-1"},
        media=[{"type": "image", "url": "https://cdn.example/1.jpg"}],
    )
    db.session.add(msg)
    db.session.commit()
    unified = msg.to_unified()
    assert unified.channel == "facebook"
    assert unified.channel_account_id == biz.account.account_id
    assert unified.metadata.external_id == "m_9"
    assert unified.metadata.sender_name == "Jo"
    assert unified.media[0].url == "https://cdn.example/1.jpg"
    assert unified.to_dict()["direction"] == "inbound"


def test_a_person_is_shown_by_name_or_else_email(db, make):
    """The assignment dropdown, notifications and the audit log show people as str(user): never "<User 1>"."""
    biz = make.business()
    pat = make.user(biz.org, email="pat@lakeside.example.com")
    assert str(pat) == "pat@lakeside.example.com"
    pat.name = "Pat Agent"
    assert str(pat) == "Pat Agent"
