"""Graph API errors → the channel layer's error classes, by code and subcode (never by message text).

https://developers.facebook.com/docs/messenger-platform/error-codes
https://developers.facebook.com/docs/graph-api/guides/error-handling
The table is platform-reference.md §B.4: transient (retry with backoff), window closed, permanent, auth expired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chatpad.channels.errors import (
    AuthExpiredError,
    PermanentSendError,
    SendError,
    TransientSendError,
    WindowClosedError,
)

TRANSIENT_CODES = {1, 2, 1200}  # unknown / temporary server errors (2 can also mean the user blocked the Page)
RATE_LIMIT_CODES = {4, 17, 32, 613}  # app, user, Page and Send API rate limits
POLICY_WAIT_CODES = {368}  # temporarily blocked for policy violations: wait, then retry
# (code, subcode) pairs for "outside the allowed messaging window"; Instagram's subcode is 2534022.
WINDOW_SUBCODES = {(10, 2018278), (10, 2018065), (10, 2534022)}
# (code, subcode) pairs that mean this person can't be messaged now / the Page can't send: don't retry.
PERMANENT_PAIRS = {(10, 2018108), (10, 1893063), (200, 1545041), (200, 2018028)}
PERMANENT_CODES = {100, 551}
AUTH_CODES = {190}
PERMISSION_CODES = {10} | set(range(200, 300))  # permission missing or revoked: reconnect the account

# Business-use-case rate limits (80000–80014) also mean "back off".
BUC_RATE_LIMIT = range(80000, 80015)


def retry_after_from(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait, from Retry-After or Meta's usage headers (estimated_time_to_regain_access, in minutes)."""
    if not headers:
        return None
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    longest: float | None = None
    for name in ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        for usage in _usage_dicts(data):
            minutes = usage.get("estimated_time_to_regain_access")
            if isinstance(minutes, int | float) and minutes > 0:
                longest = max(longest or 0.0, float(minutes) * 60)
    return longest


def _usage_dicts(data: Any):
    if isinstance(data, dict):
        if "call_count" in data or "estimated_time_to_regain_access" in data:
            yield data
        else:
            for value in data.values():
                yield from _usage_dicts(value)
    elif isinstance(data, list):
        for value in data:
            yield from _usage_dicts(value)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def classify_graph_error(
    error: Mapping[str, Any] | None,
    status: int,
    headers: Mapping[str, str] | None = None,
    platform: str = "Messenger",
) -> SendError:
    """The SendError subclass for one Graph error response (`error` is the body's "error" object, if any)."""
    error = error or {}
    code = _as_int(error.get("code"))
    subcode = _as_int(error.get("error_subcode"))
    message = str(error.get("message") or f"HTTP {status}")
    detail = f"{platform} refused the request: {message} (code {code}" + (f"/{subcode})" if subcode else ")")
    if code is None:
        detail = f"{platform} answered HTTP {status}"
    kwargs = {"code": code, "subcode": subcode}
    pair = (code, subcode)

    if code in AUTH_CODES:
        return AuthExpiredError(f"The {platform} access token is no longer valid: {message}", **kwargs)
    if pair in WINDOW_SUBCODES:
        return WindowClosedError(f"Outside {platform}'s messaging window: {message}", **kwargs)
    if pair in PERMANENT_PAIRS or code in PERMANENT_CODES:
        return PermanentSendError(detail, **kwargs)
    if code in TRANSIENT_CODES or code in RATE_LIMIT_CODES or code in POLICY_WAIT_CODES or code in BUC_RATE_LIMIT:
        return TransientSendError(detail, retry_after=retry_after_from(headers), **kwargs)
    if code in PERMISSION_CODES:
        return AuthExpiredError(f"{platform} permission missing or revoked: {message}", **kwargs)
    if error.get("is_transient") is True:
        return TransientSendError(detail, retry_after=retry_after_from(headers), **kwargs)
    if status == 429 or status >= 500:
        return TransientSendError(detail, retry_after=retry_after_from(headers), **kwargs)
    return PermanentSendError(detail, **kwargs)
