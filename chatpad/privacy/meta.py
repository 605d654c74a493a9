"""Meta's Data Deletion Request Callback.

When someone removes the app in their Facebook settings and asks for their data to be deleted, Meta POSTs a form
field ``signed_request`` to the callback URL set in the App Dashboard. We verify it, record the request, answer with
the status URL and a confirmation code, and carry it out in a job.

Format (https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback/):
``signed_request`` is ``<signature>.<payload>``, both base64url without padding; the payload is JSON
``{"algorithm": "HMAC-SHA256", "expires": …, "issued_at": …, "user_id": "<app-scoped user id>"}`` and the signature
is HMAC-SHA256 of the *encoded* payload string, keyed with the app secret. The answer must be JSON
``{"url": "<status page>", "confirmation_code": "<alphanumeric code>"}``, and the page must explain the request's
status in human-readable form.

Whose data that is. The user_id is app-scoped: Meta issues those to people who log in to the app — for ChatPad, the
business's staff who connected Pages and Instagram accounts with Facebook Login. Customers who only write to a Page
are known by Page-scoped ids, which are different numbers for the same person
(https://developers.facebook.com/docs/apps/for-business, "Mapping Users Across Apps and Pages"). So a request is
carried out on both sides:
- accounts connected by that Facebook user: their tokens (obtained through that person's login) are deleted, the
  person's id is removed from the account, and the account is marked for reconnection with the admins told why;
- customer identities on Facebook or Instagram with that id (as their platform id, or recorded as their app-scoped
  id in the identity's profile): erased with their conversations on those accounts (chatpad.privacy.erase).
A customer known only by a Page-scoped id is erased from the admin's Customer data page on request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.http import loads_json
from chatpad.models import ContactIdentity, DataDeletionRequest, utcnow
from chatpad.notify import notify_team

from .erase import accounts_connected_by, erase_identities

log = logging.getLogger("chatpad.privacy.meta")

META_CHANNELS = ("facebook", "instagram")


class SignedRequestError(ValueError):
    """The signed_request is missing, malformed, not signed with our app secret, or expired."""


@dataclass
class SignedRequest:
    user_id: str
    issued_at: int | None
    payload: dict[str, Any]


def _b64url_decode(value: str) -> bytes:
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SignedRequestError("not base64url") from None


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_signed_request(
    signed_request: str | None, app_secret: str | None, *, now: int | None = None
) -> SignedRequest:
    """Verify and decode a signed_request; raise SignedRequestError (with the reason) otherwise."""
    if not app_secret:
        raise SignedRequestError("META_APP_SECRET is not configured")
    if not signed_request or "." not in signed_request or len(signed_request) > 8192:
        raise SignedRequestError("missing or malformed signed_request")
    encoded_signature, _, encoded_payload = signed_request.partition(".")
    signature = _b64url_decode(encoded_signature)
    expected = hmac.new(app_secret.encode(), encoded_payload.encode("ascii", "replace"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise SignedRequestError("signature does not match")
    try:
        payload = loads_json(_b64url_decode(encoded_payload))
    except ValueError:
        raise SignedRequestError("payload is not JSON") from None
    if not isinstance(payload, dict):
        raise SignedRequestError("payload is not a JSON object")
    if str(payload.get("algorithm", "")).upper() != "HMAC-SHA256":
        raise SignedRequestError(f"unexpected algorithm {payload.get('algorithm')!r}")
    user_id = payload.get("user_id")
    if not isinstance(user_id, str | int) or not str(user_id).strip():
        raise SignedRequestError("no user_id")
    expires = payload.get("expires")
    if isinstance(expires, int) and expires and now is not None and expires < now:
        raise SignedRequestError("the request has expired")
    issued = payload.get("issued_at")
    return SignedRequest(str(user_id).strip(), issued if isinstance(issued, int) else None, payload)


def make_signed_request(user_id: str, app_secret: str, *, issued_at: int, expires: int | None = None) -> str:
    """A signed_request as Meta builds it (the sandbox sends these; tests use them)."""
    payload = {"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": str(user_id)}
    if expires is not None:
        payload["expires"] = expires
    encoded = _b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(app_secret.encode(), encoded.encode(), hashlib.sha256).digest()
    return f"{_b64url_encode(signature)}.{encoded}"


def new_confirmation_code() -> str:
    """Alphanumeric, as Meta asks, and unguessable: it is the only key to the public status page."""
    return secrets.token_hex(12)


def record_request(user_id: str) -> DataDeletionRequest:
    """Store a verified request (the platform id encrypted until it is carried out) and commit."""
    request = DataDeletionRequest(
        source="meta", confirmation_code=new_confirmation_code(), status="received", platform_user_id=user_id
    )
    db.session.add(request)
    db.session.commit()
    return request


def carry_out(request_id: int) -> DataDeletionRequest | None:
    """Delete what we hold about the request's Facebook user (module docstring); idempotent; commits."""
    request = db.session.get(DataDeletionRequest, request_id)
    if request is None or request.status == "completed":
        return request
    user_id = request.platform_user_id
    if not user_id:
        request.status, request.error = "failed", "no user id recorded"
        db.session.commit()
        return request

    identities = list(
        db.session.scalars(
            select(ContactIdentity).where(
                ContactIdentity.channel.in_(META_CHANNELS),
                or_(
                    ContactIdentity.external_id == user_id,
                    ContactIdentity.profile["app_scoped_id"].as_string() == user_id,
                ),
            )
        )
    )
    orgs: dict[int, dict[str, int]] = {}
    for identity in identities:
        orgs.setdefault(identity.contact.organization_id, {"identities": 0, "accounts": 0})["identities"] += 1
    erased = erase_identities(identities, reason="meta_request") if identities else None

    accounts = accounts_connected_by(user_id)
    for account in accounts:
        org_id = account.organization_id
        orgs.setdefault(org_id, {"identities": 0, "accounts": 0})["accounts"] += 1
        meta = {k: v for k, v in (account.meta or {}).items() if not k.startswith("platform_user")}
        account.meta = meta
        account.access_token = None
        account.refresh_token = None
        reason = (
            "The Facebook user who connected it removed ChatPad and asked Meta to have their data deleted, so its "
            "access was deleted. Reconnect it with another admin of the Page."
        )
        account.mark_needs_reauth(reason)
        if org_id is not None:
            notify_team(
                org_id,
                kind="account_needs_reauth",
                title=f"{account.account_name} needs to be reconnected",
                body=reason,
                account=account,
            )

    result = {
        "identities": erased.identities if erased else 0,
        "contacts": erased.contacts if erased else 0,
        "conversations": erased.conversations if erased else 0,
        "messages": erased.messages if erased else 0,
        "attachments": erased.attachments if erased else 0,
        "accounts_disconnected": len(accounts),
    }
    for org_id, counts in orgs.items():
        if org_id is None:
            continue
        record_audit(
            "privacy.meta_deletion",
            organization_id=org_id,
            target_type="DataDeletionRequest",
            target_id=str(request.id),
            detail={"confirmation_code": request.confirmation_code, **counts},
        )
    request.result = result
    request.status = "completed"
    request.completed_at = utcnow()
    request.platform_user_id = None  # done: we no longer need to know whose request it was
    request.error = None
    db.session.commit()
    log.info("carried out Meta data deletion request %s: %s", request.id, result)
    return request
