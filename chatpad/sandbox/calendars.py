"""Google Calendar and Microsoft Graph calendar stand-ins, and a page that shows each demo calendar.

Google Calendar API v3 under /google-calendar/calendar/v3 (POST /freeBusy; POST, GET, PATCH, DELETE
/calendars/{id}/events[/{eventId}]) and Microsoft Graph under /msgraph/v1.0 (GET /me; POST /me/calendar/getSchedule;
POST /me/calendar/events; PATCH /me/events/{id}; POST /me/events/{id}/cancel), reached by ChatPad's own clients over
HTTP. Shapes follow calendar-reference.md §1–2: Google's client event ids (base32hex, 409 on a reused one, a deleted
event keeps its id), its error body and 403/429 usageLimits; Graph's transactionId de-duplication, its error body
and 429 with Retry-After; both answer an expired or revoked token with 401.

Access tokens are the sandbox's own (chatpad/sandbox/oauth.py), checked for the calendar scopes. The demo calendars
(chatpad/demo_data.py: demo_calendars) carry staff meetings generated per day, the same every run, so `make run`
books around real-looking busy times. Controls under /sandbox-api/calendar/ (not part of any real API):

    POST /sandbox-api/calendar/reset                        events and failures forgotten
    POST /sandbox-api/calendar/busy  {provider, email, start, end, summary}   a meeting put in directly by staff
    POST /sandbox-api/calendar/fail  {provider, status, count, retry_after, op}  the next `count` calls fail
    POST /sandbox-api/calendar/outage {provider, on}        every call answers 503 until turned off
    GET  /sandbox-api/calendar/events?provider=&email=      the events stored (what ChatPad created)
    GET  /sandbox-api/calendar/requests                     every call received (method, path, body)
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, render_template, request

from chatpad import demo_data

from .oauth import verify

google_bp = Blueprint("sandbox_google_calendar", __name__, url_prefix="/google-calendar/calendar/v3")
graph_bp = Blueprint("sandbox_graph_calendar", __name__, url_prefix="/msgraph/v1.0")
control_bp = Blueprint("sandbox_calendar_control", __name__)

GOOGLE_FREEBUSY_SCOPES = {
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/calendar.events.freebusy",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar",
}
GOOGLE_EVENT_SCOPES = {
    "https://www.googleapis.com/auth/calendar.events.owned",
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar",
}
GRAPH_READ_SCOPES = {"https://graph.microsoft.com/Calendars.Read", "https://graph.microsoft.com/Calendars.ReadWrite"}
GRAPH_WRITE_SCOPES = {"https://graph.microsoft.com/Calendars.ReadWrite"}
BASE32HEX = re.compile(r"^[a-v0-9]{5,1024}$")


class CalendarWorld:
    """Events by (provider, owner address), failures to inject, the request log. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.demo: dict[tuple[str, str], tuple[str, str]] = {}  # (provider, address) -> (name, zone)
        for loc in demo_data.LOCATIONS:
            for provider, address, name in demo_data.demo_calendars(loc):
                self.demo[(provider, address)] = (name, loc.timezone)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.events: dict[tuple[str, str], dict[str, dict]] = {}
            self.transactions: dict[tuple[str, str], str] = {}
            self.failures: list[dict] = []
            self.outages: set[str] = set()
            self.requests: list[dict] = []

    def calendar(self, provider: str, owner: str) -> dict[str, dict]:
        return self.events.setdefault((provider, owner.lower()), {})

    def failure(self, provider: str, op: str) -> dict | None:
        with self.lock:
            if provider in self.outages:
                return {"status": 503}
            for item in self.failures:
                if item["provider"] == provider and item.get("op") in (None, op) and item["count"] > 0:
                    item["count"] -= 1
                    return item
        return None

    def busy(self, provider: str, owner: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
        """Busy intervals of one calendar in [start, end): its stored events plus a demo calendar's meetings."""
        out = []
        with self.lock:
            for event in self.calendar(provider, owner).values():
                if event["status"] != "cancelled" and event["start"] < end and event["end"] > start:
                    out.append((event["start"], event["end"], event["summary"]))
        demo = self.demo.get((provider, owner.lower()))
        if demo:
            zone = ZoneInfo(demo[1])
            day = start.astimezone(zone).date()
            while day <= end.astimezone(zone).date():
                for a, b, title in demo_data.demo_busy(owner.lower(), day, demo[1]):
                    s = _local(day, a, zone)
                    e = _local(day, b, zone)
                    if s < end and e > start:
                        out.append((s, e, title))
                day += timedelta(days=1)
        return sorted(out)


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def world() -> CalendarWorld:
    from flask import current_app

    return current_app.extensions["sandbox.calendars"]


@google_bp.record_once
def _init(setup_state) -> None:
    setup_state.app.extensions.setdefault("sandbox.calendars", CalendarWorld())


def _log() -> None:
    w = world()
    with w.lock:
        w.requests.append(
            {"method": request.method, "path": request.path, "body": request.get_json(silent=True), "at": time.time()}
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = head + tail[len(digits) :]
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


# --- Google ----------------------------------------------------------------------------------------------------------


def _google_error(status: int, reason: str, message: str, retry_after: float | None = None):
    response = jsonify(
        {
            "error": {
                "errors": [
                    {"domain": "global" if status != 403 else "usageLimits", "reason": reason, "message": message}
                ],
                "code": status,
                "message": message,
            }
        }
    )
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def _google_auth(scopes: set[str], op: str):
    """(owner address, None) for a live token with one of the scopes, else (None, error response)."""
    _log()
    failure = world().failure("google", op)
    if failure:
        status = int(failure.get("status") or 503)
        if status == 429 or status == 403:
            return None, _google_error(status, "rateLimitExceeded", "Rate Limit Exceeded", failure.get("retry_after"))
        if status == 401:
            return None, _google_error(401, "authError", "Invalid Credentials")
        return None, _google_error(status, "backendError", "Backend Error", failure.get("retry_after"))
    auth = request.headers.get("Authorization", "")
    claims, problem = (
        verify(auth.removeprefix("Bearer "), "access", "google")
        if auth.startswith("Bearer ")
        else (
            None,
            "missing",
        )
    )
    if claims is None or problem:
        return None, _google_error(
            401,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
            "valid authentication credential.",
        )
    if not scopes & set(str(claims.get("s", "")).split()):
        return None, _google_error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
    return claims["e"].lower(), None


def _owner_of(calendar_id: str, owner: str) -> str | None:
    calendar_id = calendar_id.lower()
    return owner if calendar_id in ("primary", owner) else None


@google_bp.post("/freeBusy")
def google_freebusy():
    owner, error = _google_auth(GOOGLE_FREEBUSY_SCOPES, "freebusy")
    if error:
        return error
    body = request.get_json(silent=True) or {}
    try:
        start, end = _parse(body["timeMin"]), _parse(body["timeMax"])
    except (KeyError, ValueError, TypeError):
        return _google_error(400, "badRequest", "Missing timeMin or timeMax.")
    if end <= start:
        return _google_error(400, "timeRangeEmpty", "The specified time range is empty.")
    calendars = {}
    for item in body.get("items") or []:
        cid = str(item.get("id", ""))
        mine = _owner_of(cid, owner)
        if mine is None:
            calendars[cid] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
            continue
        busy = [
            {"start": _iso(max(a, start)), "end": _iso(min(b, end))}
            for a, b, _ in world().busy("google", mine, start, end)
        ]
        calendars[cid] = {"busy": busy}
    return jsonify({"kind": "calendar#freeBusy", "timeMin": _iso(start), "timeMax": _iso(end), "calendars": calendars})


def _google_event_json(event: dict) -> dict:
    return {
        "kind": "calendar#event",
        "id": event["id"],
        "status": event["status"],
        "iCalUID": f"{event['id']}@google.com",
        "summary": event["summary"],
        "description": event.get("description", ""),
        "start": {"dateTime": _iso(event["start"]), "timeZone": event.get("timezone", "UTC")},
        "end": {"dateTime": _iso(event["end"]), "timeZone": event.get("timezone", "UTC")},
        "sequence": event.get("sequence", 0),
        "attendees": event.get("attendees", []),
        "extendedProperties": event.get("extended", {}),
    }


def _apply_google(event: dict, body: dict) -> None:
    for key in ("summary", "description", "location"):
        if key in body:
            event[key] = body[key]
    if "start" in body:
        event["start"] = _parse(body["start"]["dateTime"])
        event["timezone"] = body["start"].get("timeZone", "UTC")
    if "end" in body:
        event["end"] = _parse(body["end"]["dateTime"])
    if "attendees" in body:
        event["attendees"] = body["attendees"]
    if "sequence" in body:
        event["sequence"] = int(body["sequence"])
    if "status" in body:
        event["status"] = body["status"]
    if "extendedProperties" in body:
        event["extended"] = body["extendedProperties"]


@google_bp.post("/calendars/<calendar_id>/events")
def google_insert(calendar_id: str):
    owner, error = _google_auth(GOOGLE_EVENT_SCOPES, "insert")
    if error:
        return error
    mine = _owner_of(calendar_id, owner)
    if mine is None:
        return _google_error(404, "notFound", "Not Found")
    body = request.get_json(silent=True) or {}
    event_id = str(body.get("id") or uuid.uuid4().hex)
    if not BASE32HEX.match(event_id):
        return _google_error(400, "invalid", "Invalid resource id value.")
    w = world()
    with w.lock:
        events = w.calendar("google", mine)
        if event_id in events:  # also a deleted one: its id stays taken
            return _google_error(409, "duplicate", "The requested identifier already exists.")
        event = {"id": event_id, "status": "confirmed", "summary": "", "created_by": "chatpad", "created": time.time()}
        try:
            _apply_google(event, body)
        except (KeyError, ValueError, TypeError):
            return _google_error(400, "required", "Missing end time.")
        events[event_id] = event
    return jsonify(_google_event_json(event))


def _google_event(calendar_id: str, event_id: str, op: str, scopes=GOOGLE_EVENT_SCOPES):
    owner, error = _google_auth(scopes, op)
    if error:
        return None, None, error
    mine = _owner_of(calendar_id, owner)
    event = world().calendar("google", mine).get(event_id) if mine else None
    if event is None:
        return None, None, _google_error(404, "notFound", "Not Found")
    return mine, event, None


@google_bp.get("/calendars/<calendar_id>/events/<event_id>")
def google_get(calendar_id: str, event_id: str):
    _, event, error = _google_event(calendar_id, event_id, "get")
    return error or jsonify(_google_event_json(event))


@google_bp.patch("/calendars/<calendar_id>/events/<event_id>")
def google_patch(calendar_id: str, event_id: str):
    _, event, error = _google_event(calendar_id, event_id, "patch")
    if error:
        return error
    with world().lock:
        _apply_google(event, request.get_json(silent=True) or {})
    return jsonify(_google_event_json(event))


@google_bp.delete("/calendars/<calendar_id>/events/<event_id>")
def google_delete(calendar_id: str, event_id: str):
    _, event, error = _google_event(calendar_id, event_id, "delete")
    if error:
        return error
    if event["status"] == "cancelled":
        return _google_error(410, "deleted", "Resource has been deleted")
    with world().lock:
        event["status"] = "cancelled"
    return "", 204


# --- Microsoft Graph -------------------------------------------------------------------------------------------------


def _graph_error(status: int, code: str, message: str, retry_after: float | None = None):
    response = jsonify(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"request-id": str(uuid.uuid4()), "date": _iso(datetime.now(UTC))},
            }
        }
    )
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def _graph_auth(scopes: set[str], op: str):
    _log()
    failure = world().failure("microsoft", op)
    if failure:
        status = int(failure.get("status") or 503)
        if status == 429:
            return None, _graph_error(
                429, "TooManyRequests", "Too many requests.", failure.get("retry_after", 1)
            )  # Graph always sends Retry-After with 429
        if status == 401:
            return None, _graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not valid.")
        return None, _graph_error(
            status, "ServiceNotAvailable", "The service is unavailable.", failure.get("retry_after")
        )
    auth = request.headers.get("Authorization", "")
    claims, problem = (
        verify(auth.removeprefix("Bearer "), "access", "microsoft")
        if auth.startswith("Bearer ")
        else (
            None,
            "missing",
        )
    )
    if claims is None or problem:
        message = (
            "Lifetime validation failed, the token is expired."
            if problem == "expired"
            else (
                "Access token validation failure. Invalid audience."
                if problem == "invalid"
                else "Access token is empty."
            )
        )
        return None, _graph_error(401, "InvalidAuthenticationToken", message)
    if not scopes & set(str(claims.get("s", "")).split()):
        return None, _graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    return claims["e"].lower(), None


def _graph_when(value: dict) -> datetime:
    zone = value.get("timeZone") or "UTC"
    moment = datetime.fromisoformat(value["dateTime"].split(".")[0])
    return moment.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone)).astimezone(UTC)


@graph_bp.get("/me")
def graph_me():
    owner, error = _graph_auth(GRAPH_READ_SCOPES | {"openid", "email"}, "me")
    if error:
        return error
    return jsonify({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, owner)), "mail": owner, "userPrincipalName": owner})


@graph_bp.post("/me/calendar/getSchedule")
def graph_get_schedule():
    owner, error = _graph_auth(GRAPH_READ_SCOPES, "getSchedule")
    if error:
        return error
    body = request.get_json(silent=True) or {}
    try:
        start, end = _graph_when(body["startTime"]), _graph_when(body["endTime"])
        schedules = list(body["schedules"])
    except (KeyError, ValueError, TypeError):
        return _graph_error(400, "ErrorInvalidRequest", "schedules, startTime and endTime are required.")
    if end - start >= timedelta(days=62):
        return _graph_error(400, "ErrorInvalidTimeInterval", "The time window must be shorter than 62 days.")
    if len(schedules) > 20:
        return _graph_error(400, "ErrorInvalidRequest", "At most 20 schedules per request.")
    w = world()
    known = {o for p, o in w.demo if p == "microsoft"} | {o for p, o in w.events if p == "microsoft"} | {owner}
    value = []
    for address in schedules:
        address_l = str(address).lower()
        if address_l not in known:
            value.append(
                {
                    "scheduleId": address,
                    "error": {
                        "message": "The specified user could not be found.",
                        "responseCode": "ErrorMailRecipientNotFound",
                    },
                }
            )
            continue
        items = [
            {
                "isPrivate": False,
                "status": "busy",
                "subject": title,
                "location": "",
                "start": {"dateTime": a.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
                "end": {"dateTime": b.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
            }
            for a, b, title in w.busy("microsoft", address_l, start, end)
        ]
        value.append({"scheduleId": address, "availabilityView": "", "scheduleItems": items})
    return jsonify(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
            "value": value,
        }
    )


def _graph_event_json(event: dict) -> dict:
    return {
        "id": event["id"],
        "transactionId": event.get("transactionId"),
        "iCalUId": event["id"][:40],
        "subject": event["summary"],
        "isCancelled": event["status"] == "cancelled",
        "start": {"dateTime": event["start"].strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "end": {"dateTime": event["end"].strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "attendees": event.get("attendees", []),
    }


def _apply_graph(event: dict, body: dict) -> None:
    if "subject" in body:
        event["summary"] = body["subject"]
    if "body" in body:
        event["description"] = (body["body"] or {}).get("content", "")
    if "start" in body:
        event["start"] = _graph_when(body["start"])
    if "end" in body:
        event["end"] = _graph_when(body["end"])
    if "attendees" in body:
        event["attendees"] = body["attendees"]


@graph_bp.post("/me/calendar/events")
@graph_bp.post("/me/events")
def graph_create():
    owner, error = _graph_auth(GRAPH_WRITE_SCOPES, "create")
    if error:
        return error
    body = request.get_json(silent=True) or {}
    w = world()
    with w.lock:
        transaction = body.get("transactionId")
        if transaction and (owner, transaction) in w.transactions:
            # "to avoid redundant POST operations in case of client retries": the event it already made.
            event = w.calendar("microsoft", owner)[w.transactions[(owner, transaction)]]
            response = jsonify(_graph_event_json(event))
            response.status_code = 201
            return response
        event = {
            "id": "AAMkAGsbx" + uuid.uuid4().hex,
            "status": "confirmed",
            "summary": "",
            "transactionId": transaction,
            "created_by": "chatpad",
            "created": time.time(),
        }
        try:
            _apply_graph(event, body)
        except (KeyError, ValueError, TypeError):
            return _graph_error(400, "ErrorInvalidRequest", "start and end are required.")
        w.calendar("microsoft", owner)[event["id"]] = event
        if transaction:
            w.transactions[(owner, transaction)] = event["id"]
    response = jsonify(_graph_event_json(event))
    response.status_code = 201
    return response


def _graph_event(event_id: str, op: str):
    owner, error = _graph_auth(GRAPH_WRITE_SCOPES, op)
    if error:
        return None, error
    event = world().calendar("microsoft", owner).get(event_id)
    if event is None or event["status"] == "cancelled":
        return None, _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return event, None


@graph_bp.patch("/me/events/<event_id>")
def graph_patch(event_id: str):
    event, error = _graph_event(event_id, "patch")
    if error:
        return error
    with world().lock:
        _apply_graph(event, request.get_json(silent=True) or {})
    return jsonify(_graph_event_json(event))


@graph_bp.post("/me/events/<event_id>/cancel")
def graph_cancel(event_id: str):
    event, error = _graph_event(event_id, "cancel")
    if error:
        return error
    with world().lock:
        event["status"] = "cancelled"
        event["cancel_comment"] = (request.get_json(silent=True) or {}).get("comment")
    return "", 202


# --- controls and the page -------------------------------------------------------------------------------------------


@control_bp.post("/sandbox-api/calendar/reset")
def control_reset():
    world().reset()
    return jsonify(ok=True)


@control_bp.post("/sandbox-api/calendar/busy")
def control_busy():
    data = request.get_json(silent=True) or {}
    try:
        provider, owner = data["provider"], data["email"].lower()
        start, end = _parse(data["start"]), _parse(data["end"])
    except (KeyError, ValueError, TypeError, AttributeError):
        return jsonify(error="provider, email, start and end are required"), 400
    event_id = uuid.uuid4().hex
    w = world()
    with w.lock:
        w.calendar(provider, owner)[event_id] = {
            "id": event_id,
            "status": "confirmed",
            "summary": data.get("summary") or "Busy",
            "start": start,
            "end": end,
            "created_by": "staff",
            "created": time.time(),
        }
    return jsonify(id=event_id)


@control_bp.post("/sandbox-api/calendar/fail")
def control_fail():
    data = request.get_json(silent=True) or {}
    if data.get("provider") not in ("google", "microsoft"):
        return jsonify(error="provider must be google or microsoft"), 400
    item = {
        "provider": data["provider"],
        "status": int(data.get("status", 503)),
        "count": int(data.get("count", 1)),
        "retry_after": data.get("retry_after"),
        "op": data.get("op"),
    }
    with world().lock:
        world().failures.append(item)
    return jsonify(item)


@control_bp.post("/sandbox-api/calendar/outage")
def control_outage():
    data = request.get_json(silent=True) or {}
    provider = data.get("provider")
    if provider not in ("google", "microsoft"):
        return jsonify(error="provider must be google or microsoft"), 400
    with world().lock:
        (world().outages.add if data.get("on", True) else world().outages.discard)(provider)
    return jsonify(ok=True, outages=sorted(world().outages))


def _event_row(provider: str, owner: str, event: dict) -> dict:
    return {
        "provider": provider,
        "email": owner,
        "id": event["id"],
        "status": event["status"],
        "summary": event["summary"],
        "start": _iso(event["start"]),
        "end": _iso(event["end"]),
        "attendees": event.get("attendees", []),
        "sequence": event.get("sequence", 0),
        "transactionId": event.get("transactionId"),
        "created_by": event.get("created_by"),
    }


@control_bp.get("/sandbox-api/calendar/events")
def control_events():
    provider, email = request.args.get("provider"), (request.args.get("email") or "").lower()
    w = world()
    with w.lock:
        rows = [
            _event_row(p, o, e)
            for (p, o), events in w.events.items()
            if (not provider or p == provider) and (not email or o == email)
            for e in events.values()
        ]
    return jsonify(sorted(rows, key=lambda r: r["start"]))


@control_bp.get("/sandbox-api/calendar/requests")
def control_requests():
    with world().lock:
        return jsonify(list(world().requests))


@control_bp.get("/calendar/")
def page():
    """Each demo calendar's next seven days: staff meetings and the tours ChatPad booked."""
    w = world()
    days = max(1, min(int(request.args.get("days", 7) or 7), 21))
    now = datetime.now(UTC)
    calendars = []
    for (provider, owner), (name, zone_name) in sorted(w.demo.items(), key=lambda kv: kv[1][0]):
        zone = ZoneInfo(zone_name)
        first = now.astimezone(zone).date()
        start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
        end = start + timedelta(days=days)
        with w.lock:
            tours = {
                e["id"]: e
                for e in w.calendar(provider, owner).values()
                if e.get("created_by") == "chatpad" and e["start"] < end and e["end"] > start
            }
        by_day: dict[date, list[dict]] = {}
        for a, b, title in w.busy(provider, owner, start, end):
            tour = next((t for t in tours.values() if t["start"] == a and t["summary"] == title), None)
            by_day.setdefault(a.astimezone(zone).date(), []).append(
                {"start": a.astimezone(zone), "end": b.astimezone(zone), "title": title, "tour": tour is not None}
            )
        calendars.append(
            {
                "provider": "Google Calendar" if provider == "google" else "Microsoft 365",
                "owner": owner,
                "name": name,
                "zone": zone_name,
                "days": [(first + timedelta(days=i), by_day.get(first + timedelta(days=i), [])) for i in range(days)],
            }
        )
    return render_template("sandbox/calendars.html", calendars=calendars, days=days)
