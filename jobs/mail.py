"""Mail jobs (queue mail): the IMAP sync of every inbox, and OAuth token refresh before expiry.

The scheduler runs the two fan-out jobs; each inbox then syncs (or refreshes) in its own job with its own timeout
and a deterministic job id, so a slow or broken inbox never delays the others and never piles up behind itself.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import or_, select

from chatpad.extensions import db
from chatpad.models import EmailSyncState, SocialAccount, utcnow
from chatpad.queue import get_queue, get_redis, job_id
from jobs import app_context

log = logging.getLogger("chatpad.jobs.mail")


def _active(job_key: str) -> bool:
    try:
        job = Job.fetch(job_key, connection=get_redis())
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED)


def _enqueue_once(func: str, account_id, key: str, timeout: int) -> bool:
    """Queue func(account_id) unless the same job is already queued or running."""
    if _active(key):
        return False
    queue = get_queue("mail")
    queue.connection.delete(f"rq:job:{key}")  # a finished job of that id would block the new one
    queue.enqueue(func, str(account_id), job_id=key, job_timeout=timeout, result_ttl=300, failure_ttl=3600)
    return True


def _email_accounts():
    return (
        select(SocialAccount)
        .where(
            SocialAccount.channel == "email",
            SocialAccount.is_active.is_(True),
            SocialAccount.status.notin_(("needs_reauth", "disconnected")),
        )
        .order_by(SocialAccount.id)
    )


def sync_all_inboxes() -> int:
    """Queue one sync job per active inbox that is due (broken ones wait out their backoff). Returns how many."""
    with app_context():
        now = utcnow()
        timeout = int(current_app.config.get("MAIL_SYNC_JOB_TIMEOUT", 300))
        rows = db.session.execute(
            _email_accounts()
            .outerjoin(EmailSyncState, EmailSyncState.social_account_id == SocialAccount.id)
            .where(or_(EmailSyncState.next_attempt_at.is_(None), EmailSyncState.next_attempt_at <= now))
            .with_only_columns(SocialAccount.id)
        ).scalars()
        queued = sum(_enqueue_once("jobs.mail.sync_inbox", aid, job_id("mail-sync", aid), timeout) for aid in rows)
        if queued:
            log.info("queued %d inbox syncs", queued)
        return queued


def sync_inbox(account_id: str) -> dict:
    """Sync one inbox now (see chatpad.pipeline.mail_sync). Returns what it did."""
    from chatpad.pipeline.mail_sync import sync_inbox as run_sync

    with app_context():
        account = db.session.get(SocialAccount, uuid.UUID(str(account_id)))
        if account is None or account.channel != "email" or not account.is_active:
            return {"status": "skipped"}
        result = run_sync(account)
        log.info(
            "synced %s: %s (fetched %d, stored %d, duplicates %d, failed %d)",
            account.account_id, result.status, result.fetched, result.stored, result.duplicates, result.failed,
        )  # fmt: skip
        return {"status": result.status, "fetched": result.fetched, "stored": result.stored, "error": result.error}


def refresh_mail_tokens() -> int:
    """Queue a refresh for every OAuth inbox whose access token expires within MAIL_TOKEN_REFRESH_MARGIN."""
    with app_context():
        margin = int(current_app.config.get("MAIL_TOKEN_REFRESH_MARGIN", 600))
        soon = utcnow() + timedelta(seconds=margin)
        accounts = db.session.scalars(
            _email_accounts().where(
                SocialAccount.refresh_token.is_not(None),
                or_(SocialAccount.token_expires_at.is_(None), SocialAccount.token_expires_at <= soon),
            )
        ).all()
        queued = 0
        for account in accounts:
            if (account.meta or {}).get("provider") in ("google", "microsoft"):
                queued += _enqueue_once(
                    "jobs.mail.refresh_mail_token", account.id, job_id("mail-token", account.id), 60
                )
        return queued


def refresh_mail_token(account_id: str) -> str:
    """Refresh one inbox's OAuth token; a dead grant marks the inbox for reconnection and alerts the admins."""
    from chatpad.channels.email import oauth

    with app_context():
        account = db.session.get(SocialAccount, uuid.UUID(str(account_id)))
        if account is None or account.status == "needs_reauth":
            return "skipped"
        return oauth.refresh_account(account)
