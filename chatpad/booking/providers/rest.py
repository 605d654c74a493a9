"""JSON over HTTPS for the Google and Microsoft clients: one pooled session, a timeout on every call, and their
errors sorted the way both document them (calendar-reference.md §1 "Errors and quotas", §2 "Errors and
throttling"): timeouts, 5xx, 429 and Google's 403 rate limits are transient (with Retry-After); 401 and a 403
about permissions mean reconnect; the rest are permanent, with the provider's own message."""

from __future__ import annotations

import threading
from typing import Any

import requests

from chatpad.http import PooledSession, retry_after_seconds

from . import CalendarAuthError, CalendarError, Credentials

RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "backendError"}
_session: PooledSession | None = None
_lock = threading.Lock()


def session() -> PooledSession:
    global _session
    with _lock:
        if _session is None:
            _session = PooledSession(64)
        return _session


def error_parts(response: requests.Response) -> tuple[str, str]:
    """(code or reason, message) from Google's {"error": {"errors": [{"reason"}], "message"}} or Graph's
    {"error": {"code", "message"}}."""
    try:
        body = response.json()
    except ValueError:
        return "", (response.text or response.reason or "")[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", str(error or body)[:200]
    reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict) and e.get("reason")]
    code = reasons[0] if reasons else str(error.get("code") or error.get("status") or "")
    return code, str(error.get("message") or "")[:300]


def call(
    creds: Credentials,
    method: str,
    path: str,
    *,
    label: str,
    json: Any = None,
    params: dict | None = None,
    headers: dict | None = None,
    ok: tuple[int, ...] = (200, 201, 202, 204),
) -> requests.Response:
    """One authorized call; the response when its status is in `ok`, else the classified CalendarError."""
    url = creds.base_url.rstrip("/") + path
    sent = {"Authorization": f"Bearer {creds.secret}", "Accept": "application/json", **(headers or {})}
    try:
        response = session().request(
            method, url, json=json, params=params, headers=sent, timeout=(min(5.0, creds.timeout), creds.timeout)
        )
    except requests.Timeout:
        raise CalendarError(f"{label} did not answer within {creds.timeout:g}s", transient=True) from None
    except requests.ConnectionError as exc:
        raise CalendarError(f"{label} could not be reached ({type(exc).__name__})", transient=True) from None
    if response.status_code in ok:
        return response
    raise classify(response, label)


def classify(response: requests.Response, label: str) -> CalendarError:
    status = response.status_code
    code, message = error_parts(response)
    text = f"{label} answered {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if status == 429 or status >= 500 or (status == 403 and code in RATE_LIMIT_REASONS):
        return CalendarError(text, transient=True, retry_after=retry_after, status=status)
    if status in (401, 403):
        return CalendarAuthError(text, status=status)
    return CalendarError(text, status=status)
