"""Replies by email through a real SMTP server (aiosmtpd) and Dovecot: headers, Sent copy, retries, failures."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from sqlalchemy import select

from chatpad.messages import OutboundReply
from chatpad.models import Conversation, Message
from chatpad.pipeline import queue_reply
from chatpad.pipeline.mail_sync import sync_inbox

from .test_email_sync import mail


def _conversation_with_mail(db, make, make_inbox, dovecot, *, security="starttls", signature=True):
    biz = make.business()
    if signature:
        biz.location.settings = {"email_signature": "The Lakeside team\n1 Main St, Austin, TX 78701"}
        db.session.commit()
    account, address = make_inbox(biz.agent, biz.location, security=security)
    sync_inbox(account)
    dovecot.deliver(
        address,
        mail("mike@customer.example", address, "3 bedroom homes", "Do you have a 3 bedroom home?", name="Mike Doe",
             message_id="first-question@customer.example"),
    )  # fmt: skip
    sync_inbox(account)
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    return biz, account, address, conversation


def _outbound(db, conversation) -> list[Message]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Message).where(Message.conversation_id == conversation.id, Message.direction == "outbound")
        )
    )


def test_reply_is_sent_threaded_and_filed_in_sent(db, make, make_inbox, dovecot, smtp_server, workers):
    """The AI's reply leaves from the inbox over SMTP as a threaded multipart email and a copy lands in Sent."""
    _, account, address, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    queue_reply(conversation, OutboundReply(text="Yes! We have two.\n\nWould you like a tour on Saturday?"))
    workers.run("outbound")
    [sent] = smtp_server.received
    assert sent.mail_from == address and sent.rcpt_tos == ["mike@customer.example"] and sent.login == address
    msg = BytesParser(policy=policy.default).parsebytes(sent.data)
    assert msg["Subject"] == "Re: 3 bedroom homes"
    assert msg["In-Reply-To"] == "<first-question@customer.example>"
    assert msg["References"] == "<first-question@customer.example>"
    assert msg["To"] == "Mike Doe <mike@customer.example>"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Hi Mike,\n\nYes! We have two.\n\nWould you like a tour on Saturday?")
    assert "Kind regards,\nThe Lakeside team" in text and "> Do you have a 3 bedroom home?" in text
    [row] = _outbound(db, conversation)
    assert row.status == "sent" and f"<{row.external_id}>" == msg["Message-ID"]
    [copy] = dovecot.messages(address, "Sent")
    assert BytesParser(policy=policy.default).parsebytes(copy)["Message-ID"] == msg["Message-ID"]


def test_customer_answer_to_our_reply_stays_in_the_conversation(db, make, make_inbox, dovecot, smtp_server, workers):
    """The customer's reply to our email (In-Reply-To our Message-ID) joins the same conversation."""
    _, account, address, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    queue_reply(conversation, OutboundReply(text="Yes, we do."))
    workers.run("outbound")
    [row] = _outbound(db, conversation)
    dovecot.deliver(
        address,
        mail("mike@customer.example", address, "Re: 3 bedroom homes", "Great, Saturday at 10?",
             in_reply_to=row.external_id, references=f"<first-question@customer.example> <{row.external_id}>"),
    )  # fmt: skip
    sync_inbox(account)
    db.session.expire_all()
    conversations = db.session.scalars(select(Conversation).where(Conversation.social_account_id == account.id)).all()
    assert len(conversations) == 1
    assert [m.content for m in conversations[0].messages if m.direction == "inbound"][-1] == "Great, Saturday at 10?"


def test_transient_smtp_error_is_retried(db, make, make_inbox, dovecot, smtp_server, workers):
    """A 4xx from the server (greylisting, overload) is retried later, and the reply then goes out once."""
    _, _, _, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    smtp_server.fail_next("451 4.7.1 Greylisted, please try again later")
    queue_reply(conversation, OutboundReply(text="Yes, we do."))
    workers.run("outbound")
    [row] = _outbound(db, conversation)
    assert row.status == "pending" and "451 4.7.1 Greylisted" in row.error
    assert smtp_server.received == []
    workers.run("outbound", fast_forward=True)
    [row] = _outbound(db, conversation)
    assert row.status == "sent" and len(smtp_server.received) == 1


def test_permanent_smtp_error_fails_with_the_servers_words(db, make, make_inbox, dovecot, smtp_server, workers):
    """A 5xx (unknown recipient) marks the reply failed, showing what the server said; nothing is retried."""
    _, _, _, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    smtp_server.fail_next("550 5.1.1 <mike@customer.example>: Recipient address rejected: User unknown", on="rcpt")
    queue_reply(conversation, OutboundReply(text="Yes, we do."))
    workers.run("outbound", fast_forward=True)
    [row] = _outbound(db, conversation)
    assert row.status == "failed"
    assert "550" in row.error and "Recipient address rejected: User unknown" in row.error


def test_reply_over_implicit_tls(db, make, make_inbox, dovecot, smtp_server, workers):
    """SMTP on implicit TLS (465-style) and IMAP on 993-style TLS, certificates verified, work end to end."""
    _, _, address, conversation = _conversation_with_mail(db, make, make_inbox, dovecot, security="ssl")
    queue_reply(conversation, OutboundReply(text="Over TLS."))
    workers.run("outbound")
    assert len(smtp_server.received) == 1 and len(dovecot.messages(address, "Sent")) == 1


def test_wrong_smtp_password_waits_for_reconnection(db, make, make_inbox, dovecot, smtp_server, workers):
    """A refused SMTP sign-in marks the inbox for reconnection and keeps the reply to send afterwards."""
    _, account, _, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    account.access_token = "wrong"
    db.session.commit()
    queue_reply(conversation, OutboundReply(text="Yes."))
    workers.run("outbound")
    [row] = _outbound(db, conversation)
    assert row.status == "pending" and "reconnected" in row.error
    db.session.refresh(account)
    assert account.status == "needs_reauth" and "SMTP sign-in as" in account.last_error


def test_a_persons_reply_is_personal_mail(db, make, make_inbox, dovecot, smtp_server, workers):
    """A reply typed by a team member carries no Auto-Submitted header."""
    biz, _, _, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    queue_reply(conversation, OutboundReply(text="I'll call you tomorrow.", sender_type="human"), user=biz.user)
    workers.run("outbound")
    msg = BytesParser(policy=policy.default).parsebytes(smtp_server.received[0].data)
    assert msg["Auto-Submitted"] is None
    ai_conversation = _conversation_with_mail(db, make, make_inbox, dovecot)[3]
    queue_reply(ai_conversation, OutboundReply(text="Answer."))
    workers.run("outbound")
    assert BytesParser(policy=policy.default).parsebytes(smtp_server.received[1].data)["Auto-Submitted"] == (
        "auto-replied"
    )


CRLF_NAME = "Mike\r\nBcc: everyone@example.com"


def _store_as_before_names_were_cleaned(db, conversation, **email_fields):
    """Write into the customer's message and contact what mail parsed before issue 16 item 7 kept (a From name
    decoding to CR/LF), or a stored address no header can hold."""
    inbound = next(m for m in conversation.messages if m.direction == "inbound")
    meta = dict(inbound.meta or {})
    meta["email"] = {**meta["email"], **email_fields}
    inbound.meta = meta
    conversation.contact.name = CRLF_NAME
    db.session.commit()


def test_a_stored_name_with_a_line_break_does_not_break_the_reply_form(
    db, make, make_inbox, dovecot, smtp_server, workers, app
):
    """A contact whose stored name holds CR/LF: the inbox's reply form answers (it was a 500), and the reply goes out
    to the customer alone, the name made one line (no header injected)."""
    from tests.conftest import csrf_from, login

    biz, _, _, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    _store_as_before_names_were_cleaned(db, conversation, reply_name=CRLF_NAME, from_name=CRLF_NAME)
    client = app.test_client()
    assert login(client, biz.user.email).status_code == 302
    url = f"/admin/inbox/c/{conversation.id}"
    token = csrf_from(client.get(url).get_data(as_text=True))
    response = client.post(f"{url}/reply", data={"csrf_token": token, "text": "Yes, we do."})
    assert response.status_code == 302
    workers.run("outbound")
    [sent] = smtp_server.received
    assert sent.rcpt_tos == ["mike@customer.example"]
    msg = BytesParser(policy=policy.default).parsebytes(sent.data)
    assert msg["To"] == '"Mike Bcc: everyone@example.com" <mike@customer.example>' and msg["Bcc"] is None
    sent_rows = [(r.sender_type, r.status) for r in _outbound(db, conversation) if r.status != "internal"]
    assert sent_rows == [("human", "sent")]  # (the internal row is the take-over note)


def test_an_ai_reply_that_can_never_be_sent_fails_once_with_its_reason(
    db, make, make_inbox, dovecot, smtp_server, workers
):
    """The AI's reply to a stored address no header can hold is marked failed with the reason, shown in the inbox,
    and the reply job ends: no retry of the job, no second attempt, nothing sent."""
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry

    from chatpad.queue import get_queue

    _, _, _, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    _store_as_before_names_were_cleaned(db, conversation, reply_address="mike@customer.example\r\nBcc: x@example.com")
    from chatpad.pipeline import schedule_ai_reply

    schedule_ai_reply(conversation.id)
    workers.run("ai", "outbound", fast_forward=True)
    [row] = _outbound(db, conversation)
    assert row.status == "failed" and row.error.startswith("The reply could not be written:")
    assert smtp_server.received == []
    with workers.app.app_context():
        queue = get_queue("ai")
        assert FailedJobRegistry(queue=queue).count == 0 and ScheduledJobRegistry(queue=queue).count == 0


def test_a_stored_reply_that_cannot_be_read_fails_with_its_reason(db, make, make_inbox, dovecot, smtp_server, workers):
    """A stored reply the sender cannot even hand over (its message is not valid base64: a ValueError) is marked
    failed with the reason once; the ValueError used to crash the send job and leave the row 'sending', for the
    sweeper to try again and again."""
    _, _, _, conversation = _conversation_with_mail(db, make, make_inbox, dovecot)
    [row] = queue_reply(conversation, OutboundReply(text="Yes, we do."))
    row.meta = {**row.meta, "payload": {**row.meta["payload"], "mime": "abc"}}
    db.session.commit()
    workers.run("outbound", fast_forward=True)
    [row] = _outbound(db, conversation)
    assert row.status == "failed" and row.error.startswith("The message could not be sent as written:")
    assert smtp_server.received == []


def test_the_migration_repairs_names_stored_with_line_breaks(db, make):
    """Migration clean_names_1 makes stored contact names one line (names parsed before they were cleaned)."""
    import importlib.util
    from pathlib import Path

    from chatpad.models import Contact

    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0013_clean_names.py"
    spec = importlib.util.spec_from_file_location("clean_names_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    biz = make.business()
    broken = Contact(organization_id=biz.org.id, name=CRLF_NAME)
    fine = Contact(organization_id=biz.org.id, name="Ana Ruiz")
    db.session.add_all([broken, fine])
    db.session.commit()
    with db.engine.begin() as connection:
        assert migration.clean_stored_names(connection) >= 1
    db.session.expire_all()
    assert db.session.get(Contact, broken.id).name == "Mike Bcc: everyone@example.com"
    assert db.session.get(Contact, fine.id).name == "Ana Ruiz"
