"""Connecting a location's calendars (docs/booking.md, "Connecting calendars"): the steps the Integrations screens and
`flask chatpad connect-calendar` share. Nothing is stored until the calendar answered a free/busy read.

CalDAV: the server is asked for the user's calendars (their principal's calendar home), one is chosen (by its name,
by its own address, or the only one), its free/busy is read, then it is stored with the password encrypted.
Google and Microsoft: the OAuth grant's address is the calendar (Google's primary calendar id and the Microsoft
mailbox are the address), tested the same way with the fresh access token before it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app

from chatpad.booking.calendars import base_url, connect_calendar, test_connection
from chatpad.booking.providers import CalendarAuthError, CalendarError, Credentials
from chatpad.booking.providers.caldav import FoundCalendar, discover
from chatpad.models import Calendar, Location


@dataclass
class CalendarSetupError(Exception):
    """The calendar was not connected: `reason` says what failed; `choices` are the calendars to pick from when the
    address holds several."""

    reason: str
    choices: list[FoundCalendar] = field(default_factory=list)

    def __str__(self) -> str:
        return self.reason


def _timeout() -> float:
    return float(current_app.config.get("PLATFORM_HTTP_TIMEOUT", 10))


def check_caldav_url(url: str) -> str:
    """The address as given, or CalendarSetupError for one that cannot be a CalDAV server's."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CalendarSetupError("The CalDAV address must start with https:// and name a server.")
    if parts.username or parts.password:
        raise CalendarSetupError("Put the user name and password in their own fields, not in the address.")
    return url


def choose_caldav_calendar(url: str, found: list[FoundCalendar], wanted: str | None) -> FoundCalendar:
    """The calendar to connect: the one named `wanted` (its name or the last part of its address), the one at `url`
    itself, or the only one; else CalendarSetupError listing them."""
    names = ", ".join(f.name for f in found)
    if wanted:
        key = wanted.strip().casefold()
        for calendar in found:
            if key in (calendar.name.casefold(), calendar.url.rstrip("/").rsplit("/", 1)[-1].casefold()):
                return calendar
        raise CalendarSetupError(
            f"There is no calendar called {wanted!r} at that address"
            + (f" (there are: {names})." if found else " (the user has no calendars there)."),
            found,
        )
    here = url.rstrip("/")
    for calendar in found:
        if calendar.url.rstrip("/") == here:
            return calendar
    if len(found) == 1:
        return found[0]
    if not found:
        raise CalendarSetupError("The server answered but lists no calendars for this user.")
    raise CalendarSetupError(f"This user has several calendars there ({names}): choose one.", found)


def connect_caldav(
    location: Location,
    *,
    url: str,
    username: str,
    password: str,
    calendar: str | None = None,
    user_id: int | None = None,
) -> Calendar:
    """Find, test and connect a CalDAV calendar to a location. Raises CalendarSetupError with what failed."""
    url = check_caldav_url(url)
    username = (username or "").strip()
    if not username or not password:
        raise CalendarSetupError("Give the user name and the password (an app password where the provider has them).")
    try:
        found = discover(url, username, password, timeout=_timeout())
    except CalendarAuthError as exc:
        raise CalendarSetupError(f"Signing in failed: {exc.reason}.") from None
    except CalendarError as exc:
        raise CalendarSetupError(f"{exc.reason}.") from None
    chosen = choose_caldav_calendar(url, found, calendar)
    creds = Credentials("caldav", username, chosen.url, password, timeout=_timeout())
    problem = test_connection("caldav", creds)
    if problem:
        raise CalendarSetupError(f"{chosen.name} did not answer a free/busy read: {problem}.")
    return connect_calendar(
        location,
        provider="caldav",
        account=username,
        remote_id=chosen.url,
        name=chosen.name,
        secret=password,
        meta={"server": url},
        user_id=user_id,
    )


def connect_oauth(location: Location, *, provider: str, tokens, name: str | None = None, user_id=None) -> Calendar:
    """Test and connect the calendar of a fresh Google or Microsoft grant (oauthapps.TokenSet)."""
    if not tokens.email:
        raise CalendarSetupError(
            f"{_label(provider)} did not say which account was signed in; connect again and allow 'email'."
        )
    if not tokens.refresh_token:
        raise CalendarSetupError(
            f"{_label(provider)} gave no refresh token, so the calendar would stop working within the hour. "
            "Connect again and allow offline access."
        )
    creds = Credentials(provider, tokens.email, tokens.email, tokens.access_token, base_url(provider), _timeout())
    problem = test_connection(provider, creds)
    if problem:
        raise CalendarSetupError(f"The calendar of {tokens.email} did not answer a free/busy read: {problem}.")
    return connect_calendar(
        location,
        provider=provider,
        account=tokens.email,
        remote_id=tokens.email,
        name=name or tokens.email,
        secret=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        meta={"scope": tokens.scope},
        user_id=user_id,
    )


def _label(provider: str) -> str:
    return {"google": "Google", "microsoft": "Microsoft"}.get(provider, provider)
