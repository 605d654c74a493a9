"""A connected calendar's lifecycle: usable credentials (OAuth tokens refreshed before they expire, under a lock so two
workers never spend the same Microsoft refresh token), health (the dot on the Integrations tab, a notice to the team
once per outage), and connecting one after a test (the Integrations screens and `flask chatpad connect-calendar`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Agent, Calendar, Location, utcnow
from chatpad.notify import notify_location
from chatpad.oauthapps import OAuthGrantError, OAuthTemporaryError, refresh_grant

from .providers import CalendarAuthError, CalendarError, Credentials, get_client

log = logging.getLogger("chatpad.booking.calendars")

# Transient failures in a row (timeouts, 5xx, 429) before the calendar shows as having a problem.
TRANSIENT_FAILURES = 3


def base_url(provider: str) -> str:
    cfg = current_app.config
    return {"google": cfg["GOOGLE_CALENDAR_API_URL"], "microsoft": cfg["MICROSOFT_GRAPH_URL"]}.get(provider, "")


def oauth_scope(provider: str) -> str:
    cfg = current_app.config
    return cfg["GOOGLE_CALENDAR_SCOPES"] if provider == "google" else cfg["MICROSOFT_CALENDAR_SCOPES"]


def needs_refresh(calendar: Calendar, margin: float | None = None) -> bool:
    if calendar.provider == "caldav":
        return False
    if margin is None:
        margin = float(current_app.config.get("CALENDAR_TOKEN_REFRESH_MARGIN", 600))
    expires = calendar.token_expires_at
    return not calendar.access_token or expires is None or expires <= utcnow() + timedelta(seconds=margin)


def refresh_calendar(calendar: Calendar, margin: float | None = None, *, force: bool = False) -> str:
    """Refresh one calendar's access token now: "refreshed", "fresh" (another worker just did) or "needs_reauth".
    Raises CalendarError(transient) when the token endpoint is down. Commits."""
    from chatpad.queue import get_redis

    with get_redis().lock(f"chatpad:lock:calendar-token:{calendar.id}", timeout=60, blocking_timeout=60):
        db.session.refresh(calendar)
        if not force and not needs_refresh(calendar, margin) and calendar.status != "needs_reauth":
            return "fresh"
        if not calendar.refresh_token:
            mark_problem(calendar, CalendarAuthError("No refresh token is stored for this calendar."))
            db.session.commit()
            return "needs_reauth"
        try:
            tokens = refresh_grant(calendar.provider, calendar.refresh_token, scope=oauth_scope(calendar.provider))
        except OAuthGrantError as exc:
            mark_problem(calendar, CalendarAuthError(str(exc)))
            db.session.commit()
            return "needs_reauth"
        except OAuthTemporaryError as exc:
            raise CalendarError(str(exc), transient=True) from exc
        calendar.access_token = tokens.access_token
        calendar.token_expires_at = tokens.expires_at
        if tokens.refresh_token and tokens.refresh_token != calendar.refresh_token:
            calendar.refresh_token = tokens.refresh_token  # Microsoft rotates it on every refresh
        db.session.commit()
        return "refreshed"


def credentials(calendar: Calendar, *, force_refresh: bool = False) -> Credentials:
    """What a client needs to reach this calendar now; the token refreshed first when it is about to expire.
    Raises CalendarAuthError when it must be reconnected, CalendarError when the token endpoint is down."""
    if calendar.provider != "caldav" and (force_refresh or needs_refresh(calendar)):
        if refresh_calendar(calendar, force=force_refresh) == "needs_reauth":
            raise CalendarAuthError(calendar.last_error or "The calendar must be reconnected.")
    return Credentials(
        provider=calendar.provider,
        account=calendar.account,
        remote_id=calendar.remote_id,
        secret=calendar.access_token or "",
        base_url=base_url(calendar.provider),
        timeout=float(current_app.config.get("PLATFORM_HTTP_TIMEOUT", 10)),
    )


def mark_problem(calendar: Calendar, exc: CalendarError) -> bool:
    """Record a calendar's failure: needs_reauth for refused credentials, error for a permanent failure or for
    transient ones (timeouts, 5xx, 429) TRANSIENT_FAILURES times in a row; one passing 429 changes nothing but the
    count. The team hears once per outage. True when the state changed. The caller commits."""
    calendar.checked_at = utcnow()
    if exc.transient:
        failures = int((calendar.meta or {}).get("transient_failures", 0)) + 1
        calendar.meta = {**(calendar.meta or {}), "transient_failures": failures}
        log.info("calendar %s (%s), failure %d in a row: %s", calendar.id, calendar.provider, failures, exc.reason)
        if failures < TRANSIENT_FAILURES:
            return True
    new = "needs_reauth" if isinstance(exc, CalendarAuthError) else "error"
    if calendar.status == new and calendar.last_error == exc.reason:
        return False
    first = calendar.status not in ("needs_reauth", "error")
    calendar.status, calendar.last_error = new, exc.reason
    location = db.session.get(Location, calendar.location_id)
    agent = db.session.get(Agent, calendar.agent_id)
    if first and agent is not None:
        todo = "Open Integrations → Calendars and press Reconnect." if new == "needs_reauth" else "Open Integrations."
        notify_location(
            agent.organization_id,
            calendar.location_id,
            kind="calendar_needs_reauth" if new == "needs_reauth" else "calendar_error",
            title=f"Calendar {calendar.name} ({location.name if location else 'no location'}) "
            + ("needs to be reconnected" if new == "needs_reauth" else "has a problem"),
            body=f"{exc.reason} Tours are offered from the location's other calendars, or by its booking link. {todo}",
        )
        record_audit(
            "calendar.needs_reauth" if new == "needs_reauth" else "calendar.error",
            organization_id=agent.organization_id,
            detail={"calendar_id": str(calendar.id), "provider": calendar.provider, "reason": exc.reason},
        )
    log.warning("calendar %s (%s) %s: %s", calendar.id, calendar.provider, new, exc.reason)
    return True


def mark_ok(calendar: Calendar) -> bool:
    """A call just worked: a calendar marked "error" is healthy again (needs_reauth waits for a reconnection)."""
    now = utcnow()
    if calendar.checked_at is None or calendar.checked_at < now - timedelta(minutes=1):
        calendar.checked_at = now  # not a write on every read
    if (calendar.meta or {}).get("transient_failures"):
        calendar.meta = {k: v for k, v in calendar.meta.items() if k != "transient_failures"}
    if calendar.status == "error":
        calendar.mark_healthy()
        return True
    return False


def check_calendar(calendar: Calendar) -> str:
    """Health check: a free/busy read of the next day. "ok", "needs_reauth", "error" or "unknown". Commits."""
    if not calendar.is_active or calendar.status == "disconnected":
        return "skipped"
    now = utcnow()
    try:
        creds = credentials(calendar)
        get_client(calendar.provider).check(creds, now, now + timedelta(days=1))
    except CalendarError as exc:
        mark_problem(calendar, exc)
        if exc.transient and calendar.status not in ("error", "needs_reauth"):
            db.session.commit()
            return "unknown"
        db.session.commit()
        return calendar.status
    mark_ok(calendar)
    db.session.commit()
    return "ok"


def test_connection(provider: str, creds: Credentials) -> str | None:
    """Try the calendar before storing it: None when it answers free/busy, else what failed, in the admin's words."""
    now = utcnow()
    try:
        get_client(provider).check(creds, now, now + timedelta(days=1))
    except CalendarAuthError as exc:
        return f"Signing in failed: {exc.reason}"
    except CalendarError as exc:
        return exc.reason
    return None


class CalendarConnectError(ValueError):
    """The calendar cannot be connected as asked (another organization's location, a failed test)."""


def connect_calendar(
    location: Location,
    *,
    provider: str,
    account: str,
    remote_id: str,
    name: str,
    secret: str,
    refresh_token: str | None = None,
    expires_at=None,
    meta: dict | None = None,
    user_id: int | None = None,
) -> Calendar:
    """Create or update a location's calendar (only after its test passed). Commits."""
    calendar = db.session.scalar(
        select(Calendar).where(
            Calendar.location_id == location.id, Calendar.provider == provider, Calendar.remote_id == remote_id
        )
    )
    created = calendar is None
    if calendar is None:
        calendar = Calendar(location_id=location.id, agent_id=location.agent_id, provider=provider, remote_id=remote_id)
        db.session.add(calendar)
    calendar.account = account
    calendar.name = name
    calendar.access_token = secret
    if refresh_token:
        calendar.refresh_token = refresh_token
    calendar.token_expires_at = expires_at
    calendar.meta = {**(calendar.meta or {}), **(meta or {})}
    calendar.is_active = True
    calendar.mark_healthy()
    calendar.checked_at = utcnow()
    db.session.flush()
    agent = db.session.get(Agent, location.agent_id)
    record_audit(
        "calendar.connected" if created else "calendar.reconnected",
        organization_id=agent.organization_id,
        user_id=user_id,
        detail={"calendar_id": str(calendar.id), "provider": provider, "account": account, "location": location.name},
    )
    db.session.commit()
    return calendar
