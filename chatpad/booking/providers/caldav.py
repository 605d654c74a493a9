"""Any CalDAV server (iCloud, Fastmail, Nextcloud, Radicale…) through the `caldav` library (RFC 4791).

Free/busy is the free-busy-query REPORT on the calendar collection (Calendar.freebusy_request); events are stored
with PUT under the booking's stable UID, so a retried create overwrites the same resource instead of adding a second.
CalDAV servers like Radicale do no iTIP scheduling: ChatPad emails the invitation itself. The password is the
calendar's encrypted secret; an app password where the provider has them (iCloud, Fastmail).

caldav is pinned to 2.0.1, its last release on `requests`: later ones pull in niquests and urllib3-future, whose .pth
file replaces the urllib3 every other client of this app uses (docs/booking.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import requests
from icalendar import Calendar as ICalendar

from chatpad.security import OUTBOUND_REFUSED, OutboundAddressRefused, guard_session

from ..ics import build_calendar
from . import CalendarAuthError, CalendarClient, CalendarError, Credentials, EventGone, EventSpec, Interval

LABEL = "The CalDAV server"
BUSY_TYPES = {"BUSY", "BUSY-UNAVAILABLE", "BUSY-TENTATIVE"}


def _client(url: str, username: str, password: str, timeout: float):
    """A DAV client for a URL the tenant typed: no loopback, private or metadata address (unless
    ALLOW_PRIVATE_HOSTS), redirects included, and each connection goes to the address that was checked
    (chatpad.security.guard_session)."""
    import caldav

    client = caldav.DAVClient(url=url, username=username, password=password, timeout=int(max(1, timeout)))
    guard_session(client.session)
    return client


def _calendar(creds: Credentials):
    client = _client(creds.remote_id, creds.account, creds.secret, creds.timeout)
    return client.calendar(url=creds.remote_id)


def _translate(exc: Exception, what: str) -> CalendarError:
    from caldav.lib import error

    if isinstance(exc, OutboundAddressRefused):
        return CalendarError(f"{LABEL} {OUTBOUND_REFUSED} ({what})", transient=False)
    if isinstance(exc, error.AuthorizationError):
        return CalendarAuthError(f"{LABEL} refused the user name or password while {what}", status=401)
    if isinstance(exc, error.NotFoundError):
        return CalendarError(f"{LABEL} has no calendar at that address ({what})", status=404)
    if isinstance(exc, requests.Timeout):
        return CalendarError(f"{LABEL} did not answer in time while {what}", transient=True)
    if isinstance(exc, requests.ConnectionError):
        return CalendarError(f"{LABEL} could not be reached while {what}", transient=True)
    if isinstance(exc, error.DAVError):
        reason = str(getattr(exc, "reason", "") or exc).splitlines()[0][:200]
        transient = any(code in reason for code in ("500", "502", "503", "504", "429"))
        return CalendarError(f"{LABEL} failed while {what}: {reason}", transient=transient)
    return CalendarError(f"{LABEL} failed while {what}: {type(exc).__name__}", transient=True)


def parse_free_busy(data: bytes | str) -> list[Interval]:
    """The busy periods of a free-busy REPORT answer (VFREEBUSY with FREEBUSY periods and FBTYPE)."""
    busy: list[Interval] = []
    if not data:
        return busy
    cal = ICalendar.from_ical(data)
    for component in cal.walk("VFREEBUSY"):
        values = component.get("FREEBUSY")
        if values is None:
            continue
        for prop in values if isinstance(values, list) else [values]:
            fbtype = str(prop.params.get("FBTYPE", "BUSY")).upper()
            if fbtype not in BUSY_TYPES:
                continue
            periods = prop.dt if isinstance(prop.dt, list) else [prop.dt]
            for period in periods:
                start, end = period
                if not isinstance(end, datetime):  # a duration
                    end = start + end
                busy.append((_utc(start), _utc(end)))
    return busy


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


class CalDAVClient(CalendarClient):
    provider = "caldav"

    def busy(self, creds: Credentials, start: datetime, end: datetime) -> list[Interval]:
        try:
            answer = _calendar(creds).freebusy_request(start.astimezone(UTC), end.astimezone(UTC))
            data = answer.data
        except Exception as exc:  # noqa: BLE001 (the library raises its own and requests' errors)
            raise _translate(exc, "reading free/busy") from None
        return parse_free_busy(data)

    def _resource(self, creds: Credentials, uid: str) -> tuple:
        """(DAV client, the event's own URL): the collection URL plus the UID, so a retry, a move and the cancel all
        address the one resource the first PUT made."""
        calendar = _calendar(creds)
        return calendar.client, str(calendar.url.join(quote(uid, safe="@") + ".ics"))

    def _put(self, creds: Credentials, event: EventSpec, what: str) -> None:
        try:
            client, url = self._resource(creds, event.uid)
            # Our bytes as they are: SEQUENCE is the booking's (the library's save() bumps it once more on every PUT).
            response = client.put(
                url, build_calendar(event).decode(), {"Content-Type": 'text/calendar; charset="utf-8"'}
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, what) from None
        if response.status not in (200, 201, 204):
            raise _status_error(response.status, response.reason, what)

    def create_event(self, creds: Credentials, event: EventSpec) -> str:
        self._put(creds, event, "creating the event")
        return event.uid

    def update_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        self._put(creds, event, "moving the event")

    def cancel_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        try:
            client, url = self._resource(creds, event.uid)
            response = client.delete(url)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, "cancelling the event") from None
        if response.status not in (200, 204, 404, 410):  # 404/410: gone already
            raise _status_error(response.status, response.reason, "cancelling the event")


@dataclass(frozen=True)
class FoundCalendar:
    """A calendar collection the server lists for the signed-in user."""

    name: str
    url: str


def discover(url: str, username: str, password: str, timeout: float = 10.0) -> list[FoundCalendar]:
    """The calendars of the user who signs in at `url` (a server, principal or calendar address): their principal's
    calendar home, listed. Raises CalendarError with what failed (refused sign-in, unreachable, not CalDAV)."""
    try:
        client = _client(url, username, password, timeout)
        found = [
            FoundCalendar(name=str(c.name or c.id or c.url), url=str(c.url)) for c in client.principal().calendars()
        ]
    except Exception as exc:  # noqa: BLE001 (the library raises its own and requests' errors)
        raise _translate(exc, "finding the calendars") from None
    return found


def _status_error(status: int, reason: str | None, what: str) -> CalendarError:
    text = f"{LABEL} answered {status} {reason or ''}".rstrip() + f" while {what}"
    return CalendarError(text, transient=status in (429, 500, 502, 503, 504), status=status)


__all__ = ["CalDAVClient", "EventGone", "FoundCalendar", "discover", "parse_free_busy"]
