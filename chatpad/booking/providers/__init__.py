"""Calendar providers: read busy times and create, move and cancel tour events, one client per provider.

Each client takes a Credentials (the calendar's ids and a usable secret, read before any network call) and plain
values, so calls for many calendars run side by side in threads without the database. Errors come out as
CalendarError: transient ones (timeouts, 5xx, 429 with its Retry-After) may be retried; CalendarAuthError means the
calendar must be reconnected; the message is fit for an admin and never holds a token.

Wire facts and their sources: calendar-reference.md (Google Calendar API v3 §1, Microsoft Graph §2, CalDAV §3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from functools import cache
from importlib import import_module

from ..spec import (
    CalendarAuthError,
    CalendarError,
    Credentials,
    EventGone,
    EventSpec,
    Interval,
    parse_utc,
)


class CalendarClient(ABC):
    """One provider's calls. Implementations are stateless and shared by threads."""

    provider: str
    # The provider emails the attendees invitations itself (Microsoft 365 always does): ChatPad then sends none.
    sends_invitations: bool = False

    @abstractmethod
    def busy(self, creds: Credentials, start: datetime, end: datetime) -> list[Interval]:
        """The calendar's busy intervals overlapping [start, end), aware UTC."""

    @abstractmethod
    def create_event(self, creds: Credentials, event: EventSpec) -> str:
        """Create the event, or find the one a retry of the same key already created; its provider id."""

    @abstractmethod
    def update_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        """Move the event (times, sequence). EventGone when it is not there any more."""

    @abstractmethod
    def cancel_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        """Cancel the event; one already gone is fine."""

    def check(self, creds: Credentials, start: datetime, end: datetime) -> None:
        """Raise unless the calendar answers (the connection test and the health check): a free/busy read."""
        self.busy(creds, start, end)


CLIENTS = {
    "google": "chatpad.booking.providers.google:GoogleCalendarClient",
    "microsoft": "chatpad.booking.providers.microsoft:GraphCalendarClient",
    "caldav": "chatpad.booking.providers.caldav:CalDAVClient",
}


@cache
def get_client(provider: str) -> CalendarClient:
    """The client for a provider key; KeyError for an unknown one."""
    module_name, _, class_name = CLIENTS[provider].partition(":")
    return getattr(import_module(module_name), class_name)()


__all__ = [
    "CLIENTS",
    "CalendarAuthError",
    "CalendarClient",
    "CalendarError",
    "Credentials",
    "EventGone",
    "EventSpec",
    "Interval",
    "get_client",
    "parse_utc",
]
