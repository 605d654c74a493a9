"""SMS end to end: the sandbox's Twilio posts signed webhooks to the live app, real burst workers run the pipeline,
and replies go out through the sandbox's Messages.json from the number the customer texted, with delivery reports
coming back as signed status callbacks."""

from __future__ import annotations

import requests
from sqlalchemy import select

from chatpad.messages import OutboundReply, QuickReply
from chatpad.models import Attachment, ContactIdentity, Conversation, Message, WebhookEvent
from chatpad.pipeline import ReplyRefusedError, queue_reply

CUSTOMER = "+15125550123"


def messages(db, **where):
    db.session.expire_all()
    query = select(Message).order_by(Message.id)
    for key, value in where.items():
        query = query.where(getattr(Message, key) == value)
    return db.session.scalars(query).all()


def conversation_of(db, account) -> Conversation:
    db.session.expire_all()
    return db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))


def texts(twilio_sandbox, workers, text, **spec) -> dict:
    sent = twilio_sandbox.text(text, **spec)
    assert sent["delivery"]["state"] == "delivered", sent["delivery"]
    workers.run()
    return sent


def settle(twilio_sandbox, workers, predicate) -> None:
    """Status callbacks arrive asynchronously, as Twilio's do: run the workers until `predicate` holds."""

    def done():
        workers.run()
        return predicate()

    twilio_sandbox.wait_for(done, timeout=20, interval=0.2)


def test_a_text_is_answered_from_the_same_number_and_delivery_is_reported(db, sms_account, twilio_sandbox, workers):
    """Text → signed webhook (answered with empty TwiML) → stored → AI reply sent from the number texted, with
    ChatPad's StatusCallback → sent/delivered callbacks → the reply shows Delivered."""
    biz, account = sms_account()
    sent = texts(twilio_sandbox, workers, "What are your office hours?")
    delivery = sent["delivery"]
    assert delivery["attempts"][-1]["status"] == 200 and delivery["response_error"] is None  # TwiML, not JSON
    (inbound,) = messages(db, direction="inbound")
    assert inbound.external_id == sent["sid"] and inbound.content == "What are your office hours?"
    conversation = inbound.conversation
    assert conversation.location_id == biz.location.id and conversation.contact.phone == CUSTOMER
    [send] = twilio_sandbox.sends()
    assert send["status"] == 201 and send["auth_user"] == twilio_sandbox.account_sid
    assert send["form"]["From"] == account.account_id and send["form"]["To"] == CUSTOMER
    assert send["form"]["StatusCallback"].endswith("/api/webhooks/sms")
    [reply] = twilio_sandbox.replies()
    [ours] = messages(db, direction="outbound")
    assert ours.external_id == reply["sid"] and ours.content == reply["body"] and ours.sender_type == "ai"
    settle(twilio_sandbox, workers, lambda: messages(db, direction="outbound")[0].status == "delivered")
    events = db.session.scalars(select(WebhookEvent).where(WebhookEvent.channel == "sms")).all()
    # the text, "sent" (nothing new: the send had recorded it) and "delivered"
    assert sorted(e.status for e in events) == ["ignored", "processed", "processed"]


def test_a_forged_webhook_is_refused_and_nothing_is_stored(db, client, sms_account, twilio_sandbox):
    sms_account()
    body = (
        f"MessageSid=SMforged&AccountSid={twilio_sandbox.account_sid}&From=%2B15125550123"
        f"&To=%2B19365550200&Body=hi&SmsStatus=received"
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bm90IHJlYWxseQ=="}
    response = client.post("/api/webhooks/sms", data=body, headers=headers)
    assert response.status_code == 403
    unsigned = {"Content-Type": headers["Content-Type"]}
    assert client.post("/api/webhooks/sms", data=body, headers=unsigned).status_code == 403
    assert db.session.scalar(select(WebhookEvent.id)) is None


def test_a_new_auth_token_is_picked_up_without_losing_a_message(db, sms_account, twilio_sandbox, workers):
    """The receiver caches signing keys; a reconnection with a rotated token is read afresh before refusing."""
    _, account = sms_account()
    texts(twilio_sandbox, workers, "First")  # the old token is now cached in this process
    token = twilio_sandbox._call("POST", f"accounts/{twilio_sandbox.account_sid}/rotate-token")["auth_token"]
    account = db.session.get(type(account), account.id)
    account.access_token = token
    db.session.commit()
    texts(twilio_sandbox, workers, "Second")
    assert [m.content for m in messages(db, direction="inbound", sender_type="contact")] == ["First", "Second"]


def test_stop_opts_out_start_resumes_and_a_persons_reply_is_refused_meanwhile(
    app, db, sms_account, twilio_sandbox, workers
):
    """STOP: Twilio confirms, ChatPad marks the customer opted out, the AI stays quiet, the thread says so and a
    person's reply is refused with the reason. START lifts it."""
    _, account = sms_account()
    texts(twilio_sandbox, workers, "Hello")
    answered = len(twilio_sandbox.replies())
    texts(twilio_sandbox, workers, "STOP")
    assert len(twilio_sandbox.replies()) == answered  # nothing from ChatPad; Twilio confirmed on its own
    assert twilio_sandbox.thread()["opted_out"] is True
    identity = db.session.scalar(select(ContactIdentity).where(ContactIdentity.social_account_id == account.id))
    assert identity.opted_out_at is not None and "texted STOP" in identity.opt_out_reason
    assert any(m.content.startswith("Opted out: the customer texted STOP") for m in messages(db, sender_type="system"))
    conversation = conversation_of(db, account)
    try:
        queue_reply(conversation, OutboundReply("Are you sure?", sender_type="human"))
        raise AssertionError("a reply to an opted-out customer was queued")
    except ReplyRefusedError as exc:
        assert "texted STOP" in str(exc) and "START" in str(exc)
    texts(twilio_sandbox, workers, "START")
    db.session.expire_all()
    assert db.session.get(ContactIdentity, identity.id).opted_out_at is None
    assert twilio_sandbox.thread()["opted_out"] is False
    queue_reply(conversation_of(db, account), OutboundReply("Welcome back!", sender_type="human"))
    workers.run()
    assert twilio_sandbox.replies()[-1]["body"] == "Welcome back!"


def test_help_is_answered_with_the_business_name_and_contact(db, make, sms_account, twilio_sandbox, workers):
    biz = make.business()
    biz.location.phone = "(936) 555-0141"
    db.session.commit()
    sms_account(biz)
    texts(twilio_sandbox, workers, "HELP")
    [reply] = twilio_sandbox.replies()
    assert biz.org.name in reply["body"] and "(936) 555-0141" in reply["body"] and "STOP" in reply["body"]
    [ours] = messages(db, direction="outbound")
    assert ours.sender_type == "system"


def test_21610_from_twilio_marks_the_customer_opted_out(db, sms_account, twilio_sandbox, workers):
    """The customer opted out at Twilio without ChatPad seeing the STOP: the send fails with 21610, the message
    shows why, and nothing more is tried."""
    _, account = sms_account()
    texts(twilio_sandbox, workers, "Hello")
    twilio_sandbox.block()
    queue_reply(conversation_of(db, account), OutboundReply("One more thing", sender_type="human"))
    workers.run()
    failed = messages(db, direction="outbound", content="One more thing")[0]
    assert failed.status == "failed" and "21610" in failed.error
    identity = db.session.scalar(select(ContactIdentity).where(ContactIdentity.social_account_id == account.id))
    assert identity.opted_out_at is not None
    sends = len(twilio_sandbox.sends())
    try:
        queue_reply(conversation_of(db, account), OutboundReply("Again", sender_type="human"))
    except ReplyRefusedError:
        pass
    workers.run()
    assert len(twilio_sandbox.sends()) == sends


def test_an_undelivered_reply_is_marked_failed_with_twilios_reason(db, sms_account, twilio_sandbox, workers):
    _, account = sms_account()
    unreachable = "+15005550003"
    texts(twilio_sandbox, workers, "Hello", sender=unreachable)
    settle(twilio_sandbox, workers, lambda: messages(db, direction="outbound")[0].status == "failed")
    [reply] = messages(db, direction="outbound")
    assert reply.error == "The customer's phone is unreachable (off or out of coverage) (Twilio error 30003)"


def test_mms_media_is_fetched_with_the_accounts_credentials_and_stored(app, db, sms_account, twilio_sandbox, workers):
    sms_account()
    texts(twilio_sandbox, workers, "Here is the leak", photo=True)
    [inbound] = messages(db, direction="inbound", sender_type="contact")
    [attachment] = db.session.scalars(select(Attachment).where(Attachment.message_id == inbound.id)).all()
    assert attachment.content_type == "image/png" and attachment.size > 0
    media_get = [r for r in twilio_sandbox.requests("/Media/", "GET")]
    assert media_get and media_get[-1]["auth_user"] == twilio_sandbox.account_sid and media_get[-1]["status"] == 200
    assert inbound.media[0]["extra"]["attachment_id"] == attachment.id


def test_a_media_outage_is_retried_not_lost(app, db, sms_account, twilio_sandbox, workers):
    """Twilio's media answers 503 once: the message is stored at once, the file comes on the retry."""
    sms_account()
    twilio_sandbox.fail("media_unavailable", path="/Media/", method="GET")
    texts(twilio_sandbox, workers, "Photo", photo=True)
    [inbound] = messages(db, direction="inbound", sender_type="contact")
    assert inbound.media[0]["extra"]["download"] and "Retrying" in inbound.media[0]["extra"]["download_error"]
    workers.run(fast_forward=True)
    db.session.expire_all()
    assert db.session.scalar(select(Attachment).where(Attachment.message_id == inbound.id)) is not None


def test_a_pool_number_routes_by_to_and_replies_from_that_number(db, sms_account, twilio_sandbox, workers):
    """A number in a Messaging Service (A2P 10DLC): the webhook comes from the service's URL with MessagingServiceSid;
    it routes by To, and the reply goes out with the service and the same number."""
    _, account = sms_account(index=1)
    sent = texts(twilio_sandbox, workers, "What is the lot rent?", location=1)
    assert sent["messaging_service_sid"] == twilio_sandbox.service_sid
    (inbound,) = messages(db, direction="inbound", sender_type="contact")
    assert inbound.channel_account_id == account.id
    [send] = twilio_sandbox.sends()
    assert send["form"]["MessagingServiceSid"] == twilio_sandbox.service_sid
    assert send["form"]["From"] == account.account_id


def test_a_number_picks_a_numbered_choice(app, db, sms_account, twilio_sandbox, workers):
    """The reply offered numbered choices; "2" is stored with what it picked, and the AI reads it so."""
    _, account = sms_account()
    texts(twilio_sandbox, workers, "Hi")
    conversation = conversation_of(db, account)
    queue_reply(
        conversation,
        OutboundReply(
            "What would you like?",
            sender_type="human",
            quick_replies=[QuickReply("Book a tour", "QR_TOUR"), QuickReply("Office hours", "QR_HOURS")],
        ),
    )
    workers.run()
    assert twilio_sandbox.replies()[-1]["body"].endswith("1. Book a tour\n2. Office hours")
    texts(twilio_sandbox, workers, "2")
    picked = messages(db, direction="inbound", content="2")[0]
    assert picked.meta["choice"]["title"] == "Office hours" and picked.meta["quick_reply"]["payload"] == "QR_HOURS"
    from chatpad.ai.context import build_context

    context = build_context(conversation_of(db, account))
    assert 'picked option 2: "Office hours"' in context.question


def test_a_twilio_outage_is_retried(db, sms_account, twilio_sandbox, workers):
    _, account = sms_account()
    texts(twilio_sandbox, workers, "Hello")
    twilio_sandbox.fail("server_error")
    queue_reply(conversation_of(db, account), OutboundReply("Here you go", sender_type="human"))
    workers.run()
    message = messages(db, content="Here you go")[0]
    assert message.status == "pending" and "Retrying" in message.error
    workers.run(fast_forward=True)
    assert messages(db, content="Here you go")[0].status in ("sent", "delivered")


def test_get_on_the_sms_webhook_has_no_handshake(client):
    assert client.get("/api/webhooks/sms").status_code == 404
    assert requests  # the module's HTTP client is used by the sandbox helpers


def test_the_simulate_command_texts_as_a_customer_and_says_when_the_sandbox_is_down(
    app, db, sms_account, twilio_sandbox, workers
):
    """`flask chatpad simulate sms --location … TEXT` posts through the sandbox's Twilio and ChatPad stores the text;
    with no sandbox listening it says so in one line instead of a traceback."""
    from chatpad.sandbox.twilio.cli import simulate_sms  # registered by the sandbox where enabled

    sms_account()
    app.config["SANDBOX_URL"] = twilio_sandbox.url
    with app.app_context():
        result = app.test_cli_runner().invoke(
            simulate_sms, ["--location", twilio_sandbox.number(0), "--wait", "0", "Hello from the CLI"]
        )
    assert result.exit_code == 0 and "webhook delivered" in result.output, result.output
    workers.run()
    assert [m.content for m in messages(db, direction="inbound")] == ["Hello from the CLI"]

    app.config["SANDBOX_URL"] = "http://127.0.0.1:9"  # the discard port: nothing listens
    with app.app_context():
        down = app.test_cli_runner().invoke(simulate_sms, ["--location", "0", "--wait", "0", "Anyone there?"])
    assert down.exit_code == 1 and "is not reachable" in down.output and "Traceback" not in down.output
