"""Telling the team: in-app notifications, and email to the users who asked for it.

Email goes out from a job on the mail queue (jobs/alerts.py) through ALERT_SMTP_URL, so a slow mail server never
holds up the pipeline; without ALERT_SMTP_URL notifications stay in-app.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Conversation, Notification, SocialAccount

log = logging.getLogger("chatpad.notify")


def notify_team(
    organization_id: int,
    *,
    kind: str,
    title: str,
    body: str | None = None,
    conversation: Conversation | None = None,
    account: SocialAccount | None = None,
    email: bool = True,
    dedupe: bool = True,
) -> Notification | None:
    """Add an in-app notification for the organization and, after commit, email the users who opted in.

    With dedupe, an unread notification of the same kind for the same conversation or account is not repeated
    (a chatty customer in a taken-over conversation makes one notice, not fifty). The caller commits.
    """
    if dedupe and (conversation is not None or account is not None):
        query = select(Notification.id).where(
            Notification.organization_id == organization_id,
            Notification.kind == kind,
            Notification.read_at.is_(None),
        )
        if conversation is not None:
            query = query.where(Notification.conversation_id == conversation.id)
        if account is not None:
            query = query.where(Notification.social_account_id == account.id)
        if db.session.scalar(query.limit(1)) is not None:
            return None
    notification = Notification(
        organization_id=organization_id,
        kind=kind,
        title=title[:300],
        body=body,
        conversation_id=conversation.id if conversation is not None else None,
        social_account_id=account.id if account is not None else None,
    )
    db.session.add(notification)
    db.session.flush()
    if email and current_app.config.get("ALERT_SMTP_URL"):
        _email_after_commit(notification.id)
    return notification


def _email_after_commit(notification_id: int) -> None:
    from sqlalchemy import event

    from chatpad.queue import enqueue, job_id

    session = db.session()

    @event.listens_for(session, "after_commit", once=True)
    def _enqueue(_session) -> None:
        try:
            enqueue("mail", "jobs.alerts.email_notification", notification_id, job_id=job_id("alert", notification_id))
        except Exception:
            log.warning("could not queue the alert email for notification %s", notification_id, exc_info=True)


def account_needs_reauth(account: SocialAccount, reason: str) -> bool:
    """Mark an account for reconnection and alert its organization, once per outage. The caller commits.

    Returns True when this call changed the account's state (the first failure), False if it was already marked.
    Messages that arrive or wait meanwhile are kept and sent after the account is reconnected.
    """
    if account.status == "needs_reauth":
        return False
    account.mark_needs_reauth(reason)
    org_id = account.organization_id
    label = {"facebook": "Facebook Page", "instagram": "Instagram account", "email": "Inbox"}.get(
        account.channel, "Account"
    )
    notify_team(
        org_id,
        kind="account_needs_reauth",
        title=f"{label} {account.account_name} needs to be reconnected",
        body=f"{reason} Open Integrations and press Reconnect; messages are kept and answered after.",
        account=account,
    )
    record_audit(
        "account.needs_reauth",
        organization_id=org_id,
        target=account,
        detail={"reason": reason, "channel": account.channel},
    )
    log.warning("account %s (%s) needs reconnection: %s", account.id, account.channel, reason)
    return True
