"""Booking tours from a location's own calendars: what is free, holding a slot, creating the event, moving and
cancelling it (docs/booking.md).

Availability is the slot engine (slots.py) over the location's office hours, its tour type, the busy times of every
usable calendar (read side by side in threads, kept for BOOKING_BUSY_CACHE_SECONDS when only offering) and its own
active tours. Booking is Cal.com's two halves of "no double booking" (calendar-reference.md §4):

1. a hold: under a per-location lock, the slot is checked against our own tours (buffers stack, the daily limit) and
   a `holding` row is inserted; the unique key on an active booking's (calendar, start) makes a second hold of the
   same slot fail in the database even without the lock;
2. a re-check: the held calendar's free/busy is read afresh for the slot and its buffers (an event staff just put in
   the calendar makes it fail), then the event is created under the booking's id (Google: the client event id;
   Graph: transactionId; CalDAV: the UID), so a retried create never makes a second event.

Round robin: among the calendars free for the slot, the least recently booked is tried first. A calendar that fails
(down, refused) is skipped for the next; when none could be reached the caller gets CalendarDown and the customer the
booking link. Every function here commits.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from chatpad.extensions import db
from chatpad.hours import HoursError, Schedule
from chatpad.models import ACTIVE_BOOKING_STATUSES, Booking, Calendar, Conversation, Location, TourType, utcnow
from chatpad.notify import notify_location, notify_team
from chatpad.queue import enqueue, enqueue_after, get_redis, job_id
from chatpad.realtime import publish

from .calendars import credentials, mark_ok, mark_problem
from .providers import CalendarError, Credentials, EventGone, EventSpec, Interval, get_client
from .slots import Slot, TourRules, compute_slots

log = logging.getLogger("chatpad.booking")


class BookingError(Exception):
    """A tour could not be booked, moved or cancelled; `reason` is fit for the person who asked."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SlotTaken(BookingError):
    """The slot is not free any more (another customer, a staff event, the daily limit): `alternatives` are the
    nearest free ones."""

    def __init__(self, reason: str, alternatives: list[Slot] | None = None):
        super().__init__(reason)
        self.alternatives = alternatives or []


class CalendarDown(BookingError):
    """No calendar of the location could be reached (or all refused): book by the link, a person is told."""


# --- the location's set-up --------------------------------------------------------------------------------------------


def zone_of(location: Location) -> ZoneInfo:
    try:
        return ZoneInfo(location.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def schedule_of(location: Location) -> Schedule | None:
    """The location's office hours, or None when none are on file (no tours are offered without them)."""
    try:
        schedule = Schedule.from_json(location.hours or {})
    except HoursError:
        return None
    return schedule if any(schedule.weekly.values()) else None


def tour_type(location: Location) -> TourType:
    """The location's tour type (its defaults when none was saved)."""
    row = db.session.get(TourType, location.id)
    if row is None:
        row = TourType(location_id=location.id)
        for column in TourType.__table__.columns:
            if getattr(row, column.key) is None and column.default is not None and not callable(column.default.arg):
                setattr(row, column.key, column.default.arg)
    return row


def rules_of(row: TourType) -> TourRules:
    return TourRules.from_minutes(
        duration=row.duration_minutes,
        interval=row.interval_minutes,
        buffer_before=row.buffer_before_minutes,
        buffer_after=row.buffer_after_minutes,
        min_notice=row.min_notice_minutes,
        horizon_days=row.horizon_days,
        max_per_day=row.max_per_day or None,
    )


def usable_calendars(location_id) -> list[Calendar]:
    """The location's calendars that tours may be booked into (connected, or failing for now), oldest first."""
    return list(
        db.session.scalars(
            select(Calendar)
            .where(
                Calendar.location_id == location_id,
                Calendar.is_active.is_(True),
                Calendar.status.in_(("connected", "error")),
            )
            .order_by(Calendar.created_at, Calendar.id)
        )
    )


def bookable(location: Location | None) -> bool:
    """Can tours be booked in the conversation here: a calendar to book into and office hours to book within."""
    return location is not None and schedule_of(location) is not None and bool(usable_calendars(location.id))


# --- busy times -------------------------------------------------------------------------------------------------------

_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()
BUSY_THREADS = 16


def _executor() -> ThreadPoolExecutor:
    """One pool per process (made again after a fork: a parent's threads do not exist in its child)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(BUSY_THREADS, thread_name_prefix="chatpad-busy"))
        return _pool[1]


def _busy_key(calendar_id, start: datetime, end: datetime) -> str:
    return f"chatpad:busy:{calendar_id}:{int(start.timestamp())}:{int(end.timestamp())}"


def _encode(intervals: Iterable[Interval]) -> str:
    return ";".join(f"{int(a.timestamp())},{int(b.timestamp())}" for a, b in intervals)


def _decode(text: str) -> list[Interval]:
    out = []
    for pair in filter(None, text.split(";")):
        a, _, b = pair.partition(",")
        out.append((datetime.fromtimestamp(int(a), UTC), datetime.fromtimestamp(int(b), UTC)))
    return out


def fetch_busy(creds: Iterable[tuple[str, Credentials]], start: datetime, end: datetime) -> dict[str, object]:
    """Each calendar's busy intervals in [start, end), read side by side: {key: intervals or the CalendarError}.
    No database: the credentials were read before."""
    pairs = list(creds)

    def read(cred: Credentials):
        try:
            return get_client(cred.provider).busy(cred, start, end)
        except CalendarError as exc:
            return exc
        except Exception as exc:  # a bug or a library's surprise: this calendar is unreadable, the rest still count
            log.exception("reading busy times of a %s calendar failed", cred.provider)
            return CalendarError(f"Reading the calendar failed ({type(exc).__name__})", transient=True)

    if len(pairs) == 1:
        return {pairs[0][0]: read(pairs[0][1])}
    futures = {key: _executor().submit(read, cred) for key, cred in pairs}
    return {key: future.result() for key, future in futures.items()}


@dataclass
class BusyRead:
    busy: dict[str, list[Interval]] = field(default_factory=dict)  # calendar id -> intervals (the readable ones)
    errors: dict[str, CalendarError] = field(default_factory=dict)


def read_busy(calendars: list[Calendar], start: datetime, end: datetime, *, fresh: bool) -> BusyRead:
    """Busy times of these calendars in [start, end). fresh=False reuses a read of the same window from the last
    BOOKING_BUSY_CACHE_SECONDS (offering slots); a booking's re-check reads afresh. A calendar that answers with a
    permanent error is marked (its health dot, the team told once); one that recovers is marked healthy."""
    result = BusyRead()
    ttl = int(current_app.config.get("BOOKING_BUSY_CACHE_SECONDS", 60))
    redis = get_redis()
    wanted: list[tuple[str, Credentials]] = []
    by_id = {str(c.id): c for c in calendars}
    cached = redis.mget([_busy_key(c.id, start, end) for c in calendars]) if (calendars and not fresh and ttl) else []
    for calendar, hit in zip(calendars, cached or [None] * len(calendars), strict=True):
        if hit is not None:
            result.busy[str(calendar.id)] = _decode(hit.decode())
            continue
        try:
            wanted.append((str(calendar.id), credentials(calendar)))
        except CalendarError as exc:
            result.errors[str(calendar.id)] = exc
    # The token refreshes above may have committed; nothing is held while the providers answer.
    if db.session().in_transaction():
        db.session.commit()
    answers = fetch_busy(wanted, start, end) if wanted else {}
    changed = False
    for key, answer in answers.items():
        calendar = by_id[key]
        if isinstance(answer, CalendarError):
            result.errors[key] = answer
            changed |= mark_problem(calendar, answer)
            continue
        result.busy[key] = answer
        changed |= mark_ok(calendar)
        if ttl:
            redis.set(_busy_key(calendar.id, start, end), _encode(answer), ex=ttl)
    for key, exc in result.errors.items():
        if key not in answers:
            changed |= mark_problem(by_id[key], exc)
    if changed or db.session().in_transaction():
        db.session.commit()
    return result


def subtract(intervals: Iterable[Interval], hole: Interval) -> list[Interval]:
    """The intervals with [hole) cut out (a tour being moved no longer blocks its own new time)."""
    a, b = hole
    out: list[Interval] = []
    for start, end in intervals:
        if end <= a or start >= b:
            out.append((start, end))
            continue
        if start < a:
            out.append((start, a))
        if end > b:
            out.append((b, end))
    return out


# --- availability -----------------------------------------------------------------------------------------------------


@dataclass
class Availability:
    """What a location can offer now."""

    location: Location
    zone: ZoneInfo
    rules: TourRules
    title: str
    slots: list[Slot]
    calendars: dict[str, Calendar]  # id -> the usable calendars
    unreadable: dict[str, CalendarError]  # id -> why its busy times could not be read (its slots are not offered)
    now: datetime

    @property
    def down(self) -> bool:
        """Every calendar failed: nothing can be offered or booked by the calendar now."""
        return bool(self.calendars) and len(self.unreadable) == len(self.calendars)


def _active_tours(location_id, *, exclude=None) -> list[tuple[str | None, datetime, datetime]]:
    query = select(Booking.calendar_id, Booking.start_at, Booking.end_at).where(
        Booking.location_id == location_id,
        Booking.status.in_(ACTIVE_BOOKING_STATUSES),
        Booking.end_at > utcnow() - timedelta(days=1),
    )
    if exclude is not None:
        query = query.where(Booking.id != exclude)
    return [(str(c) if c else None, a, b) for c, a, b in db.session.execute(query)]


def _window(zone: ZoneInfo, rules: TourRules, now: datetime) -> tuple[datetime, datetime]:
    """From the start of the location's today to the end of its horizon: one window per local day, so the busy
    cache is shared by every conversation of the day."""
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=rules.horizon_days + 1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def availability(
    location: Location,
    *,
    now: datetime | None = None,
    fresh: bool = False,
    exclude: Booking | None = None,
    calendars: list[Calendar] | None = None,
) -> Availability:
    """The free tour slots of a location from now to its horizon. `exclude` is a tour being rescheduled: its own
    time counts as free."""
    now = (now or utcnow()).astimezone(UTC)
    zone = zone_of(location)
    row = tour_type(location)
    rules = rules_of(row)
    schedule = schedule_of(location)
    calendars = usable_calendars(location.id) if calendars is None else calendars
    by_id = {str(c.id): c for c in calendars}
    start, end = _window(zone, rules, now)
    read = read_busy(calendars, start, end, fresh=fresh) if (calendars and schedule) else BusyRead()
    busy = dict(read.busy)
    tours = _active_tours(location.id, exclude=exclude.id if exclude is not None else None)
    if exclude is not None and exclude.calendar_id and str(exclude.calendar_id) in busy:
        key = str(exclude.calendar_id)
        busy[key] = subtract(busy[key], (exclude.start_at, exclude.end_at))
    booked: dict[str, list[Interval]] = {}
    per_day: dict[date, int] = {}
    for calendar_id, a, b in tours:
        if calendar_id:
            booked.setdefault(calendar_id, []).append((a, b))
        day = a.astimezone(zone).date()
        per_day[day] = per_day.get(day, 0) + 1
    slots = (
        compute_slots(schedule, zone, rules, busy, now=now, booked=booked, tours_per_day=per_day) if schedule else []
    )
    return Availability(location, zone, rules, row.title, slots, by_id, read.errors, now)


def _round_robin(calendars: Iterable[Calendar]) -> list[Calendar]:
    """Least recently booked first (never booked before all), then oldest."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return sorted(calendars, key=lambda c: (c.last_booked_at or epoch, c.created_at or epoch, str(c.id)))


# --- the event a tour becomes --------------------------------------------------------------------------------------


def new_uid(booking_id: uuid.UUID) -> str:
    host = urlsplit(current_app.config.get("PUBLIC_URL") or "").hostname or "chatpad.invalid"
    return f"tour-{booking_id}@{host}"


def event_spec(booking: Booking, *, organizer_email: str | None = None) -> EventSpec:
    location = booking.location or db.session.get(Location, booking.location_id)
    title = tour_type(location).title or "Tour"
    who = booking.customer_name or booking.customer_email or booking.customer_phone or "a customer"
    lines = [
        f"{title} of {location.name} with {who}, booked by ChatPad in a {booking.channel} conversation.",
        *(
            f"{label}: {value}"
            for label, value in (
                ("Name", booking.customer_name),
                ("Email", booking.customer_email),
                ("Phone", booking.customer_phone),
            )
            if value
        ),  # fmt: skip
        f"Booking: {booking.id}",
    ]
    if location.phone:
        lines.append(f"To reschedule, reply in the conversation or call {location.phone}.")
    return EventSpec(
        key=str(booking.id),
        uid=booking.uid,
        start=booking.start_at,
        end=booking.end_at,
        timezone=booking.timezone,
        summary=f"{title}: {who}",
        description="\n".join(lines),
        location=location.address or location.name,
        attendee_name=booking.customer_name,
        attendee_email=booking.customer_email,
        sequence=booking.sequence,
        organizer_email=organizer_email,
        extra={"organizer_name": location.name},
    )


# --- booking ---------------------------------------------------------------------------------------------------------


def _lock(location_id):
    return get_redis().lock(f"chatpad:lock:booking:{location_id}", timeout=30, blocking_timeout=30)


def _slot_at(
    location: Location, start: datetime, *, exclude: Booking | None, now: datetime
) -> tuple[Slot | None, Availability]:
    """The slot starting at `start` by office hours, notice, horizon, the daily limit and our own tours (not the
    providers' busy times: the re-check reads those afresh), with the calendars it could go to."""
    zone = zone_of(location)
    calendars = usable_calendars(location.id)
    rules = rules_of(tour_type(location))
    schedule = schedule_of(location)
    tours = _active_tours(location.id, exclude=exclude.id if exclude is not None else None)
    booked: dict[str, list[Interval]] = {}
    per_day: dict[date, int] = {}
    for calendar_id, a, b in tours:
        if calendar_id:
            booked.setdefault(calendar_id, []).append((a, b))
        day = a.astimezone(zone).date()
        per_day[day] = per_day.get(day, 0) + 1
    day = start.astimezone(zone).date()
    empty = {str(c.id): [] for c in calendars}
    slots = (
        compute_slots(
            schedule, zone, rules, empty, now=now, booked=booked, tours_per_day=per_day, first_day=day, last_day=day
        )
        if schedule and calendars
        else []
    )
    slot = next((s for s in slots if s.start == start), None)
    availability_stub = Availability(location, zone, rules, "", [], {str(c.id): c for c in calendars}, {}, now)
    return slot, availability_stub


def _alternatives(location: Location, start: datetime, *, exclude: Booking | None = None, limit: int = 3) -> list[Slot]:
    """The free slots nearest a time that could not be had (offered instead)."""
    from .when import Wanted, nearest_slots

    free = availability(location, fresh=True, exclude=exclude)
    local = start.astimezone(free.zone)
    others = [s for s in free.slots if s.start != start]
    chosen, _ = nearest_slots(
        others, Wanted(day=local.date(), at=local.time(), explicit_hour=True), free.zone, limit=limit
    )
    return chosen


def _recheck(calendar: Calendar, start: datetime, end: datetime, rules: TourRules, *, hole: Interval | None = None):
    """Read the calendar afresh around the slot: None when it is free with the buffers, else why not (a string), or
    the CalendarError."""
    window = (start - rules.buffer_before, end + rules.buffer_after)
    read = read_busy([calendar], window[0] - timedelta(minutes=1), window[1] + timedelta(minutes=1), fresh=True)
    if str(calendar.id) in read.errors:
        return read.errors[str(calendar.id)]
    busy = read.busy.get(str(calendar.id), [])
    if hole is not None:
        busy = subtract(busy, hole)
    clash = [b for b in busy if b[0] < window[1] and b[1] > window[0]]
    return "taken in the calendar" if clash else None


def _create(calendar: Calendar, spec: EventSpec) -> str:
    """Create the event; one more try at once on a transient failure (the create is idempotent, so a retry after a
    timeout that did reach the provider finds the same event)."""
    client = get_client(calendar.provider)
    try:
        return client.create_event(credentials(calendar), spec)
    except CalendarError as exc:
        if not exc.transient or (exc.retry_after or 0) > 2:
            raise
        import time as _time

        _time.sleep(exc.retry_after or 0.3)
        return client.create_event(credentials(calendar), spec)


@dataclass
class Customer:
    """Who the tour is for, as they gave it in the conversation (never proof of identity: it only goes on the
    booking and the invitation)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


def book(
    location: Location,
    start: datetime,
    *,
    customer: Customer,
    channel: str,
    conversation: Conversation | None = None,
    source: str = "ai",
    user_id: int | None = None,
    now: datetime | None = None,
) -> Booking:
    """Book the tour starting at `start` (aware), or raise SlotTaken (with the nearest free slots) or CalendarDown.

    Idempotent per conversation: the same conversation asking for the same start again gets its booking back."""
    now = (now or utcnow()).astimezone(UTC)
    start = start.astimezone(UTC)
    if conversation is not None:
        existing = db.session.scalar(
            select(Booking).where(
                Booking.conversation_id == conversation.id,
                Booking.start_at == start,
                Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            )
        )
        if existing is not None and existing.status == "confirmed":
            return existing
    tried: set[str] = set()
    errors: list[CalendarError] = []
    while True:
        with _lock(location.id):
            slot, info = _slot_at(location, start, exclude=None, now=now)
            if slot is None:
                db.session.commit()
                raise SlotTaken("That time is not available.", _alternatives(location, start))
            candidates = _round_robin(info.calendars[c] for c in slot.calendars if c not in tried)
            held = None
            for calendar in candidates:
                booking = Booking(
                    id=uuid.uuid4(),
                    organization_id=_organization_id(location),
                    agent_id=location.agent_id,
                    location_id=location.id,
                    calendar_id=calendar.id,
                    conversation_id=conversation.id if conversation is not None else None,
                    contact_id=conversation.contact_id if conversation is not None else None,
                    channel=channel,
                    start_at=slot.start,
                    end_at=slot.end,
                    timezone=info.zone.key,
                    status="holding",
                    customer_name=customer.name,
                    customer_email=customer.email,
                    customer_phone=customer.phone,
                    source=source,
                    created_by_user_id=user_id,
                )
                booking.uid = new_uid(booking.id)
                booking.note("held", calendar=calendar.name, by="staff" if user_id else source)
                db.session.add(booking)
                try:
                    db.session.commit()
                except IntegrityError:  # another booking holds this calendar at this start
                    db.session.rollback()
                    tried.add(str(calendar.id))
                    continue
                held = (booking, calendar)
                break
        if held is None:
            if errors and not _free_elsewhere(tried, slot):
                raise CalendarDown(errors[-1].reason)
            raise SlotTaken("Someone just booked that time.", _alternatives(location, start))
        booking, calendar = held
        tried.add(str(calendar.id))
        outcome = _recheck(calendar, booking.start_at, booking.end_at, info.rules)
        if outcome is None:
            try:
                event_id = _create(calendar, event_spec(booking))
            except CalendarError as exc:
                outcome = exc
            else:
                booking.status = "confirmed"
                booking.event_id = event_id
                booking.note("confirmed", calendar=calendar.name)
                calendar.last_booked_at = now
                mark_ok(calendar)
                db.session.commit()
                _after_change(booking)
                queue_invitation(booking, "REQUEST")
                log.info("tour %s booked on calendar %s at %s", booking.id, calendar.id, booking.start_at)
                return booking
        # This calendar cannot have it: free the hold and try the next one.
        reason = outcome if isinstance(outcome, str) else outcome.reason
        booking.status = "failed"
        booking.error = reason
        booking.note("failed", calendar=calendar.name, reason=reason)
        if isinstance(outcome, CalendarError):
            errors.append(outcome)
            mark_problem(calendar, outcome)
        db.session.commit()


def _free_elsewhere(tried: set[str], slot: Slot | None) -> bool:
    return slot is not None and any(c not in tried for c in slot.calendars)


def _organization_id(location: Location) -> int:
    return location.agent.organization_id


def _after_change(booking: Booking) -> None:
    """The conversation's open inbox page shows the tour's new state."""
    if booking.conversation_id is not None:
        publish(
            booking.organization_id, booking.conversation_id, "conversation.updated", {"booking_id": str(booking.id)}
        )


# --- rescheduling and cancelling ---------------------------------------------------------------------------------


def reschedule(
    booking: Booking, start: datetime, *, by_user_id: int | None = None, now: datetime | None = None
) -> Booking:
    """Move a tour to `start`: its own calendar when it is free then, else another free one (the event moves with
    it). SEQUENCE goes up and the customer gets the updated invitation. Raises SlotTaken or CalendarDown; on either
    the tour stays where it was."""
    now = (now or utcnow()).astimezone(UTC)
    start = start.astimezone(UTC)
    if not booking.active:
        raise BookingError("This tour is not booked any more.")
    if start == booking.start_at:
        return booking
    location = booking.location
    old_start, old_end, old_calendar_id, old_event = (
        booking.start_at,
        booking.end_at,
        booking.calendar_id,
        booking.event_id,
    )
    tried: set[str] = set()
    errors: list[CalendarError] = []
    while True:
        with _lock(location.id):
            slot, info = _slot_at(location, start, exclude=booking, now=now)
            if slot is None:
                db.session.commit()
                raise SlotTaken("That time is not available.", _alternatives(location, start, exclude=booking))
            order = _round_robin(info.calendars[c] for c in slot.calendars if c not in tried)
            order.sort(key=lambda c: c.id != old_calendar_id)  # its own calendar first
            if not order:
                db.session.commit()
                if errors:
                    raise CalendarDown(errors[-1].reason)
                raise SlotTaken("That time was just taken.", _alternatives(location, start, exclude=booking))
            calendar = order[0]
            tried.add(str(calendar.id))
            booking.calendar_id, booking.start_at, booking.end_at = calendar.id, slot.start, slot.end
            try:
                db.session.commit()  # the unique key: nobody else holds this calendar at the new start
            except IntegrityError:
                db.session.rollback()
                db.session.refresh(booking)
                continue
        hole = (old_start, old_end) if calendar.id == old_calendar_id else None
        outcome = _recheck(calendar, booking.start_at, booking.end_at, info.rules, hole=hole)
        if outcome is None:
            booking.sequence = (booking.sequence or 0) + 1
            try:
                if calendar.id == old_calendar_id and old_event:
                    try:
                        get_client(calendar.provider).update_event(
                            credentials(calendar), old_event, event_spec(booking)
                        )
                    except EventGone:  # someone deleted it in the calendar: make it again
                        booking.event_id = _create(calendar, event_spec(booking))
                else:
                    booking.event_id = _create(calendar, event_spec(booking))
            except CalendarError as exc:
                booking.sequence -= 1
                outcome = exc
            else:
                if calendar.id != old_calendar_id and old_calendar_id is not None:
                    _remove_old_event(booking, old_calendar_id, old_event, old_start, old_end)
                booking.note(
                    "rescheduled",
                    **{"from": old_start.isoformat(), "to": booking.start_at.isoformat()},
                    calendar=calendar.name,
                    by=f"user:{by_user_id}" if by_user_id else "customer",
                )
                booking.reminded_24h_at = booking.reminded_1h_at = None
                calendar.last_booked_at = now
                mark_ok(calendar)
                db.session.commit()
                _after_change(booking)
                queue_invitation(booking, "REQUEST")
                return booking
        # Back where it was, then the next calendar (or the end).
        booking.calendar_id, booking.start_at, booking.end_at = old_calendar_id, old_start, old_end
        if isinstance(outcome, CalendarError):
            errors.append(outcome)
            mark_problem(calendar, outcome)
        db.session.commit()


def _remove_old_event(booking: Booking, calendar_id, event_id: str | None, start: datetime, end: datetime) -> None:
    calendar = db.session.get(Calendar, calendar_id)
    if calendar is None or not event_id:
        return
    spec = event_spec(booking)
    spec = EventSpec(**{**spec.__dict__, "start": start, "end": end})
    try:
        get_client(calendar.provider).cancel_event(credentials(calendar), event_id, spec)
    except CalendarError as exc:
        booking.note("old event not removed", calendar=calendar.name, reason=exc.reason)
        _tell_staff_to_remove(booking, calendar, exc.reason, start)


def cancel(booking: Booking, *, reason: str, by_user_id: int | None = None) -> Booking:
    """Cancel a tour: the slot is free at once, the event is removed from the calendar (a calendar that is down is
    tried again, and the team told, until it goes), SEQUENCE goes up and the customer gets a CANCEL."""
    if not booking.active:
        return booking
    booking.status = "cancelled"
    booking.cancelled_at = utcnow()
    booking.cancel_reason = reason
    booking.sequence = (booking.sequence or 0) + 1
    booking.note("cancelled", reason=reason, by=f"user:{by_user_id}" if by_user_id else "customer")
    db.session.commit()
    remove_event(booking)
    _after_change(booking)
    queue_invitation(booking, "CANCEL")
    return booking


def remove_event(booking: Booking, attempt: int = 0) -> bool:
    """Delete a cancelled tour's event from its calendar; on failure note it, tell the team once and try again
    later (jobs.booking.remove_event). True when it is gone."""
    calendar = db.session.get(Calendar, booking.calendar_id) if booking.calendar_id else None
    if calendar is None or not booking.event_id:
        return True
    try:
        get_client(calendar.provider).cancel_event(credentials(calendar), booking.event_id, event_spec(booking))
    except CalendarError as exc:
        booking.error = f"The event is still in {calendar.name}: {exc.reason}"
        if attempt == 0:
            _tell_staff_to_remove(booking, calendar, exc.reason, booking.start_at)
        db.session.commit()
        if attempt < 6:
            delay = min(3600, 60 * 2**attempt)
            enqueue_after(
                "default",
                delay,
                "jobs.booking.remove_event",
                str(booking.id),
                attempt + 1,
                job_id=job_id("tour-remove", booking.id, attempt + 1),
            )
        return False
    if booking.error and booking.error.startswith("The event is still in"):
        booking.error = None
    db.session.commit()
    return True


def _tell_staff_to_remove(booking: Booking, calendar: Calendar, reason: str, start: datetime) -> None:
    location = booking.location
    local = start.astimezone(zone_of(location))
    notify_location(
        booking.organization_id,
        booking.location_id,
        kind="booking_calendar",
        title=f"A cancelled tour is still in {calendar.name}",
        body=f"The tour of {local:%a %b %d, %I:%M %p} could not be removed ({reason}). ChatPad keeps trying; you can "
        "delete it in the calendar yourself.",
    )


def mark_no_show(booking: Booking, *, by_user_id: int, no_show: bool = True) -> Booking:
    """Staff mark a past tour as a no-show (or take the mark back)."""
    if no_show and booking.status != "confirmed":
        raise BookingError("Only a booked tour can be marked as a no-show.")
    if not no_show and booking.status != "no_show":
        return booking
    if booking.start_at > utcnow():
        raise BookingError("A tour can be marked as a no-show once its time has come.")
    booking.status = "no_show" if no_show else "confirmed"
    booking.note("no-show" if no_show else "no-show undone", by=f"user:{by_user_id}")
    db.session.commit()
    return booking


# --- invitations and outages ---------------------------------------------------------------------------------------


def queue_invitation(booking: Booking, method: str) -> None:
    """Email the customer the .ics (REQUEST after a booking or a move, CANCEL after a cancel) when an email is known,
    from a job (jobs.booking.send_invitation). Microsoft 365 sends its own invitations to the event's attendees, so
    ChatPad sends none for its calendars."""
    if not booking.customer_email:
        booking.invitation = {"status": "not_sent", "reason": "No email address was given.", "method": method}
        db.session.commit()
        return
    calendar = db.session.get(Calendar, booking.calendar_id) if booking.calendar_id else None
    if calendar is not None and get_client(calendar.provider).sends_invitations:
        booking.invitation = {
            "status": "sent",
            "by": calendar.provider_label,
            "to": booking.customer_email,
            "method": method,
            "at": utcnow().isoformat(),
        }
        db.session.commit()
        return
    booking.invitation = {
        "status": "queued",
        "to": booking.customer_email,
        "method": method,
        "at": utcnow().isoformat(),
    }
    db.session.commit()
    enqueue(
        "mail",
        "jobs.booking.send_invitation",
        str(booking.id),
        method,
        booking.sequence,
        job_id=job_id("tour-invite", booking.id, booking.sequence, method),
    )


def outage(location: Location, conversation: Conversation | None, reason: str) -> None:
    """A booking failed because the calendars are down: the conversation's team is told (once per conversation while
    unread), with the reason. The caller commits."""
    title = f"A tour could not be booked at {location.name}"
    body = f"The calendar did not answer: {reason} The customer was given the booking link. Please follow up."
    if conversation is not None:
        notify_team(
            conversation.organization_id, kind="booking_failed", title=title, body=body, conversation=conversation
        )
    else:
        notify_location(_organization_id(location), location.id, kind="booking_failed", title=title, body=body)


def upcoming_for(conversation: Conversation) -> Booking | None:
    """The conversation's customer's next active tour at its location (the one "move it" and "cancel" mean)."""
    if conversation.location_id is None:
        return None
    return db.session.scalar(
        select(Booking)
        .where(
            Booking.location_id == conversation.location_id,
            Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            Booking.end_at > utcnow(),
            (Booking.conversation_id == conversation.id) | (Booking.contact_id == conversation.contact_id),
        )
        .order_by(Booking.start_at)
        .limit(1)
    )


def tours_booked(location_id, day_from: datetime, day_to: datetime) -> int:
    return int(
        db.session.scalar(
            select(func.count(Booking.id)).where(
                Booking.location_id == location_id,
                Booking.status.in_(("confirmed", "no_show")),
                Booking.start_at >= day_from,
                Booking.start_at < day_to,
            )
        )
        or 0
    )
