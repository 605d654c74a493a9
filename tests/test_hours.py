"""Opening hours: validation a person can act on, and open-now in the location's own timezone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from chatpad.hours import HoursError, Schedule, valid_timezone

HOURS = {
    "weekly": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": [["10:00", "14:00"]]},
    "exceptions": [{"date": "2026-11-26", "hours": [], "note": "Thanksgiving"}],
}
CHICAGO = ZoneInfo("America/Chicago")


def test_open_now_honours_lunch_breaks_and_exceptions():
    s = Schedule.from_json(HOURS)
    monday = datetime(2026, 11, 30, 11, 0, tzinfo=CHICAGO)
    assert s.is_open(monday)
    assert not s.is_open(monday.replace(hour=12, minute=30))  # lunch
    assert not s.is_open(datetime(2026, 11, 26, 11, 0, tzinfo=CHICAGO))  # Thanksgiving (a Thursday)
    assert not s.is_open(datetime(2026, 11, 29, 11, 0, tzinfo=CHICAGO))  # Sunday: not listed, closed
    assert s.next_opening(monday.replace(hour=12, minute=30)) == monday.replace(hour=13, minute=0)


def test_describes_days_for_people():
    s = Schedule.from_json(HOURS)
    assert s.describe_day(date(2026, 11, 30)) == "9 AM–12 PM, 1 PM–5 PM"
    assert s.describe_day(date(2026, 11, 26)) == "Closed (Thanksgiving)"
    week = s.describe_week(date(2026, 11, 28))
    assert week[0] == "Saturday Nov 28: 10 AM–2 PM" and len(week) == 7


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"weekly": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "overlaps"),
        ({"weekly": {"tue": [["17:00", "09:00"]]}}, "not after it opens"),
        ({"weekly": {"wed": [["9am", "5pm"]]}}, "is not a time"),
        ({"weekly": {"funday": []}}, "Unknown day"),
        ({"exceptions": [{"date": "2026-13-01", "hours": []}]}, "is not a date"),
        ({"exceptions": [{"date": "2026-12-25"}, {"date": "2026-12-25"}]}, "listed twice"),
    ],
)
def test_rejects_hours_that_cannot_be_right(hours, message):
    with pytest.raises(HoursError, match=message):
        Schedule.from_json(hours)


def test_timezones_are_iana_names():
    assert valid_timezone("America/Phoenix")
    assert not valid_timezone("Mars/Olympus_Mons")
    assert not valid_timezone("")
