"""Telling the team: in-app notifications, one per person, and email to the people who asked for it.

A notification belongs to one user: each person's bell, list and read state are their own (opening one or "Mark all
as read" changes nothing for a colleague). notify_team gives one to each person who should hear about it (team_for:
the organization's active users), notify_user to one person (an assignment). Email goes out from a job on the mail
queue (jobs/alerts.py) through ALERT_SMTP_URL, so a slow mail server never holds up the pipeline; without
ALERT_SMTP_URL notifications stay in-app.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import exists, select

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Conversation, Notification, SocialAccount, User
from chatpad.team import can_see, users_who_see

log = logging.getLogger("chatpad.notify")


def team_for(organization_id: int, *, conversation: Conversation | None = None, account: SocialAccount | None = None):
    """SELECT of the ids of the users who hear about something in this organization (about this conversation or
    account): its active users who may see it (chatpad.team.users_who_see: everyone not limited to locations, and
    the members of its location). The one place that decides."""
    if conversation is not None:
        location_id = conversation.location_id
    elif account is not None:
        location_id = account.location_id
    else:
        return select(User.id).where(User.organization_id == organization_id, User.active.is_(True))
    return users_who_see(organization_id, location_id).with_only_columns(User.id)


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
    skip_user_id: int | None = None,
) -> list[Notification]:
    """A notification for each person on the team (team_for) and, after commit, an email to those who opted in.
    skip_user_id: someone told already in another way (the person a handoff was just assigned to).

    With dedupe, a person who still has an unread notification of the same kind for the same conversation or
    account does not get another (a chatty customer in a taken-over conversation makes one notice each, not fifty);
    someone who has read theirs gets a new one. The caller commits.
    """
    users = team_for(organization_id, conversation=conversation, account=account)
    if skip_user_id is not None:
        users = users.where(User.id != skip_user_id)
    return _notify(organization_id, users, kind, title, body, conversation, account, email=email, dedupe=dedupe)


def notify_location(
    organization_id: int,
    location_id,
    *,
    kind: str,
    title: str,
    body: str | None = None,
    email: bool = True,
) -> list[Notification]:
    """A notification for each person who may see this location (a calendar's trouble: its managers and everyone
    not limited to locations), with email after commit to those who opted in. Not deduplicated: the caller tells
    once per outage. The caller commits."""
    users = users_who_see(organization_id, location_id).with_only_columns(User.id)
    return _notify(organization_id, users, kind, title, body, None, None, email=email, dedupe=False)


def notify_user(
    user: User,
    *,
    kind: str,
    title: str,
    body: str | None = None,
    conversation: Conversation | None = None,
    account: SocialAccount | None = None,
    email: bool = True,
    dedupe: bool = True,
) -> Notification | None:
    """A notification for one person (an active user of the organization), deduplicated as notify_team's, with
    email after commit if they opted in. The caller commits."""
    if not user.active or (conversation is not None and not can_see(user, conversation)):
        return None  # nobody hears about a conversation they may not open
    users = select(User.id).where(User.id == user.id)
    rows = _notify(user.organization_id, users, kind, title, body, conversation, account, email=email, dedupe=dedupe)
    return rows[0] if rows else None


def notify_assigned(
    conversation: Conversation, assignee: User, *, by: User | None = None, note: str | None = None
) -> Notification | None:
    """Tell a person a conversation was assigned to them (by someone else, or automatically when by is None), with
    an optional note (why: a handoff's reason). The caller commits."""
    if by is not None and by.id == assignee.id:
        return None  # you know what you assigned to yourself
    name = conversation.contact.display_name if conversation.contact else "A customer"
    who = f"{by} assigned you" if by is not None else "You were assigned"
    where = conversation.social_account.account_name if conversation.social_account else conversation.channel
    return notify_user(
        assignee,
        kind="assigned",
        title=f"{who} the conversation with {name}",
        body=(f"{note} " if note else "")
        + f"On {where}{' · ' + conversation.location.name if conversation.location else ''}.",
        conversation=conversation,
    )


def _notify(
    organization_id: int,
    users,
    kind: str,
    title: str,
    body: str | None,
    conversation: Conversation | None,
    account: SocialAccount | None,
    *,
    email: bool,
    dedupe: bool,
) -> list[Notification]:
    query = users
    if dedupe and (conversation is not None or account is not None):
        unread = exists().where(
            Notification.user_id == User.id,
            Notification.kind == kind,
            Notification.read_at.is_(None),
        )
        if conversation is not None:
            unread = unread.where(Notification.conversation_id == conversation.id)
        if account is not None:
            unread = unread.where(Notification.social_account_id == account.id)
        query = query.where(~unread)
    rows, wants_email = [], []
    for user_id, notify_email in db.session.execute(query.add_columns(User.notify_email)):
        row = Notification(
            organization_id=organization_id,
            user_id=user_id,
            kind=kind,
            title=title[:300],
            body=body,
            conversation_id=conversation.id if conversation is not None else None,
            social_account_id=account.id if account is not None else None,
        )
        rows.append(row)
        if notify_email:
            wants_email.append(row)
    if not rows:
        return []
    db.session.add_all(rows)
    db.session.flush()
    if email and wants_email and current_app.config.get("ALERT_SMTP_URL"):
        _email_after_commit([row.id for row in wants_email])
    return rows


def _email_after_commit(notification_ids: Iterable[int]) -> None:
    from sqlalchemy import event

    from chatpad.queue import enqueue, job_id

    ids = list(notification_ids)
    session = db.session()

    @event.listens_for(session, "after_commit", once=True)
    def _enqueue(_session) -> None:
        for notification_id in ids:
            try:
                enqueue(
                    "mail", "jobs.alerts.email_notification", notification_id, job_id=job_id("alert", notification_id)
                )
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
    label = {
        "facebook": "Facebook Page",
        "instagram": "Instagram account",
        "email": "Inbox",
        "sms": "SMS number",
        "whatsapp": "WhatsApp number",
    }.get(account.channel, "Account")
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
