"""iCalendar for tours (RFC 5545/5546, with the icalendar library): the event object a CalDAV server stores, and the
invitation ChatPad emails (METHOD:REQUEST, and METHOD:CANCEL for a cancel).

The UID is the booking's and never changes, so a calendar app updates the one event it has; every change bumps
SEQUENCE and refreshes DTSTAMP, and a CANCEL carries a SEQUENCE higher than the last REQUEST, without which Outlook,
Apple Calendar and Thunderbird ignore it (calendar-reference.md §3).
"""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from .spec import EventSpec

PRODID = "-//ChatPad Channels//Tours//EN"


def _address(email: str, name: str | None, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = vText(name)
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def build_calendar(event: EventSpec, *, method: str | None = None, now: datetime | None = None) -> bytes:
    """One VEVENT in a VCALENDAR. method=None is a stored calendar object (CalDAV forbids METHOD there); REQUEST or
    CANCEL is an iTIP message for email, with the organizer and the attendee the RFC requires."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("sequence", event.sequence)
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    vevent.add("x-chatpad-booking-id", event.key)
    if event.organizer_email:
        vevent.add("organizer", _address(event.organizer_email, event.extra.get("organizer_name")))
    if event.attendee_email:
        vevent.add(
            "attendee",
            _address(
                event.attendee_email,
                event.attendee_name,
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION" if method != "CANCEL" else "DECLINED",
                RSVP="FALSE",
            ),
        )
    cal.add_component(vevent)
    return cal.to_ical()
