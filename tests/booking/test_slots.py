"""Slot computation: office hours and holidays, busy times, buffers, notice, horizon, daily limits, time zones and
daylight saving time (chatpad/booking/slots.py), and reading what time a customer asks for (chatpad/booking/when.py)."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chatpad.booking.slots import TourRules, compute_slots, day_counts
from chatpad.booking.when import Wanted, nearest_slots, parse_wanted, pick_offered, slot_title, zone_label
from chatpad.hours import Schedule

CHICAGO = ZoneInfo("America/Chicago")
PHOENIX = ZoneInfo("America/Phoenix")
WEEKDAYS_9_TO_5 = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
HOURS = Schedule.from_json(
    {
        "weekly": {**WEEKDAYS_9_TO_5, "sat": [["10:00", "14:00"]]},
        "exceptions": [{"date": "2026-12-25", "hours": [], "note": "Christmas Day"}],
    }
)
SIMPLE = TourRules.from_minutes(
    duration=30, interval=30, buffer_before=0, buffer_after=0, min_notice=0, horizon_days=14, max_per_day=None
)


def local(y, m, d, hh, mm=0, zone=CHICAGO):
    return datetime(y, m, d, hh, mm, tzinfo=zone)


def starts(slots, zone=CHICAGO):
    return [s.start.astimezone(zone).strftime("%a %m-%d %H:%M") for s in slots]


def test_slots_follow_office_hours_in_the_location_time_zone():
    """Monday 9–5 in Chicago gives 16 half-hour tours from 9:00 to 16:30 local, however the server's clock runs."""
    now = local(2026, 11, 30, 7)  # a Monday, before opening
    slots = compute_slots(HOURS, CHICAGO, SIMPLE, {"cal": []}, now=now, last_day=date(2026, 11, 30))
    assert starts(slots)[0] == "Mon 11-30 09:00"
    assert starts(slots)[-1] == "Mon 11-30 16:30"
    assert len(slots) == 16
    assert slots[0].start == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 9 AM CST is 15:00 UTC


def test_holidays_and_closed_days_offer_nothing():
    """Christmas (an exception) and Sunday (not listed) have no slots; Saturday has its short hours."""
    now = local(2026, 12, 24, 7)
    slots = compute_slots(HOURS, CHICAGO, SIMPLE, {"cal": []}, now=now, last_day=date(2026, 12, 28))
    days = {s.start.astimezone(CHICAGO).date() for s in slots}
    assert date(2026, 12, 25) not in days  # Christmas Day
    assert date(2026, 12, 27) not in days  # Sunday
    saturday = [s for s in starts(slots) if s.startswith("Sat")]
    assert saturday[0] == "Sat 12-26 10:00" and saturday[-1] == "Sat 12-26 13:30"


def test_busy_times_of_every_calendar_remove_a_slot_only_when_all_are_busy():
    """A slot is offered while one calendar is free for it; each slot names the calendars that are."""
    now = local(2026, 11, 30, 7)
    meeting = (local(2026, 11, 30, 10), local(2026, 11, 30, 11))
    slots = compute_slots(HOURS, CHICAGO, SIMPLE, {"ana": [meeting], "ben": []}, now=now, last_day=date(2026, 11, 30))
    at_ten = next(s for s in slots if s.start == local(2026, 11, 30, 10))
    assert at_ten.calendars == ("ben",)
    slots = compute_slots(
        HOURS, CHICAGO, SIMPLE, {"ana": [meeting], "ben": [meeting]}, now=now, last_day=date(2026, 11, 30)
    )
    assert "Mon 11-30 10:00" not in starts(slots) and "Mon 11-30 10:30" not in starts(slots)
    assert "Mon 11-30 09:30" in starts(slots) and "Mon 11-30 11:00" in starts(slots)


def test_buffers_keep_a_gap_around_busy_times_and_stack_on_our_own_tours():
    """10 minutes before a tour and 15 after: a meeting ending at 10:00 blocks the 10:00 slot (its buffer before);
    our own tour at 11:30 keeps 15 + 10 minutes clear before it and 15 + 10 after it (buffers stack)."""
    rules = TourRules.from_minutes(
        duration=30, interval=15, buffer_before=10, buffer_after=15, min_notice=0, horizon_days=3, max_per_day=None
    )
    now = local(2026, 11, 30, 7)
    meeting = (local(2026, 11, 30, 9, 0), local(2026, 11, 30, 10, 0))
    tour = (local(2026, 11, 30, 11, 30), local(2026, 11, 30, 12, 0))
    slots = compute_slots(
        HOURS,
        CHICAGO,
        rules,
        {"cal": [meeting, tour]},
        booked={"cal": [tour]},
        now=now,
        last_day=date(2026, 11, 30),
    )
    got = starts(slots)
    assert "Mon 11-30 10:00" not in got  # its buffer before touches the meeting
    assert "Mon 11-30 10:15" in got and "Mon 11-30 10:30" in got
    assert "Mon 11-30 10:45" not in got  # ends 11:15: 15 after it + the tour's 10 before reach 11:30
    assert "Mon 11-30 12:15" not in got  # the tour's 15 after + this one's 10 before: not before 12:25
    assert "Mon 11-30 12:30" in got
    # Without our own tour's buffers only the new slot's count: 12:15 (10 before it) would fit.
    plain = compute_slots(HOURS, CHICAGO, rules, {"cal": [meeting, tour]}, now=now, last_day=date(2026, 11, 30))
    assert "Mon 11-30 12:15" in starts(plain)


def test_minimum_notice_and_the_horizon_bound_the_slots():
    """Two hours' notice at 10:07 gives 12:15 as the first start on a 15-minute grid; nothing after 3 days."""
    rules = TourRules.from_minutes(
        duration=30, interval=15, buffer_before=0, buffer_after=0, min_notice=120, horizon_days=3, max_per_day=None
    )
    now = local(2026, 11, 30, 10, 7)
    slots = compute_slots(HOURS, CHICAGO, rules, {"cal": []}, now=now)
    assert starts(slots)[0] == "Mon 11-30 12:15"
    assert max(s.start for s in slots).astimezone(CHICAGO).date() == date(2026, 12, 2)  # 3 days: Mon, Tue, Wed


def test_a_day_with_its_maximum_of_tours_offers_no_more():
    """max_per_day counts tours per local day: a 23:30 UTC tour is the same Chicago day as a 15:00 UTC one."""
    rules = TourRules.from_minutes(
        duration=30, interval=30, buffer_before=0, buffer_after=0, min_notice=0, horizon_days=3, max_per_day=2
    )
    now = local(2026, 11, 30, 7)
    tours = [datetime(2026, 11, 30, 15, 0, tzinfo=UTC), datetime(2026, 11, 30, 22, 30, tzinfo=UTC)]
    counts = day_counts(tours, CHICAGO)
    assert counts == {date(2026, 11, 30): 2}
    slots = compute_slots(HOURS, CHICAGO, rules, {"cal": []}, now=now, tours_per_day=counts)
    assert all(s.start.astimezone(CHICAGO).date() != date(2026, 11, 30) for s in slots)
    assert starts(slots)[0] == "Tue 12-01 09:00"


def test_daylight_saving_days_keep_the_wall_clock():
    """On the Sunday clocks go back (Nov 1, 2026) and forward (Mar 8, 2026) a 9–5 office still opens at 9 local:
    the UTC instants shift by an hour across the change, and each day still has 16 slots."""
    hours = Schedule.from_json({"weekly": {d: [["09:00", "17:00"]] for d in ("sat", "sun", "mon")}})
    for before, after in ((date(2026, 10, 31), date(2026, 11, 1)), (date(2026, 3, 7), date(2026, 3, 8))):
        now = datetime.combine(before, time(6), tzinfo=CHICAGO)
        slots = compute_slots(hours, CHICAGO, SIMPLE, {"cal": []}, now=now, last_day=after)
        for day in (before, after):
            mine = [s for s in slots if s.start.astimezone(CHICAGO).date() == day]
            assert len(mine) == 16
            assert mine[0].start.astimezone(CHICAGO).time() == time(9)
            assert mine[-1].end.astimezone(CHICAGO).time() == time(17)
        first = {s.start.astimezone(CHICAGO).date(): s.start for s in reversed(slots)}
        shift = (first[after] - first[before]) - timedelta(days=1)
        assert abs(shift) == timedelta(hours=1)


def test_a_whole_day_open_across_the_change_has_23_or_25_hours_of_slots():
    """Open 00:00–24:00: 46 half-hour slots on the spring-forward day, 50 on the fall-back day, and no slot
    starts at a wall time that does not exist (2:00–2:59 AM on Mar 8)."""
    hours = Schedule.from_json({"weekly": {"sun": [["00:00", "24:00"]]}})
    for day, expected in ((date(2026, 3, 8), 46), (date(2026, 11, 1), 50)):
        now = datetime.combine(day - timedelta(days=1), time(0), tzinfo=CHICAGO)
        slots = compute_slots(hours, CHICAGO, SIMPLE, {"cal": []}, now=now, first_day=day, last_day=day)
        assert len(slots) == expected
        assert len({s.start for s in slots}) == expected
    spring = compute_slots(
        hours,
        CHICAGO,
        SIMPLE,
        {"cal": []},
        now=datetime(2026, 3, 7, tzinfo=CHICAGO),
        first_day=date(2026, 3, 8),
        last_day=date(2026, 3, 8),
    )
    assert not [s for s in spring if s.start.astimezone(CHICAGO).hour == 2]


def test_each_location_uses_its_own_zone():
    """Phoenix keeps MST all year: its 9 AM is 16:00 UTC in summer and winter."""
    hours = Schedule.from_json({"weekly": {"mon": [["09:00", "10:00"]]}})
    for day in (date(2026, 7, 6), date(2026, 12, 7)):
        now = datetime.combine(day, time(0), tzinfo=PHOENIX)
        slots = compute_slots(hours, PHOENIX, SIMPLE, {"cal": []}, now=now, last_day=day)
        assert slots[0].start.astimezone(UTC).hour == 16
    assert zone_label(CHICAGO, datetime(2026, 7, 1, tzinfo=UTC)) == "Central Time (CDT)"
    assert zone_label(CHICAGO, datetime(2026, 12, 1, tzinfo=UTC)) == "Central Time (CST)"


def test_nearest_slots_answer_saturday_at_11():
    """The slot asked for when free; otherwise the nearest three, that day first, in time order."""
    now = local(2026, 11, 30, 7)
    slots = compute_slots(HOURS, CHICAGO, SIMPLE, {"cal": []}, now=now)
    wanted = parse_wanted("Can I see it Saturday at 11?", now)
    assert wanted == Wanted(day=date(2026, 12, 5), at=time(11), part=None, explicit_hour=True)
    chosen, exact = nearest_slots(slots, wanted, CHICAGO)
    assert exact and starts(chosen) == ["Sat 12-05 11:00"]
    busy_eleven = (local(2026, 12, 5, 11), local(2026, 12, 5, 11, 30))
    slots = compute_slots(HOURS, CHICAGO, SIMPLE, {"cal": [busy_eleven]}, now=now)
    chosen, exact = nearest_slots(slots, wanted, CHICAGO)
    assert not exact
    assert len(chosen) == 3 and {"Sat 12-05 10:30", "Sat 12-05 11:30"} <= set(starts(chosen))
    assert all(s.startswith("Sat 12-05") for s in starts(chosen))


def test_nearest_slots_for_a_day_a_part_of_day_or_nothing():
    now = local(2026, 11, 30, 7)
    slots = compute_slots(HOURS, CHICAGO, SIMPLE, {"cal": []}, now=now)
    chosen, _ = nearest_slots(slots, parse_wanted("tomorrow afternoon", now), CHICAGO)
    assert all(s.startswith("Tue 12-01 1") for s in starts(chosen)) and len(chosen) == 3
    assert all(12 <= s.start.astimezone(CHICAGO).hour < 17 for s in chosen)
    chosen, _ = nearest_slots(slots, parse_wanted("I'd like a tour", now), CHICAGO)
    assert starts(chosen) == ["Mon 11-30 09:00", "Tue 12-01 09:00", "Wed 12-02 09:00"]


def test_reading_what_time_was_asked_for():
    now = local(2026, 11, 30, 7)  # Monday
    assert parse_wanted("next tuesday at 3pm", now).day == date(2026, 12, 1)
    assert parse_wanted("next monday", now).day == date(2026, 12, 7)
    assert parse_wanted("Dec 5 at 2:30", now) == Wanted(date(2026, 12, 5), time(14, 30), None, True)
    assert parse_wanted("12/3 around 10", now) == Wanted(date(2026, 12, 3), time(10), None, True)
    assert parse_wanted("can we move it to 3?", now).at == time(15)
    assert parse_wanted("tomorrow morning", now) == Wanted(date(2026, 12, 1), None, "morning", False)
    assert parse_wanted("what about 10:15 a.m. friday", now) == Wanted(date(2026, 12, 4), time(10, 15), None, True)
    assert not parse_wanted("do you allow 2 dogs?", now).explicit_hour


def test_picking_one_of_the_offered_slots():
    """By number, by ordinal, by its quick-reply title, or by a time that names exactly one of them."""
    now = local(2026, 11, 30, 7)
    offered = [local(2026, 12, 5, 10, 30), local(2026, 12, 5, 11, 30), local(2026, 12, 7, 9)]
    assert pick_offered("2", offered, CHICAGO, now) == offered[1]
    assert pick_offered("the first one please", offered, CHICAGO, now) == offered[0]
    assert pick_offered(slot_title(offered[2], CHICAGO), offered, CHICAGO, now) == offered[2]
    assert slot_title(offered[0], CHICAGO) == "Sat Dec 5 10:30 AM" and len(slot_title(offered[0], CHICAGO)) <= 20
    assert pick_offered("11:30 works", offered, CHICAGO, now) == offered[1]
    assert pick_offered("monday", offered, CHICAGO, now) == offered[2]
    assert pick_offered("saturday", offered, CHICAGO, now) is None  # two that day: ambiguous
    assert pick_offered("4", offered, CHICAGO, now) is None
    assert pick_offered("do you take pets?", offered, CHICAGO, now) is None
