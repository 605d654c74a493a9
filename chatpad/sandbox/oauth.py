"""Google and Microsoft OAuth 2.0 stand-ins: consent pages, token endpoints, revocation, token introspection.

Request, response and error shapes follow platform-reference.md §D.1/§D.2: Google returns no new refresh token on
refresh and answers a dead one with 400 invalid_grant "Token has been expired or revoked."; Microsoft rotates the
refresh token on every use, gives 60–90 minute access tokens, and answers with AADSTS codes. /oauth/introspect
(RFC 7662) lets the mail servers (Dovecot's oauth2 passdb, the sandbox SMTP server) check XOAUTH2 bearer tokens.

Tokens are self-contained and signed (HMAC), so they survive a sandbox restart; what must be remembered
(authorization codes, revocations) is kept in memory. Test and demo controls live under /_sandbox/.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request

bp = Blueprint("sandbox_oauth", __name__)

GOOGLE_SCOPE = "https://mail.google.com/"
MS_IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
MS_SMTP = "https://outlook.office.com/SMTP.Send"
# Calendars (docs/booking.md): the same apps, asked for calendar scopes instead of mail ones.
GOOGLE_CALENDAR_SCOPES = {
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/calendar.events.owned",
}
MS_CALENDARS = "https://graph.microsoft.com/Calendars.ReadWrite"
ID_SCOPES = {"openid", "email", "profile", "offline_access"}

_lock = threading.Lock()
_codes: dict[str, dict] = {}
# (provider, email) -> time after which earlier tokens are dead; "inactive" ones fail with AADSTS700082.
_revoked: dict[tuple[str, str], tuple[float, str]] = {}


# --- tokens ---------------------------------------------------------------------------------------------------------


def _key() -> bytes:
    return hashlib.sha256(b"sandbox-oauth:" + current_app.config["SECRET_KEY"].encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PREFIXES = {("google", "access"): "ya29.sbx", ("google", "refresh"): "1//sbx", ("microsoft", "access"): "EwB.sbx",
            ("microsoft", "refresh"): "M.C5.sbx"}  # fmt: skip


def issue(provider: str, kind: str, email: str, client_id: str, scope: str, lifetime: int | None) -> str:
    now = time.time()
    payload = {"p": provider, "k": kind, "e": email, "c": client_id, "s": scope, "iat": now, "n": secrets.token_hex(4)}
    if lifetime is not None:
        payload["exp"] = int(now + lifetime)
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = _b64(hmac.new(_key(), body.encode(), hashlib.sha256).digest())
    return f"{PREFIXES[(provider, kind)]}.{body}.{sig}"


def verify(token: str, kind: str, provider: str | None = None) -> tuple[dict | None, str | None]:
    """(claims, None) for a live token; (claims or None, why) otherwise: "invalid", "expired", "revoked", "inactive"."""
    try:
        _, body, sig = token.rsplit(".", 2)
        expected = _b64(hmac.new(_key(), body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, expected):
            return None, "invalid"
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None, "invalid"
    if claims.get("k") != kind or (provider and claims.get("p") != provider):
        return None, "invalid"
    if claims.get("exp") and claims["exp"] < time.time():
        return claims, "expired"
    with _lock:
        revoked = _revoked.get((claims["p"], claims["e"]))
    if revoked and claims["iat"] <= revoked[0]:
        return claims, revoked[1]
    return claims, None


def revoke_user(provider: str, email: str, how: str = "revoked") -> None:
    """Kill every token issued so far for this user (a password change, an admin revoking the app, inactivity)."""
    with _lock:
        _revoked[(provider, email.lower())] = (time.time(), how)


def _id_token(provider: str, email: str, client_id: str, issuer: str) -> str:
    """An unsigned-looking JWT with the user's address. Received straight from the token endpoint over TLS, an
    ID token may be trusted without checking its signature (OpenID Connect Core §3.1.3.7, item 6)."""
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "sandbox"}).encode())
    now = int(time.time())
    claims = {"iss": issuer, "aud": client_id, "sub": hashlib.sha256(email.encode()).hexdigest()[:21], "email": email,
              "email_verified": True, "iat": now, "exp": now + 3600, "name": email.split("@")[0].title()}  # fmt: skip
    if provider == "microsoft":
        claims["preferred_username"] = email
        claims["tid"] = "9188040d-6c67-4c5b-b112-36a304b66dad"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(b'sandbox-signature')}"


def demo_grant(token: str, provider: str) -> tuple[str, str] | None:
    """(address, scope) for the refresh token of a demo calendar (chatpad/demo_data.py: calendar_refresh_token), which
    `flask chatpad demo` stores without a consent screen; None for any other token."""
    from chatpad import demo_data

    parts = token.split(".")
    if len(parts) < 4 or parts[0] != "sbx-demo-calendar" or parts[1] != provider:
        return None
    address = ".".join(parts[2:-1])
    expected = demo_data.calendar_refresh_token(current_app.config["META_APP_SECRET"], provider, address)
    if not hmac.compare_digest(token, expected):
        return None
    with _lock:
        revoked = _revoked.get((provider, address))
    if revoked:
        return None
    return address, demo_data.CALENDAR_SCOPES[provider]


# --- consent pages --------------------------------------------------------------------------------------------------


def _consent(provider: str, client_id_expected: str, scope_options: list[set[str]], action: str):
    args = request.values
    if args.get("client_id") != client_id_expected:
        return render_template(
            "sandbox/oauth_error.html", provider=provider, error="invalid_client",
            description=f"The OAuth client was not found (client_id={args.get('client_id')!r}).",
        ), 401  # fmt: skip
    if not args.get("redirect_uri"):
        return render_template(
            "sandbox/oauth_error.html", provider=provider, error="invalid_request",
            description="Missing required parameter: redirect_uri",
        ), 400  # fmt: skip
    if args.get("response_type") != "code":
        return _redirect_error(args, "unsupported_response_type", "Only response_type=code is supported.")
    scopes = set((args.get("scope") or "").split())
    if not any(needed <= scopes for needed in scope_options):  # mail, or calendars
        missing = min((needed - scopes for needed in scope_options), key=len)
        return _redirect_error(args, "invalid_scope", f"Missing scope: {' '.join(sorted(missing))}")
    if request.method == "GET":
        inboxes = current_app.extensions.get("sandbox.mail_addresses", [])
        return render_template(
            "sandbox/oauth_consent.html", provider=provider, args=args, scopes=sorted(scopes), action=action,
            login_hint=args.get("login_hint", ""), inboxes=inboxes,
        )  # fmt: skip
    if request.form.get("decision") != "allow":
        return _redirect_error(args, "access_denied", "The user denied the request.")
    email = (request.form.get("email") or "").strip().lower()
    if "@" not in email:
        abort(400, "an email address is required")
    code = ("4/0sbx" if provider == "google" else "M.C5_sbx.") + secrets.token_urlsafe(24)
    with _lock:
        _codes[code] = {
            "provider": provider, "email": email, "client_id": args["client_id"], "scope": " ".join(sorted(scopes)),
            "redirect_uri": args["redirect_uri"], "expires": time.time() + 600,
        }  # fmt: skip
    params = {"code": code, "state": args.get("state", "")}
    if provider == "google":
        params["scope"] = " ".join(sorted(scopes))
    sep = "&" if "?" in args["redirect_uri"] else "?"
    return redirect(args["redirect_uri"] + sep + urlencode(params))


def _redirect_error(args, error: str, description: str):
    sep = "&" if "?" in args["redirect_uri"] else "?"
    params = {"error": error, "error_description": description, "state": args.get("state", "")}
    return redirect(args["redirect_uri"] + sep + urlencode(params))


@bp.route("/google/o/oauth2/v2/auth", methods=["GET", "POST"])
def google_authorize():
    return _consent(
        "google", current_app.config["GOOGLE_CLIENT_ID"], [{GOOGLE_SCOPE}, GOOGLE_CALENDAR_SCOPES], request.path
    )


@bp.route("/microsoft/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def microsoft_authorize(tenant: str):
    return _consent(
        "microsoft", current_app.config["MICROSOFT_CLIENT_ID"], [{MS_IMAP, MS_SMTP}, {MS_CALENDARS}], request.path
    )


# --- token endpoints ------------------------------------------------------------------------------------------------


def _client_credentials() -> tuple[str | None, str | None]:
    """client_secret_basic (Authlib's default) or client_secret_post: both providers accept either."""
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username, request.authorization.password
    return request.form.get("client_id"), request.form.get("client_secret")


def _take_code(code: str, provider: str, client_id: str, redirect_uri: str | None) -> dict | None:
    with _lock:
        grant = _codes.pop(code, None)
    if not grant or grant["provider"] != provider or grant["client_id"] != client_id or grant["expires"] < time.time():
        return None
    if redirect_uri != grant["redirect_uri"]:
        return None
    return grant


@bp.post("/google/token")
def google_token():
    client_id, secret = _client_credentials()
    cfg = current_app.config
    if client_id != cfg["GOOGLE_CLIENT_ID"] or secret != cfg["GOOGLE_CLIENT_SECRET"]:
        return jsonify(error="invalid_client", error_description="The OAuth client was not found."), 401
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        grant = _take_code(request.form.get("code", ""), "google", client_id, request.form.get("redirect_uri"))
        if grant is None:
            return jsonify(error="invalid_grant", error_description="Bad Request"), 400
        email, scope = grant["email"], grant["scope"]
        body = {
            "access_token": issue("google", "access", email, client_id, scope, 3599),
            "expires_in": 3599,
            "refresh_token": issue("google", "refresh", email, client_id, scope, None),
            "scope": scope,
            "token_type": "Bearer",
        }
        if "openid" in scope.split() or "email" in scope.split():
            body["id_token"] = _id_token("google", email, client_id, "https://accounts.google.com")
        return jsonify(body)
    if grant_type == "refresh_token":
        demo = demo_grant(request.form.get("refresh_token", ""), "google")
        if demo is not None:
            return jsonify(
                access_token=issue("google", "access", demo[0], client_id, demo[1], 3599),
                expires_in=3599,
                scope=demo[1],
                token_type="Bearer",  # noqa: S106
            )
        claims, problem = verify(request.form.get("refresh_token", ""), "refresh", "google")
        if problem or claims is None or claims["c"] != client_id:
            return jsonify(error="invalid_grant", error_description="Token has been expired or revoked."), 400
        # Google keeps the refresh token: the answer has none (§D.1).
        return jsonify(
            access_token=issue("google", "access", claims["e"], client_id, claims["s"], 3599),
            expires_in=3599,
            scope=claims["s"],
            token_type="Bearer",  # noqa: S106
        )
    return jsonify(error="unsupported_grant_type", error_description=f"Invalid grant_type: {grant_type}"), 400


@bp.post("/google/revoke")
def google_revoke():
    """https://oauth2.googleapis.com/revoke: the token and everything issued with it stop working."""
    token = request.values.get("token", "")
    claims, problem = verify(token, "refresh", "google")
    if claims is None:
        claims, problem = verify(token, "access", "google")
    if claims is None or problem:
        return jsonify(error="invalid_token", error_description="Token expired or revoked"), 400
    revoke_user("google", claims["e"])
    return jsonify({})


@bp.get("/google/tokeninfo")
def google_tokeninfo():
    claims, problem = verify(request.args.get("access_token", ""), "access", "google")
    if claims is None or problem:
        return jsonify(error="invalid_token", error_description="Invalid Value"), 400
    return jsonify(
        azp=claims["c"], aud=claims["c"], sub=hashlib.sha256(claims["e"].encode()).hexdigest()[:21],
        scope=claims["s"], exp=str(claims["exp"]), expires_in=str(int(claims["exp"] - time.time())),
        email=claims["e"], email_verified="true", access_type="offline",
    )  # fmt: skip


def _aad_error(status: int, code: int, message: str):
    """Microsoft identity platform's error body (AADSTS codes)."""
    now = datetime.now(UTC)
    return jsonify(
        error="invalid_grant" if status == 400 else "invalid_client",
        error_description=f"AADSTS{code}: {message} Trace ID: {uuid.uuid4()} Correlation ID: {uuid.uuid4()} "
        f"Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
        error_codes=[code],
        timestamp=f"{now:%Y-%m-%d %H:%M:%SZ}",
        trace_id=str(uuid.uuid4()),
        correlation_id=str(uuid.uuid4()),
        error_uri=f"https://login.microsoftonline.com/error?code={code}",
    ), status


@bp.post("/microsoft/<tenant>/oauth2/v2.0/token")
def microsoft_token(tenant: str):
    client_id, secret = _client_credentials()
    cfg = current_app.config
    if client_id != cfg["MICROSOFT_CLIENT_ID"]:
        return _aad_error(400, 700016, f"Application with identifier '{client_id}' was not found in the directory.")
    if secret != cfg["MICROSOFT_CLIENT_SECRET"]:
        return _aad_error(401, 7000215, "Invalid client secret provided.")
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        grant = _take_code(request.form.get("code", ""), "microsoft", client_id, request.form.get("redirect_uri"))
        if grant is None:
            return _aad_error(400, 70000, "The provided authorization code is invalid or has expired.")
        email, scope = grant["email"], grant["scope"]
    elif grant_type == "refresh_token":
        demo = demo_grant(request.form.get("refresh_token", ""), "microsoft")
        claims, problem = verify(request.form.get("refresh_token", ""), "refresh", "microsoft")
        if demo is not None:
            claims, problem = {"e": demo[0], "s": demo[1], "c": client_id, "iat": 0}, None
        if claims is None or problem == "invalid" or claims["c"] != client_id:
            return _aad_error(400, 9002313, "Invalid request. Request is malformed or invalid.")
        if problem == "inactive":
            return _aad_error(
                400, 700082, "The refresh token has expired due to inactivity. The token was issued on "
                f"{datetime.fromtimestamp(claims['iat'], UTC):%Y-%m-%dT%H:%M:%S.0000000Z} "
                "and was inactive for 90.00:00:00.",
            )  # fmt: skip
        if problem:
            return _aad_error(
                400, 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
                "The user might have changed or reset their password.",
            )  # fmt: skip
        email, scope = claims["e"], claims["s"]
    else:
        return _aad_error(400, 70003, f"The app requested an unsupported grant type '{grant_type}'.")
    # Access tokens live 60–90 minutes, chosen at random (§D.2); every refresh returns a new refresh token.
    lifetime = 3600 + secrets.randbelow(1801)
    resource_scopes = " ".join(s for s in scope.split() if s not in ID_SCOPES)
    body = {
        "token_type": "Bearer",
        "scope": resource_scopes,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": issue("microsoft", "access", email, client_id, resource_scopes, lifetime),
        "refresh_token": issue("microsoft", "refresh", email, client_id, scope, 90 * 86400),
    }
    if "openid" in scope.split():
        body["id_token"] = _id_token(
            "microsoft", email, client_id, "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
        )
    return jsonify(body)


# --- introspection and controls -------------------------------------------------------------------------------------


@bp.post("/oauth/introspect")
def introspect():
    """RFC 7662 token introspection for access tokens of either provider (Dovecot: introspection_mode = post)."""
    token = request.form.get("token", "")
    if not token and request.authorization and request.authorization.type == "bearer":
        token = request.authorization.token or ""
    claims, problem = verify(token, "access")
    if claims is None or problem:
        return jsonify(active=False)
    return jsonify(
        active=True, email=claims["e"], username=claims["e"], scope=claims["s"], client_id=claims["c"],
        exp=claims.get("exp"), token_type="Bearer", iss=claims["p"],  # noqa: S106
    )  # fmt: skip


@bp.post("/sandbox-api/oauth/revoke")
def control_revoke():
    """Demo and test control: end a user's grant ("revoked", or "inactive" for Microsoft's 90-day expiry)."""
    data = request.get_json(silent=True) or request.form
    provider, email = data.get("provider"), (data.get("email") or "").lower()
    if provider not in ("google", "microsoft") or "@" not in email:
        abort(400, "provider (google|microsoft) and email are required")
    revoke_user(provider, email, "inactive" if data.get("reason") == "inactive" else "revoked")
    return jsonify(ok=True)


@bp.post("/sandbox-api/oauth/issue")
def control_issue():
    """Test control: mint an access token for an address, as if the consent had happened (scripts, Dovecot checks)."""
    data = request.get_json(silent=True) or request.form
    provider, email = data.get("provider", "google"), (data.get("email") or "").lower()
    client_id = current_app.config["GOOGLE_CLIENT_ID" if provider == "google" else "MICROSOFT_CLIENT_ID"]
    scope = data.get("scope") or (GOOGLE_SCOPE if provider == "google" else f"{MS_IMAP} {MS_SMTP}")
    lifetime = int(data.get("expires_in", 3599))
    body = {"access_token": issue(provider, "access", email, client_id, scope, lifetime), "expires_in": lifetime}
    if data.get("refresh"):  # a whole grant (calendar tests connect without the consent page)
        body["refresh_token"] = issue(provider, "refresh", email, client_id, scope, None)
    return jsonify(body)
