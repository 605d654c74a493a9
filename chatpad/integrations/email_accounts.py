"""Connecting an inbox: the one place that creates or updates an email SocialAccount (CLI, OAuth callback, screens).

Secrets go to the encrypted access_token/refresh_token columns; host, port, security, provider and backfill window go
to metadata. Reconnecting an inbox that needed it clears the flag and sends what waited for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from chatpad.audit import record_audit
from chatpad.channels.email.settings import MailSettings
from chatpad.extensions import db
from chatpad.models import Agent, EmailSyncState, Location, SocialAccount
from chatpad.pipeline import resume_account


class ConnectError(ValueError):
    """The inbox cannot be connected as asked (another organization owns it, the location is not the agent's…)."""


def connect_inbox(
    agent: Agent,
    location: Location | None,
    settings: MailSettings,
    *,
    password: str | None = None,
    access_token: str | None = None,
    refresh_token: str | None = None,
    expires_at: datetime | None = None,
    name: str | None = None,
    user_id: int | None = None,
) -> SocialAccount:
    """Create or update the inbox's account; commits. A password connects by app password, tokens by OAuth."""
    if location is not None and location.agent_id != agent.id:
        raise ConnectError(f"location {location.name!r} does not belong to agent {agent.name!r}")
    account = db.session.scalar(
        select(SocialAccount).where(SocialAccount.channel == "email", SocialAccount.account_id == settings.address)
    )
    if account is not None and account.agent_id != agent.id:
        owner = db.session.get(Agent, account.agent_id) if account.agent_id else None
        if owner is None or owner.organization_id != agent.organization_id:
            raise ConnectError(f"{settings.address} is already connected by another organization")
    created = account is None
    if account is None:
        account = SocialAccount(channel="email", account_id=settings.address)
        db.session.add(account)
    previous = MailSettings.from_meta(settings.address, account.meta) if account.meta else None
    account.agent_id = agent.id
    account.location_id = location.id if location is not None else None
    account.account_name = name or account.account_name or settings.address
    account.meta = {**(account.meta or {}), **settings.to_meta()}
    if settings.auth == "oauth":
        account.access_token = access_token
        if refresh_token:
            account.refresh_token = refresh_token
        account.token_expires_at = expires_at
    else:
        account.access_token = password
        account.refresh_token = None
        account.token_expires_at = None
    account.is_active = True
    was_waiting = account.status == "needs_reauth"
    account.mark_healthy()
    db.session.flush()
    if previous is not None and (previous.imap_host, previous.folder) != (settings.imap_host, settings.folder):
        # Another server or folder: its UIDs are a different series; start over (Message-ID dedupe keeps it clean).
        state = db.session.get(EmailSyncState, account.id)
        if state is not None:
            db.session.delete(state)
    record_audit(
        "account.connected" if created else "account.reconnected",
        organization_id=agent.organization_id,
        user_id=user_id,
        target=account,
        detail={"channel": "email", "provider": settings.provider, "address": settings.address},
    )
    db.session.commit()
    if was_waiting:
        resume_account(account)
    return account
