"""Google and Microsoft OAuth 2.0 for mail (Authlib): authorize URL, code exchange, refresh before expiry.

Google: scope https://mail.google.com/, access_type=offline and prompt=consent so a refresh token comes back
(platform-reference.md §D.1); a refresh answer carries no new refresh token. Microsoft: IMAP.AccessAsUser.All and
SMTP.Send on outlook.office.com plus offline_access (§D.2); every refresh returns a new refresh token, which we store
(rotation). invalid_grant on refresh means the grant is dead (revoked, password changed, 90 days unused): the inbox is
marked for reconnection and the admins are alerted. "openid email" is requested too, so the ID token names the
mailbox; it comes straight from the token endpoint over TLS, so its claims may be read without checking the signature
(OpenID Connect Core §3.1.3.7). The app itself (authorize, exchange, refresh) is chatpad/oauthapps.py, shared with
the calendars; this module keeps an inbox's tokens.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app

from chatpad.oauthapps import (
    PROVIDERS,
    OAuthGrantError,
    OAuthTemporaryError,
    TokenSet,
    authorization_url,
    endpoints,
    exchange_code,
    id_token_email,
    refresh_grant,
)

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

log = logging.getLogger("chatpad.email.oauth")

__all__ = [
    "PROVIDERS",
    "OAuthGrantError",
    "OAuthTemporaryError",
    "TokenSet",
    "access_token",
    "authorization_url",
    "endpoints",
    "exchange_code",
    "id_token_email",
    "needs_refresh",
    "refresh",
    "refresh_account",
    "store_tokens",
]


def refresh(account: SocialAccount) -> TokenSet:
    """Use the stored refresh token. Raises OAuthGrantError (dead grant) or OAuthTemporaryError."""
    provider = (account.meta or {}).get("provider")
    if provider not in PROVIDERS:
        raise ValueError(f"inbox {account.account_id} does not use OAuth")
    if not account.refresh_token:
        raise OAuthGrantError(provider, "invalid_grant", "No refresh token is stored for this inbox.")
    return refresh_grant(provider, account.refresh_token)


def store_tokens(account: SocialAccount, tokens: TokenSet) -> None:
    """Keep the new access token and expiry; keep a rotated refresh token (Microsoft), else the old one (Google)."""
    account.access_token = tokens.access_token
    account.token_expires_at = tokens.expires_at
    if tokens.refresh_token and tokens.refresh_token != account.refresh_token:
        account.refresh_token = tokens.refresh_token
        meta = dict(account.meta or {})
        meta["refresh_rotated_at"] = datetime.now(UTC).isoformat()
        account.meta = meta


def needs_refresh(account: SocialAccount, margin: float | None = None) -> bool:
    if margin is None:
        margin = float(current_app.config.get("MAIL_TOKEN_REFRESH_MARGIN", 600))
    expires = account.token_expires_at
    return not account.access_token or expires is None or expires <= datetime.now(UTC) + timedelta(seconds=margin)


def refresh_account(account: SocialAccount, margin: float | None = None) -> str:
    """Refresh one inbox's token now, under a lock so two workers never spend the same Microsoft refresh token.

    Returns "refreshed", "fresh" (another worker just did it) or "needs_reauth". Commits."""
    from chatpad.extensions import db
    from chatpad.notify import account_needs_reauth
    from chatpad.queue import get_redis

    with get_redis().lock(f"chatpad:lock:mail-token:{account.id}", timeout=60, blocking_timeout=60):
        db.session.refresh(account)
        if not needs_refresh(account, margin) and account.status != "needs_reauth":
            return "fresh"
        try:
            tokens = refresh(account)
        except OAuthGrantError as exc:
            account_needs_reauth(account, str(exc))
            db.session.commit()
            return "needs_reauth"
        store_tokens(account, tokens)
        db.session.commit()
        log.info("refreshed the %s token of inbox %s", (account.meta or {}).get("provider"), account.account_id)
        return "refreshed"


def access_token(account: SocialAccount) -> str:
    """A usable access token for XOAUTH2, refreshed first when it expires within MAIL_TOKEN_REFRESH_MARGIN.

    Raises OAuthGrantError when the inbox needs reconnecting, OAuthTemporaryError when the provider is down."""
    if needs_refresh(account):
        outcome = refresh_account(account)
        if outcome == "needs_reauth":
            raise OAuthGrantError((account.meta or {}).get("provider", "oauth"), "invalid_grant", account.last_error)
    return account.access_token or ""
