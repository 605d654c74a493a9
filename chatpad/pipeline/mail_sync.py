"""The IMAP sync of one inbox: fetch what is new by UID through the email adapter, store the raw message, and hand
each to ingest. The pipeline drives it; the adapter (chatpad/channels/email) only talks IMAP and parses.

High-water mark per inbox (EmailSyncState): UIDVALIDITY + the last UID stored, advanced only after the raw message
is safely in webhook_events, so nothing is missed after downtime. The first sync reaches back over the admin's
backfill window and files what it finds as history (stored, not answered). A changed UIDVALIDITY voids the old UIDs:
the sync looks again over the recent past and Message-ID dedupe (unique per inbox) keeps it free of duplicates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import select

from chatpad.channels.email import oauth
from chatpad.channels.email.adapter import attachment_key, event_from_parsed
from chatpad.channels.email.imap import ImapSession
from chatpad.channels.email.mailer import credentials
from chatpad.channels.email.parsing import ParsedEmail, parse_email, with_trace
from chatpad.channels.email.transport import MailError
from chatpad.extensions import db
from chatpad.models import Attachment, EmailSyncState, Message, WebhookEvent, utcnow
from chatpad.notify import account_needs_reauth

from .ingest import ingest

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

log = logging.getLogger("chatpad.email.sync")

MAX_BACKOFF = timedelta(hours=1)


@dataclass
class SyncResult:
    """What one sync run did (the job returns it; the admin's health view reads EmailSyncState)."""

    status: str = "ok"  # ok | error | needs_reauth | skipped
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    uidvalidity_changed: bool = False
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def sync_state(account: SocialAccount) -> EmailSyncState:
    state = db.session.get(EmailSyncState, account.id)
    if state is None:
        state = EmailSyncState(social_account_id=account.id, last_uid=0, history_uid=0, failures=0, messages_synced=0)
        db.session.add(state)
        db.session.flush()
    return state


def sync_inbox(account: SocialAccount) -> SyncResult:
    """One sync run. Never raises for a mail-server problem: it is recorded on the inbox and backed off."""
    state = sync_state(account)
    state.last_sync_at = utcnow()
    db.session.commit()
    result = SyncResult()
    try:
        settings, secret = credentials(account)
        with ImapSession(settings, secret) as imap:
            _sync_folder(account, state, imap, settings.folder, settings.backfill_days, result)
    except oauth.OAuthGrantError as exc:
        db.session.rollback()
        account_needs_reauth(account, str(exc))
        _record_failure(state, str(exc))
        result.status, result.error = "needs_reauth", str(exc)
        return result
    except (oauth.OAuthTemporaryError, MailError) as exc:
        db.session.rollback()
        message = str(exc)
        if isinstance(exc, MailError) and exc.step == "auth" and not exc.transient:
            # The password (or token) was refused: a person must fix it; polling harder will not.
            account_needs_reauth(account, message)
            result.status = "needs_reauth"
        else:
            result.status = "error"
        _record_failure(state, message, account)
        result.error = message
        log.warning("sync of %s failed: %s", account.account_id, message)
        return result
    state.failures = 0
    state.last_error = None
    state.next_attempt_at = None
    state.last_success_at = utcnow()
    if account.status == "error":
        account.mark_healthy()
    db.session.commit()
    return result


# After this many failed syncs in a row the inbox shows as failing (a red dot on Integrations) with the reason.
FAILURES_BEFORE_ERROR = 3


def _record_failure(state: EmailSyncState, message: str, account: SocialAccount | None = None) -> None:
    state = db.session.merge(state)
    state.failures = (state.failures or 0) + 1
    state.last_error = message[:2000]
    if account is not None and account.status == "connected" and state.failures >= FAILURES_BEFORE_ERROR:
        account.status, account.last_error = "error", message[:2000]
    interval = timedelta(seconds=int(current_app.config.get("MAIL_SYNC_INTERVAL", 60)))
    state.next_attempt_at = utcnow() + min(interval * (2 ** min(state.failures, 10)), MAX_BACKOFF)
    db.session.commit()


def _sync_folder(
    account: SocialAccount, state: EmailSyncState, imap: ImapSession, folder: str, backfill_days: int, result
) -> None:
    cfg = current_app.config
    info = imap.select(folder, readonly=True)
    now = utcnow()
    if state.uidvalidity is None or state.folder != folder:
        uids = imap.uids_since((now - timedelta(days=backfill_days)).date()) if backfill_days else []
        # Everything already in the mailbox when it was connected is history, even if the backfill takes several
        # runs (MAIL_MAX_MESSAGES_PER_SYNC): kept, never answered. A UID boundary, so the clock cannot blur it.
        state.history_uid = (info["uidnext"] - 1) if info["uidnext"] else max(imap.uids_after(0) or [0])
        state.history_before = None
        if not uids:
            # Nothing inside the window: start after what is there, so older mail is never imported later.
            state.last_uid = state.history_uid
        state.folder = folder
    elif state.uidvalidity != info["uidvalidity"]:
        # Old UIDs are void (RFC 3501 §2.3.1.1). Look again over the time since the last good sync (and the
        # backfill window at least); Message-ID dedupe drops what we already have.
        result.uidvalidity_changed = True
        state.uidvalidity_changes = (state.uidvalidity_changes or 0) + 1
        since = min(state.last_success_at or now, now - timedelta(days=max(backfill_days, 1)))
        uids = imap.uids_since((since - timedelta(days=1)).date())
        # The old UIDs (and the UID boundary) mean nothing now: mail the server received before our last good sync
        # is history; what came in since is answered.
        state.history_uid = 0
        state.history_before = state.last_success_at
        log.warning(
            "UIDVALIDITY of %s/%s changed (%s → %s): resyncing %d messages by Message-ID",
            account.account_id, folder, state.uidvalidity, info["uidvalidity"], len(uids),
        )  # fmt: skip
        state.last_uid = 0
    else:
        uids = imap.uids_after(state.last_uid or 0)
    state.uidvalidity = info["uidvalidity"]
    db.session.commit()

    limit = int(cfg.get("MAIL_MAX_MESSAGES_PER_SYNC", 2000))
    batch = int(cfg.get("MAIL_FETCH_BATCH", 200))
    for uid, raw, internal in imap.fetch(uids[:limit], batch=batch):
        result.fetched += 1
        history = uid <= (state.history_uid or 0) or (
            state.history_before is not None and (internal or now) < state.history_before
        )
        status = store_message(account, raw, uid=f"{state.uidvalidity}:{uid}", received=internal, history=history)
        result.counts[status] = result.counts.get(status, 0) + 1
        if status == "duplicate":
            result.duplicates += 1
        elif status == "failed":
            result.failed += 1
        else:
            result.stored += 1
        state.last_uid = max(state.last_uid or 0, uid)
        state.messages_synced = (state.messages_synced or 0) + (status != "duplicate")
        if result.fetched % batch == 0:
            # The mark is saved once per batch: after a crash the rest of a batch is fetched again and skipped by
            # Message-ID, so nothing is lost and nothing doubles.
            db.session.commit()
    db.session.commit()


def store_message(
    account: SocialAccount, raw: bytes, *, uid: str | None = None, received: datetime | None = None, history=False
) -> str:
    """Store one fetched message and feed it to the pipeline. Returns stored | duplicate | ignored | failed.

    The raw bytes go to webhook_events first (the durable log); if the pipeline then fails, the event stays pending
    and the sweeper processes it again, so a message is never lost once its UID has been passed."""
    body = with_trace(raw, inbox=account.account_id, uid=uid, received=received, backfill=history)
    parsed = parse_email(body)
    exists = db.session.scalar(
        select(Message.id).where(Message.channel_account_id == account.id, Message.external_id == parsed.message_id)
    )
    if exists is not None:
        return "duplicate"
    # The raw event is written in the same transaction as the message ingest commits (one commit per message); if the
    # pipeline fails, the event is written on its own as pending, so the sweeper processes it again.
    event_row = WebhookEvent(channel="email", body=body, status="processed", attempts=1, processed_at=utcnow())
    db.session.add(event_row)
    db.session.flush()
    try:
        save_attachment_files(parsed)
        result = ingest(event_from_parsed(parsed, backfill=history), raw_event_id=event_row.id)
        if result.message_id is not None and parsed.attachments:
            record_attachments(result.message_id, parsed)
        if result.status not in ("stored", "duplicate"):
            event_row.status, event_row.error = "ignored", result.reason
        db.session.commit()
        return "duplicate" if result.status == "duplicate" else ("ignored" if result.status == "ignored" else "stored")
    except Exception as exc:  # one bad message must not stop the inbox; the sweeper retries its stored event
        db.session.rollback()
        log.exception("message %s of %s could not be ingested", parsed.message_id, account.account_id)
        db.session.add(
            WebhookEvent(
                channel="email", body=body, status="pending", attempts=1, error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        )
        db.session.commit()
        return "failed"


def save_attachment_files(parsed: ParsedEmail) -> None:
    """Write each attachment under ATTACHMENT_DIR by content hash (idempotent: the same bytes, the same file)."""
    root = Path(current_app.config["ATTACHMENT_DIR"])
    for item in parsed.attachments:
        path = root / attachment_key(item.sha256)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(item.data)
        tmp.replace(path)


def record_attachments(message_id: int, parsed: ParsedEmail) -> None:
    """The attachments table rows for a stored message (listed in the inbox, downloadable)."""
    if not parsed.attachments:
        return
    have = set(db.session.scalars(select(Attachment.sha256).where(Attachment.message_id == message_id)))
    for item in parsed.attachments:
        if item.sha256 in have:
            continue
        have.add(item.sha256)
        db.session.add(
            Attachment(
                message_id=message_id,
                filename=item.filename,
                content_type=item.content_type[:200],
                size=item.size,
                storage_key=attachment_key(item.sha256),
                content_id=item.content_id[:300] if item.content_id else None,
                inline=item.inline,
                sha256=item.sha256,
            )
        )
