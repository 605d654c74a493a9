"""An SMS account's provider credentials, and the webhook signing keys the receiver checks deliveries against.

A number is a social account (channel "sms", account_id its E.164 number). Its provider account's non-secret ids are
in meta (provider, account_sid, api_key_sid, number_sid, messaging_service_sid); the secrets are encrypted columns:
access_token holds the Auth Token (it signs Twilio's webhooks), refresh_token the API key secret when one is used.

Twilio signs with each customer's own Auth Token, so the webhook receiver must find the key of the number a delivery
is about: a small in-process cache (SIGNING_KEY_TTL), read again from the database when a signature does not match
the cached key (a reconnection with a new token must not cost a message).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatpad.extensions import db
from chatpad.models import SocialAccount
from chatpad.redact import register_secrets

from .providers import Credentials, WebhookKey

SIGNING_KEY_TTL = 60.0
NEGATIVE_TTL = 5.0


class NoCredentialsError(LookupError):
    """The account holds no provider credentials (disconnected): reconnect it."""


def credentials(account: SocialAccount) -> Credentials:
    """The provider credentials of an SMS account (decrypted)."""
    meta = account.meta or {}
    if not account.access_token or not meta.get("account_sid"):
        raise NoCredentialsError(f"{account.account_name} has no Twilio credentials: reconnect it")
    register_secrets([account.access_token, account.refresh_token])
    return Credentials(
        account_sid=str(meta["account_sid"]),
        auth_token=account.access_token,
        api_key_sid=meta.get("api_key_sid") or None,
        api_key_secret=account.refresh_token if meta.get("api_key_sid") else None,
    )


_cache: dict[WebhookKey, tuple[float, tuple[str, ...]]] = {}
_lock = threading.Lock()


def signing_keys(key: WebhookKey, *, fresh: bool = False) -> tuple[str, ...]:
    """The secrets a delivery naming this account and number may be signed with (in an app context)."""
    now = time.monotonic()
    if not fresh:
        cached = _cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
    secrets = _load(key)
    with _lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (now + (SIGNING_KEY_TTL if secrets else NEGATIVE_TTL), secrets)
    return secrets


def forget_signing_keys() -> None:
    """Drop the cache (a reconnection in this process, tests)."""
    with _lock:
        _cache.clear()


def _load(key: WebhookKey) -> tuple[str, ...]:
    """The Auth Tokens of the provider account named in the delivery: the number's own, else (a number of a Messaging
    Service pool that is not connected itself) any connected number's of the same provider account."""
    with Session(db.engine) as session:  # its own session: the caller's (if any) is left alone
        rows = []
        if key.number:
            rows = list(
                session.scalars(
                    select(SocialAccount).where(SocialAccount.channel == "sms", SocialAccount.account_id == key.number)
                )
            )
        if not any((a.meta or {}).get("account_sid") == key.account_sid for a in rows):
            rows = [
                a
                for a in session.scalars(select(SocialAccount).where(SocialAccount.channel == "sms"))
                if (a.meta or {}).get("account_sid") == key.account_sid
            ]
        secrets = []
        for account in rows:
            if (account.meta or {}).get("account_sid") == key.account_sid and account.access_token:
                if account.access_token not in secrets:
                    secrets.append(account.access_token)
    register_secrets(secrets)
    return tuple(secrets)
