"""Microsoft 365 calendars through Microsoft Graph (calendar-reference.md §2).

Permission: Calendars.ReadWrite (delegated), which covers getSchedule and events. Free/busy: POST
/me/calendar/getSchedule for the signed-in mailbox (tentative, busy and out-of-office count as busy). Events: POST
/me/calendar/events with transactionId = the booking id, Graph's documented way to make a retried create return the
event it already made. Creating an event with attendees makes Exchange send the invitation itself, so ChatPad sends
none for Microsoft calendars; a cancel is POST /me/events/{id}/cancel (202), which sends the cancellation. Times go
as UTC, a zone every mailbox accepts. 429 comes with Retry-After.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from . import CalendarClient, CalendarError, Credentials, EventGone, EventSpec, Interval, parse_utc
from .rest import call

LABEL = "Microsoft 365"
BUSY_STATUSES = {"busy", "tentative", "oof"}


def _when(moment: datetime) -> dict:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _body(event: EventSpec) -> dict:
    body = {
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description},
        "start": _when(event.start),
        "end": _when(event.end),
        "location": {"displayName": event.location},
        "allowNewTimeProposals": False,  # a new time is asked for in the conversation, where the AI can check it
        "categories": ["ChatPad tour"],
    }
    if event.attendee_email:
        body["attendees"] = [
            {"emailAddress": {"address": event.attendee_email, "name": event.attendee_name or ""}, "type": "required"}
        ]
    return body


class GraphCalendarClient(CalendarClient):
    provider = "microsoft"
    sends_invitations = True

    def busy(self, creds: Credentials, start: datetime, end: datetime) -> list[Interval]:
        response = call(
            creds,
            "POST",
            "/me/calendar/getSchedule",
            label=LABEL,
            json={
                "schedules": [creds.remote_id],
                "startTime": _when(start),
                "endTime": _when(end),
                "availabilityViewInterval": 15,
            },
        )
        values = response.json().get("value") or []
        entry = next((v for v in values if str(v.get("scheduleId", "")).lower() == creds.remote_id.lower()), None)
        if entry is None:
            raise CalendarError(f"{LABEL} did not answer for {creds.remote_id}")
        if entry.get("error"):
            error = entry["error"]
            raise CalendarError(f"{LABEL} could not read {creds.remote_id}: {error.get('message') or error}")
        busy = []
        for item in entry.get("scheduleItems") or []:
            if str(item.get("status", "")).lower() in BUSY_STATUSES:
                # Without a Prefer: outlook.timezone header the times come back in UTC.
                busy.append((parse_utc(item["start"]["dateTime"]), parse_utc(item["end"]["dateTime"])))
        return busy

    def create_event(self, creds: Credentials, event: EventSpec) -> str:
        response = call(
            creds,
            "POST",
            "/me/calendar/events",
            label=LABEL,
            json={"transactionId": event.key, **_body(event)},
        )
        event_id = response.json().get("id")
        if not event_id:
            raise CalendarError(f"{LABEL} created the event but returned no id")
        return str(event_id)

    def update_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        try:
            call(creds, "PATCH", f"/me/events/{quote(event_id, safe='')}", label=LABEL, json=_body(event))
        except CalendarError as exc:
            if exc.status == 404:
                raise EventGone(exc.reason, status=404) from None
            raise

    def cancel_event(self, creds: Credentials, event_id: str, event: EventSpec) -> None:
        try:
            call(
                creds,
                "POST",
                f"/me/events/{quote(event_id, safe='')}/cancel",
                label=LABEL,
                json={"comment": "This tour was cancelled."},
            )
        except CalendarError as exc:
            if exc.status != 404:
                raise
