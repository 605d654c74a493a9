"""Account jobs: the daily health check of every Meta account and the refresh of expiring tokens.

The scheduler runs the two fan-out jobs (jobs/scheduler.py); each account is then checked or refreshed in its own job
with a deterministic id, so one slow account never delays the others and a restart never checks an account twice in
a day. The logic lives in chatpad.integrations.health.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from chatpad.extensions import db
from chatpad.models import SocialAccount, utcnow
from chatpad.queue import get_queue, get_redis, job_id
from jobs import app_context

log = logging.getLogger("chatpad.jobs.accounts")


def _enqueue_once(func: str, account_id, key: str) -> bool:
    """Queue func(account_id) on the default queue unless the same job is queued or running now."""
    try:
        job = Job.fetch(key, connection=get_redis())
        if job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED):
            return False
    except NoSuchJobError:
        pass
    queue = get_queue("default")
    queue.connection.delete(f"rq:job:{key}")  # a finished job of that id would block the new one
    queue.enqueue(func, str(account_id), job_id=key, result_ttl=300, failure_ttl=86400)
    return True


def check_accounts_health() -> int:
    """Queue a health check for every live Facebook Page and Instagram account not checked within the interval."""
    with app_context():
        interval = int(current_app.config.get("ACCOUNT_HEALTH_INTERVAL", 86400))
        # A little slack, so a check that ran a few minutes late yesterday is not skipped today.
        cutoff = utcnow() - timedelta(seconds=interval * 0.9)
        accounts = db.session.scalars(
            select(SocialAccount)
            .where(
                SocialAccount.channel.in_(("facebook", "instagram")),
                SocialAccount.is_active.is_(True),
                SocialAccount.status != "disconnected",
            )
            .order_by(SocialAccount.id)
        )
        queued = 0
        for account in accounts:
            checked = ((account.meta or {}).get("health") or {}).get("checked_at")
            if checked and checked > cutoff.isoformat():
                continue
            if _enqueue_once("jobs.accounts.check_account_health", account.id, job_id("health", account.id)):
                queued += 1
        if queued:
            log.info("queued %d account health checks", queued)
        return queued


def check_account_health(account_id: str) -> str:
    """Check one account (debug_token, permissions, webhook subscription) and act on it. Returns the status."""
    from chatpad.integrations.health import check_account

    with app_context():
        account = db.session.get(SocialAccount, uuid.UUID(str(account_id)))
        if account is None:
            return "gone"
        result = check_account(account)
        log.info("health of %s %s: %s %s", account.channel, account.account_id, result.status, result.reason or "")
        return result.status


def refresh_expiring_tokens() -> int:
    """Queue a refresh for every token that expires soon and can be refreshed (Instagram Login tokens)."""
    from chatpad.integrations.health import needs_refresh

    with app_context():
        accounts = db.session.scalars(
            select(SocialAccount).where(
                SocialAccount.channel == "instagram",
                SocialAccount.is_active.is_(True),
                SocialAccount.status.notin_(("disconnected", "needs_reauth")),
                SocialAccount.token_expires_at.is_not(None),
            )
        )
        queued = 0
        for account in accounts:
            if needs_refresh(account) and _enqueue_once(
                "jobs.accounts.refresh_account_token", account.id, job_id("refresh", account.id)
            ):
                queued += 1
        return queued


def refresh_account_token(account_id: str) -> str:
    """Refresh one account's token now: "refreshed", "needs_reauth", "retry" or "skipped"."""
    from chatpad.integrations.health import needs_refresh, refresh_instagram_token

    with app_context():
        account = db.session.get(SocialAccount, uuid.UUID(str(account_id)))
        if account is None or not needs_refresh(account):
            return "skipped"
        return refresh_instagram_token(account)
