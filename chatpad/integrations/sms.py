"""Connecting SMS numbers: the provider account's credentials checked, its numbers listed, each chosen number pointed
at ChatPad through the provider's API, read back, and only then stored as connected.

1. Account SID and Auth Token (the token signs every webhook, so it is needed even with an API key), and optionally
   an API key (SID and secret) that ChatPad then uses for REST calls instead of the token.
2. The account is checked (GET Accounts/{Sid}) and its numbers listed (IncomingPhoneNumbers, with the Messaging
   Service pool each number is in).
3. The admin picks numbers and a location for each.
4. Each number's SmsUrl and StatusCallback are set to ChatPad's webhook (and its Messaging Service's inbound and
   status URLs, which decide where a pool number's messages go).
5. The number is read back: only a number whose inbound messages now reach ChatPad is stored, as "connected".
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from typing import Any

from flask import current_app
from sqlalchemy import select

from chatpad.channels.phone import display
from chatpad.channels.sms.adapter import webhook_url
from chatpad.channels.sms.credentials import credentials, forget_signing_keys
from chatpad.channels.sms.providers import Credentials, NumberInfo, ProviderError, get_provider
from chatpad.extensions import db
from chatpad.models import Agent, Location, SocialAccount, utcnow

from .connect import HELD_ELSEWHERE, HELD_ELSEWHERE_TODO, Holder, Outcome, store_account

log = logging.getLogger("chatpad.integrations.sms")

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")


class CredentialsError(ValueError):
    """What the admin typed cannot be right (before asking Twilio); the message says what to fix."""


def read_credentials(form: dict[str, str]) -> Credentials:
    """The credentials from the connect form, checked for shape (ACxxxx…, SKxxxx…)."""
    sid = (form.get("account_sid") or "").strip()
    token = (form.get("auth_token") or "").strip()
    key_sid = (form.get("api_key_sid") or "").strip() or None
    key_secret = (form.get("api_key_secret") or "").strip() or None
    if not ACCOUNT_SID.match(sid):
        raise CredentialsError("The Account SID starts with AC followed by 32 letters and digits (Twilio console).")
    if not token:
        raise CredentialsError(
            "The Auth Token is needed: Twilio signs every webhook with it, so ChatPad can tell its messages from "
            "forgeries (also when you use an API key)."
        )
    if bool(key_sid) != bool(key_secret):
        raise CredentialsError("An API key needs both its SID (SK…) and its secret.")
    if key_sid and not API_KEY_SID.match(key_sid):
        raise CredentialsError("An API key SID starts with SK followed by 32 letters and digits.")
    return Credentials(sid, token, key_sid, key_secret)


def fetch_numbers(creds: Credentials, provider: str = "twilio") -> tuple[dict[str, Any], list[NumberInfo]]:
    """Check the credentials and list the account's SMS-capable numbers; ProviderError in the admin's words."""
    impl = get_provider(provider)
    account = impl.check(creds)
    numbers = [n for n in impl.list_numbers(creds) if n.sms]
    return account, numbers


def holders(org_id: int, agent_id, numbers: list[str]) -> dict[str, Holder]:
    from .connect import holders as channel_holders

    return channel_holders(org_id, agent_id, "sms", numbers)


def webhook_target() -> str:
    """ChatPad's SMS webhook, as the provider must call it (PUBLIC_URL)."""
    return webhook_url(current_app.config)


def connect_numbers(
    *,
    org_id: int,
    agent: Agent,
    user_id: int | None,
    creds: Credentials,
    selections: list[tuple[NumberInfo, Location | None]],
    provider: str = "twilio",
    ip: str | None = None,
) -> list[Outcome]:
    """Point each number at ChatPad, read it back, and store it when its messages now reach ChatPad. One Outcome per
    selection, in order; one number's failure never undoes another's."""
    if agent.organization_id != org_id:
        raise PermissionError("agent of another organization")
    impl = get_provider(provider)
    target = webhook_target()
    held = holders(org_id, agent.id, [n.phone_number for n, _ in selections])
    outcomes = []
    for number, location in selections:
        name = f"{number.friendly_name} ({display(number.phone_number)})"
        holder = held[number.phone_number]
        if holder.kind == "other_org":
            outcomes.append(
                Outcome(number.phone_number, name, "refused", HELD_ELSEWHERE.format(what="number"), HELD_ELSEWHERE_TODO)
            )
            continue
        if holder.kind == "other_agent" and holder.account.status != "disconnected":
            outcomes.append(
                Outcome(
                    number.phone_number,
                    name,
                    "refused",
                    f"This number is already connected to your agent {holder.account.agent.name}.",
                    "Disconnect it there first if it should answer for this agent instead.",
                )
            )
            continue
        if not target.startswith("https://") and current_app.config.get("ENV_NAME") == "production":
            outcomes.append(
                Outcome(
                    number.phone_number,
                    name,
                    "failed",
                    "PUBLIC_URL is not an https address, and Twilio only posts to https webhooks.",
                    "An operator must set PUBLIC_URL (docs/channels/sms.md).",
                )
            )
            continue
        try:
            fresh = impl.configure(creds, number, webhook_url=target)
        except ProviderError as exc:
            outcomes.append(Outcome(number.phone_number, name, "failed", exc.what, exc.todo))
            continue
        if fresh.inbound_url != target:
            where = fresh.inbound_url or "nowhere"
            outcomes.append(
                Outcome(
                    number.phone_number,
                    name,
                    "failed",
                    f"Twilio still sends this number's messages to {where}, not to ChatPad.",
                    "Check the number (and its Messaging Service) in Twilio's console, then try again.",
                )
            )
            continue
        outcomes.append(_store(fresh, location, agent, holder, creds, provider, user_id, org_id, ip, name))
    forget_signing_keys()
    return outcomes


def _store(number, location, agent, holder, creds, provider, user_id, org_id, ip, name) -> Outcome:
    info = {
        "provider": provider,
        "account_sid": creds.account_sid,
        "api_key_sid": creds.api_key_sid,
        "number_sid": number.sid,
        "messaging_service_sid": number.messaging_service_sid,
        "messaging_service_name": number.messaging_service_name,
        "mms": number.mms,
        "webhook_url": number.inbound_url,
        "connected_at": utcnow().isoformat(),
        "connected_by": user_id,
        "tested_at": utcnow().isoformat(),
    }
    return store_account(
        "sms",
        number.phone_number,
        holder,
        agent,
        location,
        label=name,
        account_name=number.friendly_name,
        access_token=creds.auth_token,
        refresh_token=creds.api_key_secret,
        info=info,
        audit_detail={"messaging_service_sid": number.messaging_service_sid},
        user_id=user_id,
        org_id=org_id,
        ip=ip,
        what="number",
        failed=("ChatPad could not save the number (database error).", "Try again."),
        before_commit=lambda account: _share_new_credentials(account, creds),
    )


def _share_new_credentials(account: SocialAccount, creds: Credentials) -> None:
    """The organization's other live numbers of the same Twilio account get the new token too (one account, one
    Auth Token): a rotated token entered for one number must not leave the others failing."""
    others = db.session.scalars(
        select(SocialAccount).where(
            SocialAccount.channel == "sms",
            SocialAccount.agent_id == account.agent_id,
            SocialAccount.id != account.id,
            SocialAccount.status != "disconnected",
        )
    )
    for other in others:
        meta = other.meta or {}
        if meta.get("account_sid") == creds.account_sid and other.access_token != creds.auth_token:
            other.access_token = creds.auth_token
            other.refresh_token = creds.api_key_secret
            other.meta = {**meta, "api_key_sid": creds.api_key_sid}
            if other.status == "needs_reauth":
                other.mark_healthy()


def release(account: SocialAccount) -> str | None:
    """On disconnect: stop the number's messages reaching ChatPad (its SmsUrl cleared when it still points here).
    Returns a warning when the provider could not be told; the account is disconnected regardless."""
    meta = account.meta or {}
    if not account.access_token or not meta.get("number_sid"):
        return None
    number = NumberInfo(
        sid=str(meta["number_sid"]), phone_number=account.account_id, friendly_name=account.account_name
    )
    try:
        get_provider(str(meta.get("provider") or "twilio")).release(
            credentials(account), number, webhook_url=webhook_target()
        )
    except ProviderError as exc:
        return (
            f"ChatPad stopped answering {account.account_name}, but Twilio could not be told ({exc.what}). Clear the "
            "number's messaging webhook in Twilio's console."
        )
    return None


def serialize(number: NumberInfo) -> dict[str, Any]:
    return asdict(number)
