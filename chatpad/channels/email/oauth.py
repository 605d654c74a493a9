"""Google and Microsoft OAuth 2.0 for mail (Authlib): authorize URL, code exchange, refresh before expiry.

Google: scope https://mail.google.com/, access_type=offline and prompt=consent so a refresh token comes back
(platform-reference.md §D.1); a refresh answer carries no new refresh token. Microsoft: IMAP.AccessAsUser.All and
SMTP.Send on outlook.office.com plus offline_access (§D.2); every refresh returns a new refresh token, which we store
(rotation). invalid_grant on refresh means the grant is dead (revoked, password changed, 90 days unused): the inbox is
marked for reconnection and the admins are alerted. "openid email" is requested too, so the ID token names the
mailbox; it comes straight from the token endpoint over TLS, so its claims may be read without checking the signature
(OpenID Connect Core §3.1.3.7).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from flask import current_app

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

log = logging.getLogger("chatpad.email.oauth")

PROVIDERS = ("google", "microsoft")


class OAuthGrantError(Exception):
    """The provider refused the grant for good (invalid_grant): the inbox must be reconnected."""

    def __init__(self, provider: str, error: str, description: str | None):
        self.provider, self.error, self.description = provider, error, description or ""
        super().__init__(f"{provider.title()} refused the refresh token ({error}): {self.description}".strip())


class OAuthTemporaryError(Exception):
    """The token endpoint could not be reached or failed (5xx, timeout): try again later."""


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scope: str
    email: str | None = None


def endpoints(provider: str) -> dict[str, str]:
    cfg = current_app.config
    if provider == "google":
        return {
            "authorize": cfg["GOOGLE_AUTHORIZE_URL"],
            "token": cfg["GOOGLE_TOKEN_URL"],
            "client_id": cfg.get("GOOGLE_CLIENT_ID") or "",
            "client_secret": cfg.get("GOOGLE_CLIENT_SECRET") or "",
            "scope": cfg["GOOGLE_SCOPES"],
        }
    if provider == "microsoft":
        base = f"{cfg['MICROSOFT_LOGIN_URL'].rstrip('/')}/{cfg.get('MICROSOFT_TENANT') or 'common'}/oauth2/v2.0"
        return {
            "authorize": f"{base}/authorize",
            "token": f"{base}/token",
            "client_id": cfg.get("MICROSOFT_CLIENT_ID") or "",
            "client_secret": cfg.get("MICROSOFT_CLIENT_SECRET") or "",
            "scope": cfg["MICROSOFT_SCOPES"],
        }
    raise ValueError(f"unknown OAuth provider {provider!r}")


def _session(provider: str, redirect_uri: str | None = None) -> OAuth2Session:
    ep = endpoints(provider)
    if not ep["client_id"]:
        raise RuntimeError(f"{provider.upper()}_CLIENT_ID is not configured")
    return OAuth2Session(
        ep["client_id"],
        ep["client_secret"],
        scope=ep["scope"],
        redirect_uri=redirect_uri,
        # Both providers take the secret in the form body (their docs' examples do).
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name, not a secret)
        default_timeout=float(current_app.config.get("PLATFORM_HTTP_TIMEOUT", 10)),
    )


def authorization_url(provider: str, redirect_uri: str, state: str, login_hint: str | None = None) -> str:
    """Where to send the admin to grant access to one mailbox."""
    extra: dict[str, str] = {}
    if provider == "google":
        extra = {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
    else:
        extra = {"response_mode": "query", "prompt": "select_account"}
    if login_hint:
        extra["login_hint"] = login_hint
    url, _ = _session(provider, redirect_uri).create_authorization_url(endpoints(provider)["authorize"], state, **extra)
    return url


def exchange_code(provider: str, code: str, redirect_uri: str) -> TokenSet:
    """The callback's code → tokens and the mailbox address (from the ID token)."""
    session = _session(provider, redirect_uri)
    try:
        token = session.fetch_token(endpoints(provider)["token"], code=code, grant_type="authorization_code")
    except OAuthError as exc:
        raise OAuthGrantError(provider, exc.error, exc.description) from exc
    except (requests.RequestException, ValueError) as exc:
        raise OAuthTemporaryError(f"{provider.title()} token endpoint failed: {exc}") from exc
    return _token_set(token)


def _token_set(token: dict) -> TokenSet:
    expires_in = int(token.get("expires_in") or 3600)
    return TokenSet(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        scope=token.get("scope") or "",
        email=id_token_email(token.get("id_token")),
    )


def id_token_email(id_token: str | None) -> str | None:
    """The address in an ID token (email, or Microsoft's preferred_username)."""
    if not id_token or id_token.count(".") < 2:
        return None
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    email = claims.get("email") or claims.get("preferred_username")
    return email.lower() if isinstance(email, str) and "@" in email else None


def refresh(account: SocialAccount) -> TokenSet:
    """Use the stored refresh token. Raises OAuthGrantError (dead grant) or OAuthTemporaryError."""
    provider = (account.meta or {}).get("provider")
    if provider not in PROVIDERS:
        raise ValueError(f"inbox {account.account_id} does not use OAuth")
    if not account.refresh_token:
        raise OAuthGrantError(provider, "invalid_grant", "No refresh token is stored for this inbox.")
    session = _session(provider)
    try:
        token = session.refresh_token(endpoints(provider)["token"], refresh_token=account.refresh_token)
    except OAuthError as exc:
        if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client", "interaction_required"):
            raise OAuthGrantError(provider, exc.error, exc.description) from exc
        raise OAuthTemporaryError(f"{provider.title()} refused the refresh: {exc.error} {exc.description}") from exc
    except (requests.RequestException, ValueError) as exc:
        raise OAuthTemporaryError(f"{provider.title()} token endpoint failed: {exc}") from exc
    return _token_set(token)


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
