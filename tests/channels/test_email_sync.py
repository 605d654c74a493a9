"""IMAP sync against a real Dovecot: new mail reaches the inbox once, after downtime too; noise is never answered."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import func, select

from chatpad.models import Attachment, Contact, Conversation, EmailSyncState, Message, Notification, SocialAccount
from chatpad.pipeline.mail_sync import sync_inbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"


def mail(
    sender: str,
    to: str,
    subject: str,
    body: str = "Hello, is a 3 bedroom home available?",
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
    name: str = "Pat Customer",
) -> bytes:
    """A plain customer email as CRLF bytes."""
    import uuid

    lines = [
        f"From: {name} <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date or datetime.now(UTC))}",
        f"Message-ID: <{message_id or uuid.uuid4().hex + '@customer.example'}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append(f"References: {references}")
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


def fixture_crlf(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def inbound(db, account) -> list[Message]:
    return list(
        db.session.scalars(
            select(Message).where(Message.channel_account_id == account.id, Message.direction == "inbound")
        )
    )


def test_new_mail_becomes_a_conversation_once(db, make, make_inbox, dovecot, workers):
    """A customer's email lands in the unified inbox as a conversation with subject and contact; a second sync adds
    nothing."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    assert sync_inbox(account).status == "ok"  # first sync of an empty inbox: the high-water mark is set
    dovecot.deliver(address, mail("pat@customer.example", address, "3 bedroom homes?"))
    result = sync_inbox(account)
    assert (result.status, result.stored) == ("ok", 1)
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    assert conversation.subject == "3 bedroom homes?" and conversation.location_id == biz.location.id
    contact = db.session.get(Contact, conversation.contact_id)
    assert contact.email == "pat@customer.example" and contact.name == "Pat Customer"
    [message] = inbound(db, account)
    assert message.content == "Hello, is a 3 bedroom home available?"
    assert workers.queued("ai") == 1  # the AI is asked to answer
    assert sync_inbox(account).stored == 0
    assert count(db, Message, Message.channel_account_id == account.id) == 1


def test_first_sync_files_the_backfill_window_as_history(db, make, make_inbox, dovecot, workers):
    """The first sync reaches back over the admin's window only, and what it finds is stored but not answered."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location, backfill_days=7)
    now = datetime.now(UTC)
    dovecot.deliver(address, mail("old@customer.example", address, "Old"), when=now - timedelta(days=20))
    dovecot.deliver(address, mail("recent@customer.example", address, "Recent"), when=now - timedelta(days=3))
    result = sync_inbox(account)
    assert result.stored == 1
    [message] = inbound(db, account)
    assert message.meta["no_reply_reason"] == "backfill"
    assert workers.queued("ai") == 0
    assert sync_inbox(account).stored == 0  # the older mail stays out on later runs too


def test_mail_older_than_an_empty_window_is_never_imported(db, make, make_inbox, dovecot):
    """With nothing inside the backfill window, later syncs start after what was there, not from the beginning."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location, backfill_days=7)
    dovecot.deliver(address, mail("old@customer.example", address, "Old"), when=datetime.now(UTC) - timedelta(days=30))
    assert sync_inbox(account).stored == 0
    dovecot.deliver(address, mail("new@customer.example", address, "New"))
    assert sync_inbox(account).stored == 1
    assert [m.meta.get("sender_id") for m in inbound(db, account)] == ["new@customer.example"]


def test_a_backfill_spread_over_several_runs_is_all_history(db, make, make_inbox, dovecot, workers, app):
    """A big first backfill (more than one run's worth) is history to the last message: the AI answers none of it,
    and mail arriving after the connection is answered."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    earlier = datetime.now(UTC) - timedelta(hours=2)
    for i in range(5):
        dovecot.deliver(address, mail(f"h{i}@customer.example", address, f"Old {i}"), when=earlier)
    app.config["MAIL_MAX_MESSAGES_PER_SYNC"] = 2
    try:
        assert [sync_inbox(account).stored for _ in range(3)] == [2, 2, 1]
        dovecot.deliver(address, mail("new@customer.example", address, "New question"))
        assert sync_inbox(account).stored == 1
    finally:
        app.config["MAIL_MAX_MESSAGES_PER_SYNC"] = 2000
    reasons = [(m.meta or {}).get("no_reply_reason") for m in inbound(db, account)]
    assert reasons.count("backfill") == 5 and reasons.count(None) == 1
    assert workers.queued("ai") == 1


def test_nothing_is_missed_after_downtime(db, make, make_inbox, dovecot):
    """Mail that arrived while ChatPad was down is all picked up by UID on the next sync, in order."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    sync_inbox(account)
    for i in range(5):
        dovecot.deliver(address, mail(f"c{i}@customer.example", address, f"Question {i}"))
    result = sync_inbox(account)
    assert result.stored == 5
    state = db.session.get(EmailSyncState, account.id)
    assert state.last_uid == 5 and state.failures == 0 and state.last_success_at is not None


def test_uidvalidity_change_resyncs_without_duplicates(db, make, make_inbox, dovecot):
    """A server rebuild (new UIDVALIDITY) re-reads the recent mail; what we had is not stored twice, new mail is."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    sync_inbox(account)
    dovecot.deliver(address, mail("a@customer.example", address, "A"))
    dovecot.deliver(address, mail("b@customer.example", address, "B"))
    assert sync_inbox(account).stored == 2
    old = db.session.get(EmailSyncState, account.id).uidvalidity
    dovecot.set_uidvalidity(address, old + 1000)
    dovecot.deliver(address, mail("c@customer.example", address, "C"))
    result = sync_inbox(account)
    assert result.uidvalidity_changed and result.stored == 1 and result.duplicates == 2
    state = db.session.get(EmailSyncState, account.id)
    assert state.uidvalidity == old + 1000 and state.uidvalidity_changes == 1
    assert count(db, Message, Message.channel_account_id == account.id) == 3


def test_message_id_dedupe_is_per_inbox(db, make, make_inbox, dovecot):
    """The same mail twice in one inbox is one message; the same mail in two inboxes is one message in each."""
    biz = make.business()
    first, first_address = make_inbox(biz.agent, biz.location)
    second, second_address = make_inbox(biz.agent, None)
    sync_inbox(first)
    sync_inbox(second)
    raw = mail("cc@customer.example", f"{first_address}, {second_address}", "To both", message_id="same-1@x.example")
    dovecot.deliver(first_address, raw)
    dovecot.deliver(first_address, raw)
    dovecot.deliver(second_address, raw)
    assert (sync_inbox(first).stored, sync_inbox(second).stored) == (1, 1)
    assert len(inbound(db, first)) == 1 and len(inbound(db, second)) == 1


def test_noise_is_stored_but_never_answered(db, make, make_inbox, dovecot, workers):
    """Auto-replies, bounces, lists, no-reply senders and our own mail are in the inbox, and the AI stays silent."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    sync_inbox(account)
    for name in (
        "message__auto_reply",
        "message__bounce",
        "message__mailing_list",
        "message__no_reply_sender",
        "message__newsletter_reply",
    ):
        dovecot.deliver(address, fixture_crlf(name))
    dovecot.deliver(address, mail(address, "someone@customer.example", "Copy of what we sent"))
    assert sync_inbox(account).stored == 6
    reasons = sorted((m.meta or {}).get("no_reply_reason") or "-" for m in inbound(db, account))
    assert reasons == ["-", "auto_reply", "bounce", "mailing_list", "no_reply_sender", "own_message"]
    assert workers.queued("ai") == 1  # only the newsletter reply, a real customer question


def test_attachments_are_stored_and_listed(db, make, make_inbox, dovecot, app):
    """Attachments and inline images are saved under ATTACHMENT_DIR and listed with the message."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    sync_inbox(account)
    dovecot.deliver(address, fixture_crlf("message__attachments"))
    sync_inbox(account)
    [message] = inbound(db, account)
    rows = {a.filename: a for a in db.session.scalars(select(Attachment).where(Attachment.message_id == message.id))}
    assert set(rows) == {"leak.png", "application.pdf"}
    assert rows["leak.png"].inline and rows["leak.png"].content_id == "leak-photo@example.net"
    stored = Path(app.config["ATTACHMENT_DIR"]) / rows["application.pdf"].storage_key
    assert stored.read_bytes().startswith(b"%PDF-1.4")
    assert {m["name"] for m in message.media} == {"leak.png", "application.pdf"}


def test_attachments_download_only_within_the_organization(db, make, make_inbox, dovecot, live_server):
    """A team member downloads an attachment of their organization; another business gets a 404."""
    import requests

    from tests.conftest import csrf_from
    from tests.factories import PASSWORD

    def browser(email: str) -> requests.Session:
        session = requests.Session()
        page = session.get(f"{live_server.url}/login", timeout=10).text
        session.post(f"{live_server.url}/login", data={"email": email, "password": PASSWORD,
                                                       "csrf_token": csrf_from(page)}, timeout=10)  # fmt: skip
        return session

    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    sync_inbox(account)
    dovecot.deliver(address, fixture_crlf("message__attachments"))
    sync_inbox(account)
    pdf = db.session.scalar(select(Attachment).where(Attachment.filename == "application.pdf"))
    response = browser(biz.user.email).get(f"{live_server.url}/attachments/{pdf.id}", timeout=10)
    assert response.status_code == 200 and response.content.startswith(b"%PDF-1.4")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    other = make.business()
    assert browser(other.user.email).get(f"{live_server.url}/attachments/{pdf.id}", timeout=10).status_code == 404


def test_a_broken_or_slow_inbox_never_stalls_the_others(db, make, make_inbox, dovecot, workers, app):
    """One inbox pointing at a dead port and one at a server that never answers fail on their own, with backoff;
    the healthy inbox is synced in the same round."""
    biz = make.business()
    good, good_address = make_inbox(biz.agent, biz.location)
    dead, _ = make_inbox(biz.agent, None)
    slow, _ = make_inbox(biz.agent, None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # closed again: nothing listens there
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts, never greets
    try:
        for account, port in ((dead, dead_port), (slow, silent.getsockname()[1])):
            account.meta = {**account.meta, "imap_port": port, "imap_security": "none"}
        db.session.commit()
        dovecot.deliver(good_address, mail("pat@customer.example", good_address, "Hi"))
        app.config["MAIL_TIMEOUT"] = 1.0
        from jobs.mail import sync_all_inboxes

        assert sync_all_inboxes() == 3
        workers.run("mail")
    finally:
        silent.close()
    db.session.expire_all()
    assert len(inbound(db, good)) == 1  # found by the first sync (its backfill), filed as history
    good_state = db.session.get(EmailSyncState, good.id)
    assert good_state.failures == 0 and good_state.last_success_at is not None
    dead_state = db.session.get(EmailSyncState, dead.id)
    assert dead_state.failures == 1 and "Could not connect to IMAP server" in dead_state.last_error
    assert dead_state.next_attempt_at > datetime.now(UTC)
    slow_state = db.session.get(EmailSyncState, slow.id)
    assert slow_state.failures == 1 and "did not answer in time" in slow_state.last_error
    # Next round: the broken ones wait out their backoff; the healthy one is due again.
    assert sync_all_inboxes() == 1
    # Failing again and again, the inbox shows as failing on Integrations, with the reason.
    for _ in range(2):
        sync_inbox(db.session.get(SocialAccount, dead.id))
    db.session.expire_all()
    assert db.session.get(SocialAccount, dead.id).status == "error"
    assert "Could not connect to IMAP server" in db.session.get(SocialAccount, dead.id).last_error


def test_wrong_password_asks_for_reconnection(db, make, make_inbox):
    """A refused password marks the inbox for reconnection and tells the admins, instead of retrying forever."""
    biz = make.business()
    account, _ = make_inbox(biz.agent, biz.location)
    account.access_token = "not-the-password"
    db.session.commit()
    result = sync_inbox(account)
    assert result.status == "needs_reauth"
    account = db.session.get(SocialAccount, account.id)
    assert account.status == "needs_reauth" and "IMAP sign-in as" in account.last_error
    notice = db.session.scalar(select(Notification).where(Notification.social_account_id == account.id))
    assert notice.kind == "account_needs_reauth" and account.account_id in notice.title


def test_sync_over_implicit_tls(db, make, make_inbox, dovecot):
    """An inbox on implicit TLS (993-style) syncs, with the server's certificate verified."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location, security="ssl")
    sync_inbox(account)
    dovecot.deliver(address, mail("tls@customer.example", address, "Over TLS"))
    assert sync_inbox(account).stored == 1


def test_two_syncs_at_once_store_each_message_once(db, make, make_inbox, dovecot, app):
    """Two workers syncing the same inbox at the same moment still store every message once."""
    biz = make.business()
    account, address = make_inbox(biz.agent, biz.location)
    sync_inbox(account)
    for i in range(6):
        dovecot.deliver(address, mail(f"p{i}@customer.example", address, f"Q{i}"))
    errors: list[BaseException] = []
    account_id = account.id

    def run() -> None:
        with app.app_context():
            try:
                from chatpad.extensions import db as _db

                sync_inbox(_db.session.get(SocialAccount, account_id))
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    db.session.expire_all()
    assert count(db, Message, Message.channel_account_id == account.id) == 6
