"""Email sync throughput: sync a 10,000-message mailbox from Dovecot, beside a floor measured in the same run.

Floor: a raw imaplib session that signs in and UID FETCHes BODY.PEEK[] for every message in batches of the same size
(the bytes any sync must move). Ours: chatpad.pipeline.mail_sync.sync_inbox on a scratch PostgreSQL database —
fetch, parse, Message-ID dedupe, raw copy in webhook_events, pipeline ingest (contact, conversation, message). The
first sync files the mailbox as history, so no AI reply is involved. Needs Debian's dovecot-imapd and PostgreSQL.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from bench.common import redis_url, save, scratch_database, sized

MESSAGES = int(os.environ.get("BENCH_EMAIL_MESSAGES", sized("10000", "60")))
BATCH = 200
SENDERS = 400  # distinct customers, so contacts and conversations are realistic


def message(i: int, to: str) -> bytes:
    sender = f"customer{i % SENDERS}@example.com"
    body = (
        f"Hello,\r\n\r\nI'm interested in lot {i}. Is it still available, and what is the lot rent?\r\n\r\n"
        f"Thanks,\r\nCustomer {i % SENDERS}\r\n\r\nOn Mon, 23 Nov 2026 at 09:00, Forge <{to}> wrote:\r\n"
        "> Thanks for your interest in Forge at the Lake.\r\n"
    )
    return (
        f"From: Customer {i % SENDERS} <{sender}>\r\nTo: {to}\r\nSubject: Lot {i} question\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\nMessage-ID: <bench-{i}@example.com>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def fill(dovecot, address: str) -> None:
    client = imaplib.IMAP4("127.0.0.1", dovecot.imap_port)
    client.login(address, dovecot.passwords[address])
    for i in range(MESSAGES):
        client.append("INBOX", None, None, message(i, address))
    client.logout()


def floor(dovecot, address: str) -> float:
    """Messages per second for a bare imaplib fetch of the whole mailbox."""
    start = time.perf_counter()
    client = imaplib.IMAP4("127.0.0.1", dovecot.imap_port)
    client.login(address, dovecot.passwords[address])
    client.select("INBOX", readonly=True)
    _, data = client.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    fetched = 0
    for i in range(0, len(uids), BATCH):
        chunk = b",".join(uids[i : i + BATCH]).decode()
        _, rows = client.uid("FETCH", chunk, "(BODY.PEEK[])")
        fetched += sum(1 for row in rows if isinstance(row, tuple))
    client.logout()
    elapsed = time.perf_counter() - start
    assert fetched == MESSAGES, f"floor fetched {fetched}"
    return fetched / elapsed


def ours(db_url: str, dovecot, address: str) -> tuple[float, int]:
    from sqlalchemy import func, select

    from chatpad import create_app
    from chatpad.channels.email.settings import MailSettings
    from chatpad.extensions import db
    from chatpad.models import Agent, Location, Message, Organization, SocialAccount
    from chatpad.pipeline.mail_sync import sync_inbox
    from config import DevelopmentConfig

    attachments = tempfile.mkdtemp(prefix="chatpad-bench-attachments-")
    app = create_app(
        DevelopmentConfig,
        SQLALCHEMY_DATABASE_URI=db_url,
        REDIS_URL=redis_url(),
        ATTACHMENT_DIR=attachments,
        MAIL_MAX_MESSAGES_PER_SYNC=MESSAGES * 2,
        MAIL_FETCH_BATCH=BATCH,
        LOG_LEVEL="WARNING",
    )
    with app.app_context():
        org = Organization(name="Bench")
        db.session.add(org)
        db.session.flush()
        agent = Agent(organization_id=org.id, name="Bench agent")
        db.session.add(agent)
        db.session.flush()
        location = Location(agent_id=agent.id, name="Forge")
        db.session.add(location)
        settings = MailSettings(
            address=address, imap_host="127.0.0.1", imap_port=dovecot.imap_port, imap_security="none",
            smtp_host="127.0.0.1", smtp_port=1, smtp_security="none", backfill_days=30,
        )  # fmt: skip
        account = SocialAccount(
            channel="email", account_id=address, account_name=address, agent_id=agent.id, location_id=location.id,
            access_token=dovecot.passwords[address], meta=settings.to_meta(), status="connected", is_active=True,
        )  # fmt: skip
        db.session.add(account)
        db.session.commit()
        start = time.perf_counter()
        result = sync_inbox(account)
        elapsed = time.perf_counter() - start
        assert result.status == "ok", result.error
        stored = db.session.scalar(select(func.count()).select_from(Message))
    shutil.rmtree(attachments, ignore_errors=True)
    return stored / elapsed, stored


def main() -> None:
    from tests.plugins.mail import self_signed_certificate, start_dovecot

    certs = Path(tempfile.mkdtemp(prefix="chatpad-bench-tls-"))
    dovecot = start_dovecot(*self_signed_certificate(certs), "http://127.0.0.1:9/unused")
    try:
        address, _ = dovecot.add_user("bench@mhpcommunities.com")
        t0 = time.perf_counter()
        fill(dovecot, address)
        print(f"  filled {MESSAGES} messages in {time.perf_counter() - t0:.1f} s")
        floor_rate = floor(dovecot, address)
        with scratch_database() as db_url:
            rate, stored = ours(db_url, dovecot, address)
    finally:
        dovecot.stop()
        shutil.rmtree(dovecot.root, ignore_errors=True)
        shutil.rmtree(certs, ignore_errors=True)
    result = {"messages": MESSAGES, "stored": stored, "floor_msgs_per_s": floor_rate, "sync_msgs_per_s": rate,
              "ratio": rate / floor_rate}  # fmt: skip
    print(f"email sync of a {MESSAGES}-message mailbox from Dovecot (one inbox, one worker)")
    print(f"  floor (imaplib UID FETCH BODY.PEEK[]): {floor_rate:9.0f} messages/s")
    share = f"{rate / floor_rate:.1%} of the floor"
    print(f"  chatpad sync (fetch, parse, store, ingest): {rate:6.0f} messages/s  ({share})")
    print(f"  stored {stored} of {MESSAGES} (must be equal)")
    save("email_sync", result)


if __name__ == "__main__":
    main()
