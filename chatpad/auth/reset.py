"""Forgot password (issue 22): a signed link that sets a new password, and expires.

The link carries the user's id and a fingerprint of their current session token (chatpad.models.org), signed with
SECRET_KEY, and works for PASSWORD_RESET_MINUTES. Nothing is stored: setting the password (here, in the Users form or
the CLI) or signing out everywhere draws a new session token, so a used link, or one older than the last password
change, no longer matches and is refused. The request answers the same whether or not the address has an account;
the lookup and the mail happen in a job (jobs/passwords.py), so even the answer's timing tells nothing.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from chatpad.extensions import db
from chatpad.models import User

SALT = "chatpad-password-reset"


class ResetLinkError(ValueError):
    """A reset link that is unknown, expired or already used; str() says which, for the person who opened it."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.session_token or "").encode()).hexdigest()[:24]


def minutes_valid() -> int:
    """How long a reset link works."""
    return int(current_app.config.get("PASSWORD_RESET_MINUTES", 60))


def reset_token(user: User) -> str:
    """The signed token of a reset link for this user, valid until their session token changes or it expires."""
    return _serializer().dumps({"u": user.id, "s": _fingerprint(user)})


def user_for_reset(token: str) -> User:
    """The active user a reset token names, if it is still valid; ResetLinkError otherwise."""
    try:
        data = _serializer().loads(token, max_age=minutes_valid() * 60)
    except SignatureExpired:
        raise ResetLinkError("This link has expired. Ask for a new one from the sign-in page.") from None
    except BadSignature:
        raise ResetLinkError("This link is not valid. Ask for a new one from the sign-in page.") from None
    user = db.session.get(User, data.get("u")) if isinstance(data, dict) and isinstance(data.get("u"), int) else None
    if user is None or not user.active:
        raise ResetLinkError("This link is not valid. Ask for a new one from the sign-in page.")
    if not hmac.compare_digest(_fingerprint(user), str(data.get("s"))):
        raise ResetLinkError(
            "This link was already used, or the password has changed since it was sent. Ask for a new one from the "
            "sign-in page."
        )
    return user
