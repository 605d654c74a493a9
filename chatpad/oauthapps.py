"""ChatPad's Google and Microsoft OAuth 2.0 apps (Authlib): authorize URL, code exchange, refresh.

One app per provider (GOOGLE_CLIENT_ID, MICROSOFT_CLIENT_ID) serves both the email channel and the calendars; each
asks for its own scopes: mail (GOOGLE_SCOPES, MICROSOFT_SCOPES; platform-reference.md §D) or calendars
(GOOGLE_CALENDAR_SCOPES, MICROSOFT_CALENDAR_SCOPES; calendar-reference.md §1–2). Google: access_type=offline and
prompt=consent so a refresh token comes back, and a refresh answer carries no new one. Microsoft rotates the refresh
token on every refresh (store it). invalid_grant and its kin mean the grant is dead (revoked, password changed, 90
days unused): reconnect. "openid email" is asked for too, so the ID token names the account; it comes straight from
the token endpoint over TLS, so its claims may be read without checking the signature (OpenID Connect Core §3.1.3.7).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from flask import current_app

PROVIDERS = ("google", "microsoft")
DEAD_GRANT_ERRORS = ("invalid_grant", "invalid_client", "unauthorized_client", "interaction_required")


class OAuthGrantError(Exception):
    """The provider refused the grant for good (invalid_grant): the account must be reconnected."""

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


def endpoints(provider: str, scope: str | None = None) -> dict[str, str]:
    """The provider's endpoints and ChatPad's client credentials; scope defaults to the mail scopes."""
    cfg = current_app.config
    if provider == "google":
        return {
            "authorize": cfg["GOOGLE_AUTHORIZE_URL"],
            "token": cfg["GOOGLE_TOKEN_URL"],
            "client_id": cfg.get("GOOGLE_CLIENT_ID") or "",
            "client_secret": cfg.get("GOOGLE_CLIENT_SECRET") or "",
            "scope": scope or cfg["GOOGLE_SCOPES"],
        }
    if provider == "microsoft":
        base = f"{cfg['MICROSOFT_LOGIN_URL'].rstrip('/')}/{cfg.get('MICROSOFT_TENANT') or 'common'}/oauth2/v2.0"
        return {
            "authorize": f"{base}/authorize",
            "token": f"{base}/token",
            "client_id": cfg.get("MICROSOFT_CLIENT_ID") or "",
            "client_secret": cfg.get("MICROSOFT_CLIENT_SECRET") or "",
            "scope": scope or cfg["MICROSOFT_SCOPES"],
        }
    raise ValueError(f"unknown OAuth provider {provider!r}")


def _session(provider: str, redirect_uri: str | None = None, scope: str | None = None) -> OAuth2Session:
    ep = endpoints(provider, scope)
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


def authorization_url(
    provider: str, redirect_uri: str, state: str, login_hint: str | None = None, *, scope: str | None = None
) -> str:
    """Where to send the admin to grant access (to a mailbox, or with `scope`, to calendars)."""
    extra: dict[str, str] = {}
    if provider == "google":
        extra = {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
    else:
        extra = {"response_mode": "query", "prompt": "select_account"}
    if login_hint:
        extra["login_hint"] = login_hint
    session = _session(provider, redirect_uri, scope)
    url, _ = session.create_authorization_url(endpoints(provider, scope)["authorize"], state, **extra)
    return url


def exchange_code(provider: str, code: str, redirect_uri: str, *, scope: str | None = None) -> TokenSet:
    """The callback's code → tokens and the account's address (from the ID token)."""
    session = _session(provider, redirect_uri, scope)
    try:
        token = session.fetch_token(endpoints(provider, scope)["token"], code=code, grant_type="authorization_code")
    except OAuthError as exc:
        raise OAuthGrantError(provider, exc.error, exc.description) from exc
    except (requests.RequestException, ValueError) as exc:
        raise OAuthTemporaryError(f"{provider.title()} token endpoint failed: {exc}") from exc
    return _token_set(token)


def refresh_grant(provider: str, refresh_token: str, *, scope: str | None = None) -> TokenSet:
    """A new access token from a refresh token. Raises OAuthGrantError (dead grant) or OAuthTemporaryError."""
    session = _session(provider, scope=scope)
    try:
        token = session.refresh_token(endpoints(provider, scope)["token"], refresh_token=refresh_token)
    except OAuthError as exc:
        if exc.error in DEAD_GRANT_ERRORS:
            raise OAuthGrantError(provider, exc.error, exc.description) from exc
        raise OAuthTemporaryError(f"{provider.title()} refused the refresh: {exc.error} {exc.description}") from exc
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
