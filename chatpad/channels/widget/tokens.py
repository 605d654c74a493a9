"""Visitor identity: a signed token in the visitor's localStorage, and a short-lived ticket for the event stream.

The visitor token says "visitor v of widget w" (plus the name and email the visitor typed, so they reach the
pipeline with every message without a write before the first one). It is signed with SECRET_KEY (itsdangerous),
not encrypted: it only holds what the visitor told us. It travels in the Authorization header, never in a cookie,
so the host page's cookies and CSRF play no part.

EventSource cannot send headers, so the stream URL carries a ticket instead: signed with another salt, valid for
WIDGET_STREAM_TICKET_MAX_AGE seconds, good only for reading that visitor's live events. URLs end up in access logs;
a ticket there expires within the hour, a visitor token would not.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

VISITOR_SALT = "chatpad.widget.visitor.v1"
STREAM_SALT = "chatpad.widget.stream.v1"


class TokenError(Exception):
    """A visitor token or stream ticket that is missing, forged, expired or for another widget."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Visitor:
    """Who is talking to a widget: the account (widget) id, the visitor id, and what they told us about themselves."""

    account_id: uuid.UUID
    visitor_id: str
    name: str | None = None
    email: str | None = None


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(16)


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def issue_visitor_token(visitor: Visitor) -> str:
    """A fresh token for the visitor (re-issued on every session start, so an active visitor never expires)."""
    data = {"w": str(visitor.account_id), "v": visitor.visitor_id}
    if visitor.name:
        data["n"] = visitor.name
    if visitor.email:
        data["e"] = visitor.email
    return _serializer(VISITOR_SALT).dumps(data)


def read_visitor_token(token: str | None, account_id: uuid.UUID) -> Visitor:
    """The visitor a token names, if it is genuine, unexpired and for this widget; TokenError otherwise."""
    data = _loads(token, VISITOR_SALT, current_app.config["WIDGET_VISITOR_TOKEN_MAX_AGE"])
    return _visitor(data, account_id)


def issue_stream_ticket(visitor: Visitor) -> str:
    return _serializer(STREAM_SALT).dumps({"w": str(visitor.account_id), "v": visitor.visitor_id})


def read_stream_ticket(ticket: str | None, account_id: uuid.UUID) -> Visitor:
    data = _loads(ticket, STREAM_SALT, current_app.config["WIDGET_STREAM_TICKET_MAX_AGE"])
    return _visitor(data, account_id)


def _loads(token: str | None, salt: str, max_age: int) -> dict:
    if not token:
        raise TokenError("missing")
    if len(token) > 2048:
        raise TokenError("invalid")
    try:
        data = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenError("expired") from None
    except BadSignature:
        raise TokenError("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), str) or not isinstance(data.get("w"), str):
        raise TokenError("invalid")
    return data


def _visitor(data: dict, account_id: uuid.UUID) -> Visitor:
    if data["w"] != str(account_id):
        raise TokenError("other_widget")
    return Visitor(account_id=account_id, visitor_id=data["v"], name=data.get("n"), email=data.get("e"))
