"""Opt-out: a customer who told a number to stop (SMS STOP; the provider's 21610) is not messaged from it again
until they opt back in (START). The state lives on their contact identity of that account (opted_out_at and the
reason the inbox shows); a number of a Messaging Service pool shares it with the pool (Twilio's Advanced Opt-Out
blocks the whole service). send_context() reads it, and the channel's check_window refuses with the reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from chatpad.extensions import db
from chatpad.models import ContactIdentity, SocialAccount


def scope_accounts(account: SocialAccount) -> list:
    """The accounts an opt-out on `account` applies to: itself, and the other numbers of its Messaging Service."""
    service = (account.meta or {}).get("messaging_service_sid")
    if not service:
        return [account.id]
    rows = db.session.execute(
        select(SocialAccount.id, SocialAccount.meta).where(
            SocialAccount.channel == account.channel, SocialAccount.agent_id == account.agent_id
        )
    ).all()
    pool = [i for i, meta in rows if i != account.id and (meta or {}).get("messaging_service_sid") == service]
    return [account.id, *pool]


def opt_out_reason(how: str, at: datetime) -> str:
    """What the inbox shows and a refused reply says."""
    return (
        f"The customer {how} on {at:%b} {at.day}, {at:%Y}: carriers and US law (TCPA) forbid texting them from this "
        "number until they text START. Nothing was sent."
    )


def set_opted_out(account: SocialAccount, customer_id: str, reason: str, at: datetime) -> int:
    """Mark the customer opted out of `account` (and its pool); returns identities changed. The caller commits."""
    result = db.session.execute(
        update(ContactIdentity)
        .where(
            ContactIdentity.social_account_id.in_(scope_accounts(account)),
            ContactIdentity.external_id == customer_id,
            ContactIdentity.opted_out_at.is_(None),
        )
        .values(opted_out_at=at, opt_out_reason=reason[:400])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def clear_opt_out(account: SocialAccount, customer_id: str) -> int:
    """The customer opted back in (START): returns identities changed (0: they had not opted out). Caller commits."""
    result = db.session.execute(
        update(ContactIdentity)
        .where(
            ContactIdentity.social_account_id.in_(scope_accounts(account)),
            ContactIdentity.external_id == customer_id,
            ContactIdentity.opted_out_at.is_not(None),
        )
        .values(opted_out_at=None, opt_out_reason=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def is_opted_out(account: SocialAccount, customer_id: str) -> bool:
    return (
        db.session.scalar(
            select(ContactIdentity.id).where(
                ContactIdentity.social_account_id == account.id,
                ContactIdentity.external_id == customer_id,
                ContactIdentity.opted_out_at.is_not(None),
            )
        )
        is not None
    )
