"""Calendars for the booking tests: the sandbox's Google Calendar and Microsoft Graph stand-ins (reset for each test
that uses them), calendars connected to a location with a real grant from the sandbox's OAuth endpoints, and a
Radicale calendar (tests/plugins/caldav.py) connected the way `flask chatpad connect-calendar` connects one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from chatpad.models import Calendar, TourType

from .caldav import USERS

SCOPES = {
    "google": "openid email https://www.googleapis.com/auth/calendar.freebusy "
    "https://www.googleapis.com/auth/calendar.events.owned",
    "microsoft": "openid email offline_access https://graph.microsoft.com/Calendars.ReadWrite",
}


class CalendarSandbox:
    """The sandbox's calendar controls (chatpad/sandbox/calendars.py) over HTTP."""

    def __init__(self, url: str):
        self.url = url

    def _post(self, path: str, **body) -> dict:
        response = requests.post(f"{self.url}/sandbox-api/calendar/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._post("reset")

    def busy(self, provider: str, email: str, start: datetime, end: datetime, summary: str = "Staff meeting") -> str:
        """A meeting staff put in the calendar directly."""
        return self._post(
            "busy", provider=provider, email=email, start=start.isoformat(), end=end.isoformat(), summary=summary
        )["id"]

    def fail(self, provider: str, status: int = 503, count: int = 1, retry_after=None, op: str | None = None) -> None:
        self._post("fail", provider=provider, status=status, count=count, retry_after=retry_after, op=op)

    def outage(self, provider: str, on: bool = True) -> None:
        self._post("outage", provider=provider, on=on)

    def events(self, provider: str | None = None, email: str | None = None) -> list[dict]:
        params = {k: v for k, v in (("provider", provider), ("email", email)) if v}
        response = requests.get(f"{self.url}/sandbox-api/calendar/events", params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def tours(self, provider: str | None = None, email: str | None = None) -> list[dict]:
        """The live events ChatPad made."""
        return [e for e in self.events(provider, email) if e["created_by"] == "chatpad" and e["status"] != "cancelled"]

    def requests(self) -> list[dict]:
        response = requests.get(f"{self.url}/sandbox-api/calendar/requests", timeout=5)
        response.raise_for_status()
        return response.json()

    def grant(self, provider: str, email: str, expires_in: int = 3599) -> dict:
        """A whole grant for an address (access and refresh token), as if the admin had consented."""
        response = requests.post(
            f"{self.url}/sandbox-api/oauth/issue",
            json={
                "provider": provider,
                "email": email,
                "scope": SCOPES[provider],
                "expires_in": expires_in,
                "refresh": True,
            },
            timeout=5,
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture
def calendar_sandbox(sandbox_server):
    sandbox = CalendarSandbox(sandbox_server.url)
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture
def connect(db, calendar_sandbox, request):
    """connect(location, provider, email=…, name=…) → a connected Calendar row: an OAuth grant from the sandbox for
    Google and Microsoft; a new Radicale calendar of user "ana" for CalDAV."""

    def _connect(location, provider: str = "google", email: str | None = None, name: str | None = None, **kw):
        now = datetime.now(UTC)
        if provider == "caldav":
            user = kw.pop("user", "ana")
            url = request.getfixturevalue("radicale").make_calendar(user)  # started only when a test needs it
            calendar = Calendar(
                agent_id=location.agent_id,
                location_id=location.id,
                provider="caldav",
                name=name or f"{user}'s calendar",
                account=user,
                remote_id=url,
                access_token=USERS[user],
            )
        else:
            email = email or f"tours-{provider}-{now.timestamp():.6f}@example.com"
            grant = calendar_sandbox.grant(provider, email, expires_in=kw.pop("expires_in", 3599))
            calendar = Calendar(
                agent_id=location.agent_id,
                location_id=location.id,
                provider=provider,
                name=name or email,
                account=email,
                remote_id=email,
                access_token=grant["access_token"],
                refresh_token=grant["refresh_token"],
                token_expires_at=now + timedelta(seconds=int(grant["expires_in"])),
            )
        for key, value in kw.items():
            setattr(calendar, key, value)
        db.session.add(calendar)
        db.session.commit()
        return calendar

    return _connect


@pytest.fixture
def tour_type(db):
    """tour_type(location, **minutes) → the location's TourType row (defaults: notice 0, no daily limit)."""

    def _tour_type(location, **values):
        values.setdefault("min_notice_minutes", 0)
        row = db.session.get(TourType, location.id) or TourType(location_id=location.id)
        for key, value in values.items():
            setattr(row, key, value)
        db.session.add(row)
        db.session.commit()
        return row

    return _tour_type
