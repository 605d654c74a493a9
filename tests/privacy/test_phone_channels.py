"""GDPR export and erase, and retention, for a customer who wrote by SMS and on WhatsApp: through the sandboxes'
Twilio and Cloud API, real webhooks, real workers, so the raw deliveries are what the platforms send (a WhatsApp
number as digits without "+", an SMS number form-encoded as %2B1…)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import func, select, update

from chatpad.channels.phone import wa_digits
from chatpad.models import Contact, Conversation, Message, WebhookEvent, utcnow
from chatpad.privacy import apply_retention, erase_contact, export_contact

CUSTOMER = "+15125550123"
BYSTANDER = "+15125550199"


def _events(db, number: str) -> int:
    """Raw sms/whatsapp deliveries that still mention this number, however the platform wrote it."""
    db.session.expire_all()
    bodies = db.session.scalars(select(WebhookEvent.body).where(WebhookEvent.channel.in_(("sms", "whatsapp"))))
    needles = (number.encode(), f'"{wa_digits(number)}"'.encode(), number.replace("+", "%2B").encode())
    return sum(1 for body in bodies if any(n in bytes(body) for n in needles))


def _talk(db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers):
    """The customer (and a bystander) write on both channels; the replies' delivery receipts come back."""
    biz, wa = whatsapp_account()
    sms_account(biz)
    for sender in (CUSTOMER, BYSTANDER):
        twilio_sandbox.text("Hello by text", sender=sender)
        whatsapp_sandbox.write("Hello on WhatsApp", sender=sender)
    workers.run()

    def delivered():
        workers.run()
        db.session.expire_all()
        statuses = db.session.scalars(
            select(Message.status).where(Message.direction == "outbound", Message.status != "internal")
        ).all()
        return len(statuses) >= 4 and all(s == "delivered" for s in statuses)

    whatsapp_sandbox.wait_for(delivered, timeout=30, interval=0.2)
    contact = db.session.scalar(select(Contact).where(Contact.phone == CUSTOMER, Contact.organization_id == biz.org.id))
    return biz, contact


def test_export_of_a_phone_contact_holds_their_sms_and_whatsapp_messages(
    db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers
):
    biz, contact = _talk(db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers)
    result = export_contact(contact, actor=biz.user)
    data = json.loads(zipfile.ZipFile(io.BytesIO(result.file.read())).read("data.json"))
    assert data["contact"]["phone"] == CUSTOMER
    assert {(i["channel"], i["id_on_channel"]) for i in data["identities"]} == {
        ("sms", CUSTOMER),
        ("whatsapp", CUSTOMER),
    }
    by_channel = {c["channel"]: c for c in data["conversations"]}
    assert set(by_channel) == {"sms", "whatsapp"}
    for channel, text in (("sms", "Hello by text"), ("whatsapp", "Hello on WhatsApp")):
        messages = by_channel[channel]["messages"]
        assert messages[0]["from"] == "Customer" and messages[0]["text"] == text
        assert any(m["from"] == "AI assistant" for m in messages)


def test_erasure_removes_their_messages_and_every_raw_delivery_naming_their_number(
    db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers
):
    """The deliveries that carried the messages go with them; the receipts of the replies (WhatsApp's statuses name
    the number as recipient_id "15125550123", Twilio's callbacks as To=%2B1…) are linked from no message and must be
    found by how each platform writes the number. The bystander's stay."""
    biz, contact = _talk(db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers)
    conversation_ids = [
        c.id for c in db.session.scalars(select(Conversation).where(Conversation.contact_id == contact.id))
    ]
    assert _events(db, CUSTOMER) >= 6 and _events(db, BYSTANDER) >= 6
    kept = _events(db, BYSTANDER)
    erase_contact(contact, actor=biz.user)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Message.id)).where(Message.conversation_id.in_(conversation_ids))) == 0
    assert _events(db, CUSTOMER) == 0
    assert _events(db, BYSTANDER) == kept


def test_retention_purges_old_sms_and_whatsapp_conversations_with_their_deliveries(
    db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers
):
    biz, contact = _talk(db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers)
    old = list(db.session.scalars(select(Conversation.id).where(Conversation.contact_id == contact.id)))
    linked = {
        m.meta["webhook_event_id"]
        for m in db.session.scalars(select(Message).where(Message.conversation_id.in_(old)))
        if (m.meta or {}).get("webhook_event_id")
    }
    assert len(old) == 2 and len(linked) >= 2
    db.session.execute(
        update(Conversation).where(Conversation.id.in_(old)).values(last_message_at=utcnow() - timedelta(days=40))
    )
    biz.org.retention_days = 30
    db.session.commit()
    result = apply_retention(biz.org)
    assert result.deleted.conversations == 2 and set(result.deleted.channels) == {"sms", "whatsapp"}
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Conversation.id)).where(Conversation.id.in_(old))) == 0
    assert db.session.scalar(select(func.count(WebhookEvent.id)).where(WebhookEvent.id.in_(linked))) == 0
    # The bystander wrote today: theirs stay.
    assert db.session.scalar(select(func.count(Conversation.id)).where(Conversation.organization_id == biz.org.id)) == 2


def test_erasing_a_number_keeps_the_raw_deliveries_of_a_longer_number_that_starts_with_it(db):
    """Twilio's bodies are form-encoded: erasing +4420794601 must take From=%2B4420794601 (wherever the field
    stands, last included) and leave From=%2B44207946012, another customer's text."""
    from chatpad.models import ContactIdentity
    from chatpad.privacy.erase import _delete_events_mentioning

    theirs = [b"From=%2B4420794601&Body=hi&To=%2B15125550000", b"Body=hi&To=%2B15125550000&From=%2B4420794601"]
    other = b"From=%2B44207946012&Body=hello&To=%2B15125550000"
    for body in (*theirs, other):
        db.session.add(WebhookEvent(channel="sms", body=body, status="done"))
    db.session.commit()
    deleted = _delete_events_mentioning([ContactIdentity(channel="sms", external_id="+4420794601")])
    db.session.commit()
    assert deleted == 2
    assert [bytes(b) for b in db.session.scalars(select(WebhookEvent.body).where(WebhookEvent.channel == "sms"))] == [
        other
    ]
