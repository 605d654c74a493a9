"""Meta's webhook authentication: the X-Hub-Signature-256 header on every POST and the GET subscription handshake.

https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from chatpad.channels.errors import SignatureError

SIGNATURE_HEADER = "X-Hub-Signature-256"
LEGACY_SIGNATURE_HEADER = "X-Hub-Signature"


def sign_body(body: bytes, app_secret: str) -> dict[str, str]:
    """The signature headers Meta sends with a body: sha256 and the legacy sha1 (what the sandbox posts)."""
    key = app_secret.encode()
    return {
        SIGNATURE_HEADER: "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        LEGACY_SIGNATURE_HEADER: "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def verify_signature(body: bytes, headers: Mapping[str, str], app_secret: str | None) -> None:
    """Raise SignatureError unless X-Hub-Signature-256 is the HMAC-SHA256 of these exact bytes under the app secret.

    Meta signs the bytes it sends (unicode escaped as \\uXXXX), so the raw body is hashed, never re-serialized JSON.
    Only the sha256 header is trusted; the legacy sha1 one is ignored.
    """
    if not app_secret:
        raise SignatureError("META_APP_SECRET is not configured: webhooks cannot be verified")
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    algorithm, _, received = header.strip().partition("=")
    if algorithm.lower() != "sha256" or not received:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header")
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, received.lower()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def verify_handshake(args: Mapping[str, str], verify_token: str | None) -> str:
    """The GET subscription check: return hub.challenge (to be sent back as the plain-text body) or raise
    SignatureError (answer 403) when hub.mode is not 'subscribe' or hub.verify_token is not ours.

    https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
    """
    if not verify_token:
        raise SignatureError("META_VERIFY_TOKEN is not configured")
    mode = args.get("hub.mode")
    token = args.get("hub.verify_token") or ""
    challenge = args.get("hub.challenge")
    if mode != "subscribe":
        raise SignatureError("hub.mode is not 'subscribe'")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise SignatureError("hub.verify_token does not match META_VERIFY_TOKEN")
    if challenge is None:
        raise SignatureError("missing hub.challenge")
    return challenge
