"""The shapes the calendar clients, the iCalendar writer and the booking service share: what a client needs to reach
one calendar, the event a tour becomes, and the errors a provider call ends in (messages fit for an admin, never a
token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

Interval = tuple[datetime, datetime]


class CalendarError(Exception):
    """A provider call failed. `transient`: worth retrying later; `retry_after`: the provider's own wait."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after: float | None = None, status=None):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
        self.status = status


class CalendarAuthError(CalendarError):
    """The provider refused the calendar's credentials for good: it must be reconnected."""


class EventGone(CalendarError):
    """The event is not in the calendar any more (someone deleted it there)."""


@dataclass(frozen=True)
class Credentials:
    """What a client needs to reach one calendar (no ORM object: safe in any thread)."""

    provider: str
    account: str  # the signed-in address, or the CalDAV user name
    remote_id: str  # Google calendar id, Microsoft mailbox, CalDAV collection URL
    secret: str  # an OAuth access token, or the CalDAV password
    base_url: str = ""  # the provider's API root (config; the sandbox in development)
    timeout: float = 10.0


@dataclass(frozen=True)
class EventSpec:
    """A tour as the calendar event it becomes. `key` is the booking id: the idempotency key of the create."""

    key: str
    uid: str
    start: datetime  # aware UTC
    end: datetime
    timezone: str
    summary: str
    description: str
    location: str = ""
    attendee_name: str | None = None
    attendee_email: str | None = None
    sequence: int = 0
    organizer_email: str | None = None
    extra: dict = field(default_factory=dict)


def parse_utc(value: str) -> datetime:
    """An RFC 3339 / ISO 8601 timestamp as aware UTC (a naive one is taken as UTC, as Graph sends with timeZone UTC)."""
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Graph sends 7 fractional digits, which fromisoformat refuses before 3.11's wider parser
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        rest = tail[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
