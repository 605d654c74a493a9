"""WhatsApp message templates: synced from the WhatsApp Business Account (GET /{waba-id}/message_templates, every
page), the reply box outside the 24-hour window offering only "send a template", the type=template send, and the AI
held to the window. Through the sandbox's Cloud API, real webhooks and real workers."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.integrations.whatsapp import sync_templates
from chatpad.messages import OutboundReply
from chatpad.models import Conversation, Message, MessageTemplate, utcnow
from chatpad.pipeline import queue_reply
from tests.conftest import csrf_from, login
from tests.plugins.whatsapp_sandbox import WhatsAppSandbox

CUSTOMER = "+15125550123"


def stored(db, org_id) -> dict[tuple[str, str], MessageTemplate]:
    db.session.expire_all()
    rows = db.session.scalars(select(MessageTemplate).where(MessageTemplate.organization_id == org_id))
    return {(t.name, t.language): t for t in rows}


def outbound(db, **where) -> list[Message]:
    db.session.expire_all()
    query = select(Message).where(Message.direction == "outbound", Message.status != "internal").order_by(Message.id)
    for key, value in where.items():
        query = query.where(getattr(Message, key) == value)
    return list(db.session.scalars(query))


def closed_conversation(db, whatsapp_account, whatsapp_sandbox, workers):
    """The customer wrote 30 hours ago (on WhatsApp's side and ChatPad's): the window is closed."""
    biz, account = whatsapp_account()
    whatsapp_sandbox.write("Hi, is lot 12 still for sale?")
    workers.run()
    whatsapp_sandbox.age(30)
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    conversation.last_inbound_at = utcnow() - timedelta(hours=30)
    db.session.commit()
    return biz, account, conversation


def test_sync_reads_every_page_and_follows_changes_on_whatsapp(db, make, whatsapp_sandbox):
    biz = make.business()
    result = sync_templates(biz.org.id, D.waba_id(), WhatsAppSandbox.token, page_size=2)  # three pages
    assert (result.total, result.approved) == (5, 3)
    rows = stored(db, biz.org.id)
    assert set(rows) == {
        ("follow_up", "en_US"),
        ("tour_reminder", "en_US"),
        ("seguimiento", "es"),
        ("spring_open_house", "en_US"),
        ("rent_receipt", "en_US"),
    }
    assert rows[("rent_receipt", "en_US")].status == "PENDING"
    assert rows[("follow_up", "en_US")].components[0]["text"].startswith("Hi {{1}}, this is {{2}}.")
    # Meta approves one, and another is deleted in WhatsApp Manager: the next sync follows.
    whatsapp_sandbox.set_template("rent_receipt", language="en_US", status="APPROVED")
    whatsapp_sandbox.delete_template("spring_open_house")
    result = sync_templates(biz.org.id, D.waba_id(), WhatsAppSandbox.token)
    assert (result.total, result.approved, result.removed) == (4, 4, 1)
    rows = stored(db, biz.org.id)
    assert ("spring_open_house", "en_US") not in rows and rows[("rent_receipt", "en_US")].status == "APPROVED"


def test_the_sync_button_on_integrations_syncs_and_says_what_it_found(client, db, whatsapp_account, whatsapp_sandbox):
    biz, account = whatsapp_account()
    login(client, biz.user.email)
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    assert "Templates: not synced yet" in page
    response = client.post(
        f"/admin/integrations/accounts/{account.id}/whatsapp/templates",
        data={"csrf_token": csrf_from(page)},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Synced 5 templates" in html and "3 approved" in html
    assert "Templates: 3 approved of 5" in html
    assert len(stored(db, biz.org.id)) == 5
    # Without the CSRF token nothing happens.
    assert client.post(f"/admin/integrations/accounts/{account.id}/whatsapp/templates").status_code == 400


def test_outside_the_window_the_reply_box_offers_only_templates_and_sends_one(
    client, db, whatsapp_account, whatsapp_sandbox, workers
):
    biz, account, conversation = closed_conversation(db, whatsapp_account, whatsapp_sandbox, workers)
    sync_templates(biz.org.id, D.waba_id(), WhatsAppSandbox.token)
    login(client, biz.user.email)
    html = client.get(f"/admin/inbox/c/{conversation.id}").get_data(as_text=True)
    assert 'id="reply-form"' not in html and 'name="text"' not in html  # no free-form reply box
    assert "Send a template" in html
    # Approved templates only, each shown with its body and a field per variable.
    assert "follow_up" in html and "tour_reminder" in html and "seguimiento" in html
    assert "spring_open_house" not in html and "rent_receipt" not in html
    assert "Hi {{1}}, this is {{2}}. You asked us about a home" in html
    follow_up = stored(db, biz.org.id)[("follow_up", "en_US")]
    form = re.search(rf'id="template-{follow_up.id}".*?</details>', html, re.S).group(0)
    assert 'name="var-1"' in form and 'name="var-2"' in form and 'placeholder="e.g. Maria"' in form

    response = client.post(
        f"/admin/inbox/c/{conversation.id}/template",
        data={
            "csrf_token": csrf_from(html),
            "reply_token": "t1",
            "template_id": str(follow_up.id),
            "var-1": "Sam",
            "var-2": "Forge at the Lake",
        },
    )
    assert response.status_code == 302
    workers.run()
    [sent] = [m for m in whatsapp_sandbox.replies() if m["type"] == "template"]
    parameters = [{"type": "text", "text": "Sam"}, {"type": "text", "text": "Forge at the Lake"}]
    assert sent["template"] == {
        "name": "follow_up",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": parameters}],
    }
    [ours] = outbound(db, sender_type="human")
    assert ours.external_id == sent["id"]
    assert ours.content.startswith("Hi Sam, this is Forge at the Lake. You asked us about a home")

    def delivered():
        workers.run()
        return outbound(db, sender_type="human")[0].status == "delivered"

    whatsapp_sandbox.wait_for(delivered, timeout=20, interval=0.2)


def test_a_template_with_a_missing_variable_is_refused_with_the_reason(
    client, db, whatsapp_account, whatsapp_sandbox, workers
):
    biz, account, conversation = closed_conversation(db, whatsapp_account, whatsapp_sandbox, workers)
    sync_templates(biz.org.id, D.waba_id(), WhatsAppSandbox.token)
    rows = stored(db, biz.org.id)
    login(client, biz.user.email)
    html = client.get(f"/admin/inbox/c/{conversation.id}").get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "template_id": str(rows[("follow_up", "en_US")].id), "var-1": "Sam"}
    response = client.post(f"/admin/inbox/c/{conversation.id}/template", data=data)
    assert response.status_code == 400 and "Fill in {{2}} of follow_up." in response.get_data(as_text=True)
    # A template that is not approved, or of another business, is not sendable either.
    data = {"csrf_token": csrf_from(html), "template_id": str(rows[("rent_receipt", "en_US")].id), "var-1": "$650"}
    response = client.post(f"/admin/inbox/c/{conversation.id}/template", data=data)
    assert response.status_code == 400 and "pending on WhatsApp, not approved" in response.get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "template_id": "999999", "var-1": "x"}
    assert client.post(f"/admin/inbox/c/{conversation.id}/template", data=data).status_code == 400
    workers.run()
    assert not [m for m in whatsapp_sandbox.replies() if m["type"] == "template"]
    assert outbound(db, sender_type="human") == []


def test_the_ai_never_sends_outside_the_window(db, whatsapp_account, whatsapp_sandbox, workers):
    """An AI reply outside the window is stored as skipped with the reason and never reaches WhatsApp: also one that
    carries a template (only a person may send those), and one queued inside the window whose send comes after it
    closed."""
    biz, account, conversation = closed_conversation(db, whatsapp_account, whatsapp_sandbox, workers)
    before = len(whatsapp_sandbox.replies())
    queue_reply(conversation, OutboundReply("Still interested?", sender_type="ai"))
    block = {"name": "follow_up", "language": {"code": "en_US"}}
    queue_reply(conversation, OutboundReply("Template", sender_type="ai", extra={"template": block}))
    # Queued while the window was open, sent after it closed.
    conversation.last_inbound_at = utcnow()
    db.session.commit()
    [late] = queue_reply(conversation, OutboundReply("Late answer", sender_type="ai"))
    conversation = db.session.get(Conversation, conversation.id)
    conversation.last_inbound_at = utcnow() - timedelta(hours=30)
    db.session.commit()
    workers.run()
    ai = outbound(db, sender_type="ai", conversation_id=conversation.id)[-3:]
    assert [m.status for m in ai] == ["skipped", "skipped", "skipped"]
    assert all("24-hour window" in m.error for m in ai) and ai[-1].id == late.id
    assert len(whatsapp_sandbox.replies()) == before


def test_a_late_131047_shows_failed_with_the_reason_in_the_inbox(
    client, db, whatsapp_account, whatsapp_sandbox, workers
):
    biz, account = whatsapp_account()
    whatsapp_sandbox.write("Hi")
    workers.run()
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    whatsapp_sandbox.age(30)  # WhatsApp's view only: ChatPad still thinks the window is open
    queue_reply(conversation, OutboundReply("Are you still interested?", sender_type="human"))

    def failed():
        workers.run()
        return outbound(db, sender_type="human")[0].status == "failed"

    whatsapp_sandbox.wait_for(failed, timeout=20, interval=0.2)
    login(client, biz.user.email)
    html = client.get(f"/admin/inbox/c/{conversation.id}").get_data(as_text=True)
    assert "Are you still interested?" in html and "131047" in html and "24-hour window" in html


def test_a_review_webhook_changes_what_the_reply_box_offers(client, db, whatsapp_account, whatsapp_sandbox, workers):
    """WhatsApp approves one template and pauses another (message_template_status_update, signed like the rest):
    the stored statuses follow without a sync, and the reply box offers the approved one and no longer the paused."""
    biz, account, conversation = closed_conversation(db, whatsapp_account, whatsapp_sandbox, workers)
    sync_templates(biz.org.id, D.waba_id(), WhatsAppSandbox.token)
    whatsapp_sandbox.set_template("rent_receipt", language="en_US", status="APPROVED")
    whatsapp_sandbox.set_template("follow_up", language="en_US", status="PAUSED")
    workers.run()
    rows = stored(db, biz.org.id)
    assert rows[("rent_receipt", "en_US")].status == "APPROVED" and rows[("follow_up", "en_US")].status == "PAUSED"
    login(client, biz.user.email)
    html = client.get(f"/admin/inbox/c/{conversation.id}").get_data(as_text=True)
    assert "rent_receipt" in html and "We received your payment of {{1}}." in html
    assert "follow_up" not in html
