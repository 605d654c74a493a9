"""Google Calendar API v3 (calendar-reference.md §1).

Scopes: calendar.freebusy (free/busy) and calendar.events.owned (events on calendars the account owns), the
narrowest pair. Free/busy: POST /freeBusy. Events: POST /calendars/{id}/events with our own event id (the booking id
as 32 hex digits: base32hex characters, so valid), which makes a retried create answer 409 instead of making a
second event; a deleted event keeps its id, so a 409 is read back (and revived when it was cancelled). ChatPad
emails the .ics invitation itself, so the calls say sendUpdates=none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from . import CalendarClient, CalendarError, Credentials, EventGone, EventSpec, Interval, parse_utc
from .rest import call

LABEL = "Google Calendar"


def event_id_for(key: str) -> str:
    """Google's client event id for a booking: lowercase hex (a subset of base32hex), 32 characters."""
    return key.replace("-", "").lower()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(event: EventSpec) -> dict:
    body = {
        "summary": event.summary,
        "description": event.description,
        "location": event.location,
        "start": {"dateTime": _rfc3339(event.start), "timeZone": event.timezone},
        "end": {"dateTime": _rfc3339(event.end), "timeZone": event.timezone},
        "sequence": event.sequence,
        "status": "confirmed",
        "extendedProperties": {"private": {"chatpad_booking_id": event.key, "chatpad_uid": event.uid}},
        "reminders": {"useDefault": True},
    }
    if event.attendee_email:
        body["attendees"] = [{"email": event.attendee_email, "displayName": event.attendee_name or ""}]
    return body


class GoogleCalendarClient(CalendarClient):
    provider = "google"

    def _events(self, creds: Credentials) -> str:
        return f"/calendars/{quote(creds.remote_id, safe='')}/events"

    def busy(self, creds: Credentials, start: datetime, end: datetime) -> list[Interval]:
        response = call(
            creds,
            "POST",
            "/freeBusy",
            label=LABEL,
            json={"timeMin": _rfc3339(start), "timeMax": _rfc3339(end), "items": [{"id": creds.remote_id}]},
        )
        data = response.json()
        entry = (data.get("calendars") or {}).get(creds.remote_id)
        if entry is None:
            raise CalendarError(f"{LABEL} did not answer for calendar {creds.remote_id}")
        errors = entry.get("errors") or []
        if errors:
            reason = errors[0].get("reason") or "error"
            # notFound: the calendar is gone or not shared with the account; backendError: Google's own trouble.
            raise CalendarError(
                f"{LABEL} could not read {creds.remote_id}: {reason}", transient=reason == "backendError"
            )
        return [(parse_utc(b["start"]), parse_utc(b["end"])) for b in entry.get("busy") or []]

    def create_event(self, creds: Credentials, event: EventSpec) -> str:
        event_id = event_id_for(event.key)
        response = call(
            creds,
            "POST",
            self._events(creds),
            label=LABEL,
            json={"id": event_id, **_body(event)},
            params={"sendUpdates": "none"},
            ok=(200, 201, 409),
        )
        if response.status_code == 409:
            # Created by an earlier try of this same booking (or deleted since: its id stays taken). Make it ours.
            self.update_event(creds, event_id, event)
        return event_id

    def update_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        try:
            call(
                creds,
                "PATCH",
                f"{self._events(creds)}/{quote(event_id, safe='')}",
                label=LABEL,
                json=_body(event),
                params={"sendUpdates": "none"},
            )
        except CalendarError as exc:
            if exc.status in (404, 410):
                raise EventGone(exc.reason, status=exc.status) from None
            raise

    def cancel_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        try:
            call(
                creds,
                "DELETE",
                f"{self._events(creds)}/{quote(event_id, safe='')}",
                label=LABEL,
                params={"sendUpdates": "none"},
            )
        except CalendarError as exc:
            if exc.status not in (404, 410):  # already deleted: done
                raise
