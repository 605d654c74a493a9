"""Booking a tour into a location's calendars (chatpad/booking/service.py), against the sandbox's Google and Microsoft
stand-ins and Radicale: round robin, the re-check that sees what staff put in the calendar, two customers at the same
moment, calendars that are down, rescheduling and cancelling with SEQUENCE, and the .ics invitation email."""

import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar as ICalendar

from chatpad.booking import service
from chatpad.booking.service import CalendarDown, Customer, SlotTaken
from chatpad.models import Booking, Notification

CHICAGO = ZoneInfo("America/Chicago")
ADA = Customer(name="Ada Lovelace", email="ada@example.com")


def weekday_at(hour: int, minute: int = 0, days_ahead: int = 2) -> datetime:
    """A weekday at least `days_ahead` days from now, at hour:minute in Chicago (within the factory's 9–5)."""
    day = datetime.now(CHICAGO).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO)


def test_tours_go_round_robin_to_the_least_recently_booked_free_calendar(db, make, connect, tour_type):
    biz = make.business()
    tour_type(biz.location)
    first = connect(biz.location, "google", name="Maria")
    second = connect(biz.location, "microsoft", name="Devon")
    booked = [
        service.book(biz.location, weekday_at(hour), customer=ADA, channel="facebook").calendar_id
        for hour in (10, 11, 13)
    ]
    assert booked == [first.id, second.id, first.id]


def test_a_booking_makes_one_event_with_the_customer_and_a_stable_uid(db, make, connect, calendar_sandbox, tour_type):
    biz = make.business()
    tour_type(biz.location, duration_minutes=45)
    calendar = connect(biz.location, "google")
    start = weekday_at(10)
    booking = service.book(biz.location, start, customer=ADA, channel="widget")
    assert booking.status == "confirmed" and booking.end_at - booking.start_at == timedelta(minutes=45)
    assert booking.uid.startswith(f"tour-{booking.id}@")
    (event,) = calendar_sandbox.tours("google", calendar.account)
    assert event["start"] == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [a["email"] for a in event["attendees"]] == ["ada@example.com"]


def test_an_event_staff_put_in_the_calendar_removes_the_slot_even_after_it_was_offered(
    db, make, connect, calendar_sandbox, tour_type
):
    biz = make.business()
    tour_type(biz.location)
    calendar = connect(biz.location, "microsoft")
    start = weekday_at(10)
    offered = service.availability(biz.location)  # read (and cached for a minute) before staff add their meeting
    assert start in [s.start for s in offered.slots]
    calendar_sandbox.busy("microsoft", calendar.account, start, start + timedelta(hours=1), "Vendor walkthrough")
    with pytest.raises(SlotTaken) as taken:
        service.book(biz.location, start, customer=ADA, channel="facebook")
    assert taken.value.alternatives and start not in [s.start for s in taken.value.alternatives]
    assert [s.start for s in service.availability(biz.location, fresh=True).slots].count(start) == 0
    failed = db.session.query(Booking).filter_by(status="failed").one()
    assert failed.error == "taken in the calendar"
    assert calendar_sandbox.tours("microsoft", calendar.account) == []


def test_buffers_keep_the_next_tour_away_from_a_staff_meeting(db, make, connect, calendar_sandbox, tour_type):
    biz = make.business()
    tour_type(biz.location, buffer_before_minutes=15, buffer_after_minutes=0)
    calendar = connect(biz.location, "google")
    meeting_end = weekday_at(10)
    calendar_sandbox.busy("google", calendar.account, meeting_end - timedelta(hours=1), meeting_end)
    starts = [s.start for s in service.availability(biz.location, fresh=True).slots]
    assert meeting_end not in starts and meeting_end + timedelta(minutes=30) in starts


def test_two_customers_picking_the_same_slot_at_once_one_gets_it_the_other_the_next_slots(
    app, db, make, connect, calendar_sandbox, tour_type
):
    biz = make.business()
    tour_type(biz.location)
    calendar = connect(biz.location, "google")
    start = weekday_at(11)
    location_id = biz.location.id
    barrier, results = threading.Barrier(2), {}

    def customer(name: str) -> None:
        with app.app_context():
            from chatpad.extensions import db as _db
            from chatpad.models import Location

            location = _db.session.get(Location, location_id)
            barrier.wait()
            try:
                results[name] = service.book(location, start, customer=Customer(name=name), channel="widget").id
            except SlotTaken as exc:
                results[name] = exc
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=customer, args=(n,)) for n in ("Ada", "Grace")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [n for n, r in results.items() if not isinstance(r, Exception)]
    lost = [r for r in results.values() if isinstance(r, SlotTaken)]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0].alternatives and all(s.start != start for s in lost[0].alternatives)
    assert len(calendar_sandbox.tours("google", calendar.account)) == 1
    assert db.session.query(Booking).filter(Booking.status.in_(("holding", "confirmed"))).count() == 1


def test_the_daily_limit_stops_offering_a_full_day(db, make, connect, tour_type):
    biz = make.business()
    tour_type(biz.location, max_per_day=2)
    connect(biz.location, "google")
    for hour in (10, 13):
        service.book(biz.location, weekday_at(hour), customer=ADA, channel="facebook")
    day = weekday_at(10).date()
    assert not [s for s in service.availability(biz.location).slots if s.start.astimezone(CHICAGO).date() == day]
    with pytest.raises(SlotTaken):
        service.book(biz.location, weekday_at(15), customer=ADA, channel="facebook")


def test_a_calendar_that_is_down_is_skipped_for_the_next_one(db, make, connect, calendar_sandbox, tour_type):
    biz = make.business()
    tour_type(biz.location)
    connect(biz.location, "google", name="Maria")
    other = connect(biz.location, "microsoft", name="Devon")
    calendar_sandbox.outage("google")
    booking = service.book(biz.location, weekday_at(10), customer=ADA, channel="facebook")
    assert booking.calendar_id == other.id


def test_when_every_calendar_is_down_the_booking_says_so(db, make, connect, calendar_sandbox, tour_type):
    biz = make.business()
    tour_type(biz.location)
    connect(biz.location, "google")
    calendar_sandbox.outage("google")
    with pytest.raises(CalendarDown, match="503"):
        service.book(biz.location, weekday_at(10), customer=ADA, channel="facebook")
    assert service.availability(biz.location, fresh=True).down
    assert db.session.query(Booking).filter(Booking.status.in_(("holding", "confirmed"))).count() == 0


def test_rescheduling_moves_the_event_and_bumps_the_sequence(db, make, connect, calendar_sandbox, tour_type):
    biz = make.business()
    tour_type(biz.location)
    calendar = connect(biz.location, "google")
    booking = service.book(biz.location, weekday_at(10), customer=ADA, channel="facebook")
    calendar_sandbox.busy("google", calendar.account, weekday_at(14), weekday_at(15))
    with pytest.raises(SlotTaken):
        service.reschedule(booking, weekday_at(14))
    db.session.refresh(booking)
    assert booking.start_at == weekday_at(10) and booking.sequence == 0
    service.reschedule(booking, weekday_at(10, 30))  # overlaps its own old time: that is free for it
    db.session.refresh(booking)
    assert booking.start_at == weekday_at(10, 30) and booking.sequence == 1
    (event,) = calendar_sandbox.tours("google", calendar.account)
    assert event["start"] == weekday_at(10, 30).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["sequence"] == 1
    assert [h["what"] for h in booking.history][-1] == "rescheduled"


def test_cancelling_frees_the_slot_and_removes_the_event(db, make, connect, calendar_sandbox, tour_type, radicale):
    biz = make.business()
    tour_type(biz.location)
    calendar = connect(biz.location, "caldav")
    start = weekday_at(10)
    booking = service.book(biz.location, start, customer=ADA, channel="email")
    assert len(radicale.events(calendar.remote_id, "ana")) == 1
    assert start not in [s.start for s in service.availability(biz.location, fresh=True).slots]
    service.cancel(booking, reason="Customer cancelled in the conversation")
    assert booking.status == "cancelled" and booking.sequence == 1
    assert radicale.events(calendar.remote_id, "ana") == []
    assert start in [s.start for s in service.availability(biz.location, fresh=True).slots]


def test_a_cancel_while_the_calendar_is_down_frees_the_slot_and_tells_the_team(
    db, make, connect, calendar_sandbox, tour_type
):
    biz = make.business()
    tour_type(biz.location)
    calendar = connect(biz.location, "google")
    booking = service.book(biz.location, weekday_at(10), customer=ADA, channel="facebook")
    calendar_sandbox.outage("google")
    service.cancel(booking, reason="Customer cancelled")
    assert booking.status == "cancelled" and "still in" in booking.error
    notice = db.session.query(Notification).filter_by(kind="booking_calendar").one()
    assert calendar.name in notice.title
    calendar_sandbox.outage("google", on=False)
    assert service.remove_event(booking, attempt=1)
    assert calendar_sandbox.tours("google", calendar.account) == [] and booking.error is None


def test_the_invitation_is_an_itip_request_from_the_locations_inbox_and_a_cancel_follows(
    db, make, connect, tour_type, make_inbox, smtp_server
):
    from jobs.booking import send_invitation

    biz = make.business()
    tour_type(biz.location)
    inbox, address = make_inbox(biz.agent, biz.location)
    connect(biz.location, "google")
    booking = service.book(biz.location, weekday_at(10), customer=ADA, channel="facebook")
    assert booking.invitation["status"] == "queued"
    assert send_invitation(str(booking.id), "REQUEST", booking.sequence) == "sent"
    service.cancel(booking, reason="Customer cancelled")
    assert send_invitation(str(booking.id), "CANCEL", booking.sequence) == "sent"
    db.session.refresh(booking)
    assert booking.invitation["status"] == "sent" and booking.invitation["from"] == address
    methods, sequences = [], []
    for received in smtp_server.received[-2:]:
        mail = message_from_bytes(received.data)
        assert mail["To"] == "ada@example.com"
        part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
        assert part.get_param("method") in ("REQUEST", "CANCEL")
        ics = ICalendar.from_ical(part.get_payload(decode=True))
        (event,) = ics.walk("VEVENT")
        assert str(event["uid"]) == booking.uid and str(ics["method"]) == part.get_param("method")
        methods.append(str(ics["method"]))
        sequences.append(int(event["sequence"]))
    assert methods == ["REQUEST", "CANCEL"] and sequences[1] > sequences[0]


def test_microsoft_365_sends_its_own_invitations(db, make, connect, tour_type):
    biz = make.business()
    tour_type(biz.location)
    connect(biz.location, "microsoft")
    booking = service.book(biz.location, weekday_at(10), customer=ADA, channel="facebook")
    assert booking.invitation == {**booking.invitation, "status": "sent", "by": "Microsoft 365"}


def test_no_calendar_or_no_office_hours_means_no_booking_in_the_conversation(db, make, connect):
    biz = make.business()
    assert not service.bookable(biz.location)
    connect(biz.location, "google")
    assert service.bookable(biz.location)
    biz.location.hours = {"weekly": {}, "exceptions": []}
    db.session.commit()
    assert not service.bookable(biz.location)
