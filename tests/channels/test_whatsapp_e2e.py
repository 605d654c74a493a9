"""WhatsApp end to end: the sandbox's Cloud API posts signed webhooks to the live app, real burst workers run the
pipeline, replies go out through POST /{phone-number-id}/messages, and statuses come back as signed webhooks."""

from __future__ import annotations

from sqlalchemy import select

from chatpad.messages import OutboundReply
from chatpad.models import Attachment, Contact, Conversation, Message
from chatpad.pipeline import ReplyRefusedError, queue_reply

CUSTOMER = "+15125550123"


def messages(db, **where):
    db.session.expire_all()
    query = select(Message).order_by(Message.id)
    for key, value in where.items():
        query = query.where(getattr(Message, key) == value)
    return db.session.scalars(query).all()


def settle(sandbox, workers, predicate) -> None:
    def done():
        workers.run()
        return predicate()

    sandbox.wait_for(done, timeout=20, interval=0.2)


def test_a_message_is_answered_inside_the_window_marked_read_and_delivered(
    db, whatsapp_account, whatsapp_sandbox, workers
):
    """Customer writes → signed webhook → stored in the number's location → read receipt → AI reply to wa_id →
    sent/delivered statuses → the reply shows Delivered."""
    biz, account = whatsapp_account()
    sent = whatsapp_sandbox.write("What are your office hours?")
    assert sent["delivery"]["state"] == "delivered", sent["delivery"]
    workers.run()
    (inbound,) = messages(db, direction="inbound")
    assert inbound.external_id == sent["ids"][0] and inbound.content == "What are your office hours?"
    assert inbound.conversation.location_id == biz.location.id and inbound.conversation.contact.phone == CUSTOMER
    thread = whatsapp_sandbox.thread()
    assert thread[0]["sender"] == "customer" and thread[0].get("read") is True
    [reply] = whatsapp_sandbox.replies()
    [ours] = messages(db, direction="outbound")
    assert ours.external_id == reply["id"] and reply["type"] in ("text", "interactive")
    settle(whatsapp_sandbox, workers, lambda: messages(db, direction="outbound")[0].status == "delivered")


def test_a_batched_post_stores_every_message(db, whatsapp_account, whatsapp_sandbox, workers):
    whatsapp_account()
    sent = whatsapp_sandbox.write(texts=["Hi", "Are pets allowed?", "And parking?"])
    workers.run()
    inbound = messages(db, direction="inbound")
    assert [m.external_id for m in inbound] == sent["ids"] and len(inbound) == 3


def test_the_same_number_on_sms_and_whatsapp_is_one_contact(
    db, whatsapp_account, sms_account, whatsapp_sandbox, twilio_sandbox, workers
):
    biz, _ = whatsapp_account()
    sms_account(biz)
    twilio_sandbox.text("Hello by text", sender=CUSTOMER)
    workers.run()
    whatsapp_sandbox.write("Hello on WhatsApp", sender=CUSTOMER)
    workers.run()
    db.session.expire_all()
    contacts = db.session.scalars(select(Contact).where(Contact.organization_id == biz.org.id)).all()
    assert len(contacts) == 1 and contacts[0].phone == CUSTOMER
    assert {c.social_account.channel for c in db.session.scalars(select(Conversation)).all()} == {"sms", "whatsapp"}


def test_outside_the_window_a_reply_is_refused_and_a_late_131047_marks_the_message_failed(
    db, whatsapp_account, whatsapp_sandbox, workers
):
    """After 24 hours ChatPad refuses a free-form reply with the reason; if one was already on its way when the window
    closed, WhatsApp accepts it and later reports 131047: the message turns failed with that reason."""
    _, account = whatsapp_account()
    whatsapp_sandbox.write("Hi")
    workers.run()
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    # The platform's view: the customer wrote 30 hours ago (ChatPad's still says now), so the next send fails late.
    whatsapp_sandbox.age(30)
    queue_reply(conversation, OutboundReply("Are you still interested?", sender_type="human"))
    workers.run()
    settle(
        whatsapp_sandbox, workers, lambda: messages(db, direction="outbound", sender_type="human")[0].status == "failed"
    )
    (late,) = messages(db, direction="outbound", sender_type="human")
    assert "24-hour window" in late.error and "131047" in late.error
    # ChatPad's own view now agrees: the window is closed, so the reply is refused before it is sent.
    conversation = db.session.get(Conversation, conversation.id)
    from datetime import UTC, datetime, timedelta

    conversation.last_inbound_at = datetime.now(UTC) - timedelta(hours=25)
    db.session.commit()
    try:
        queue_reply(conversation, OutboundReply("Hello again", sender_type="human"))
        raise AssertionError("a reply outside the window was queued")
    except ReplyRefusedError as exc:
        assert "24-hour window" in str(exc)


def test_a_photo_is_downloaded_with_the_token_and_kept(db, whatsapp_account, whatsapp_sandbox, workers):
    whatsapp_account()
    whatsapp_sandbox.write("The lot", photo=True)
    workers.run()
    workers.run()
    (inbound,) = messages(db, direction="inbound")
    assert inbound.content == "The lot"
    attachments = db.session.scalars(select(Attachment)).all()
    assert len(attachments) == 1 and attachments[0].content_type == "image/png"


def test_the_simulate_command_writes_as_a_customer(app, db, whatsapp_account, whatsapp_sandbox, workers):
    """`flask chatpad simulate whatsapp --location … --from … TEXT` posts through the sandbox; ChatPad stores it."""
    whatsapp_account()
    app.config["SANDBOX_URL"] = whatsapp_sandbox.url
    from chatpad.sandbox.meta.whatsapp_cli import simulate_whatsapp  # registered by the sandbox where enabled

    with app.app_context():
        result = app.test_cli_runner().invoke(
            simulate_whatsapp, ["--location", "0", "--wait", "0", "Hello from the CLI"]
        )
    assert "webhook delivered" in result.output, result.output
    workers.run()
    assert [m.content for m in messages(db, direction="inbound")] == ["Hello from the CLI"]
