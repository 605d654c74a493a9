"""Opening hours of a location: a weekly schedule plus dated exceptions, in the location's timezone.

Stored as JSON on locations.hours:
    {"weekly": {"mon": [["09:00", "17:00"]], "sat": [["10:00", "14:00"]], "sun": []},
     "exceptions": [{"date": "2026-12-25", "hours": [], "note": "Christmas Day"}]}
A day with an empty list is closed; a day may have several intervals (a lunch break). "24:00" closes at midnight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}

Interval = tuple[time, time]


class HoursError(ValueError):
    """Hours a person entered that cannot be right: the message says which and why."""


def valid_timezone(name: str) -> bool:
    if not name or name not in _timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_TZ_CACHE: list[str] = []


def _timezones() -> list[str]:
    if not _TZ_CACHE:
        _TZ_CACHE.extend(sorted(available_timezones()))
    return _TZ_CACHE


def timezone_choices() -> list[str]:
    """Every IANA timezone, sorted."""
    return list(_timezones())


def _parse_time(text: str, *, what: str) -> time:
    text = (text or "").strip()
    if text == "24:00":
        return time.max
    try:
        hour, minute = text.split(":")
        return time(int(hour), int(minute))
    except (ValueError, TypeError):
        raise HoursError(f"{what}: {text!r} is not a time (use HH:MM, 24-hour).") from None


def _format_time(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


def _human_time(value: time) -> str:
    if value == time.max:
        return "midnight"
    return value.strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")


def _parse_intervals(raw: list, *, what: str) -> list[Interval]:
    intervals: list[Interval] = []
    for pair in raw or []:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise HoursError(f"{what}: each interval needs an opening and a closing time.")
        opens = _parse_time(pair[0], what=what)
        closes = _parse_time(pair[1], what=what)
        if closes <= opens:
            raise HoursError(
                f"{what}: closes at {_format_time(closes)}, which is not after it opens at {_format_time(opens)}."
            )
        intervals.append((opens, closes))
    intervals.sort()
    for (a_open, a_close), (b_open, b_close) in zip(intervals, intervals[1:], strict=False):
        if b_open < a_close:
            raise HoursError(
                f"{what}: {_format_time(a_open)}–{_format_time(a_close)} overlaps "
                f"{_format_time(b_open)}–{_format_time(b_close)}."
            )
    return intervals


@dataclass
class Exception_:
    day: date
    intervals: list[Interval]
    note: str = ""


@dataclass
class Schedule:
    """A validated weekly schedule with exceptions."""

    weekly: dict[str, list[Interval]] = field(default_factory=lambda: {d: [] for d in DAYS})
    exceptions: dict[date, Exception_] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict | None) -> Schedule:
        """Parse and validate stored hours; raise HoursError saying what is wrong."""
        data = data or {}
        weekly_raw = data.get("weekly") or {}
        unknown = set(weekly_raw) - set(DAYS)
        if unknown:
            raise HoursError(f"Unknown day(s): {', '.join(sorted(unknown))}.")
        weekly = {d: _parse_intervals(weekly_raw.get(d, []), what=DAY_NAMES[d]) for d in DAYS}
        exceptions: dict[date, Exception_] = {}
        for item in data.get("exceptions") or []:
            try:
                day = date.fromisoformat(str(item.get("date", "")))
            except ValueError:
                raise HoursError(f"Exception date {item.get('date')!r} is not a date (YYYY-MM-DD).") from None
            if day in exceptions:
                raise HoursError(f"{day.isoformat()} is listed twice among the exceptions.")
            what = f"Exception on {day.isoformat()}"
            exceptions[day] = Exception_(day, _parse_intervals(item.get("hours", []), what=what), item.get("note", ""))
        return cls(weekly, exceptions)

    def to_json(self) -> dict:
        return {
            "weekly": {d: [[_format_time(a), _format_time(b)] for a, b in self.weekly[d]] for d in DAYS},
            "exceptions": [
                {
                    "date": e.day.isoformat(),
                    "hours": [[_format_time(a), _format_time(b)] for a, b in e.intervals],
                    "note": e.note,
                }
                for e in sorted(self.exceptions.values(), key=lambda e: e.day)
            ],
        }

    def intervals_on(self, day: date) -> tuple[list[Interval], str]:
        """The opening intervals of a date and the exception note, if any."""
        if day in self.exceptions:
            exc = self.exceptions[day]
            return exc.intervals, exc.note
        return self.weekly[DAYS[day.weekday()]], ""

    def is_open(self, local: datetime) -> bool:
        """Is the location open at this local (timezone-aware, in the location's zone) time?"""
        now = local.time()
        intervals, _ = self.intervals_on(local.date())
        return any(opens <= now < closes for opens, closes in intervals)

    def next_opening(self, local: datetime, horizon_days: int = 14) -> datetime | None:
        """When it next opens after this local time (None if not within the horizon)."""
        for offset in range(horizon_days + 1):
            day = local.date() + timedelta(days=offset)
            for opens, _ in self.intervals_on(day)[0]:
                at = datetime.combine(day, opens, tzinfo=local.tzinfo)
                if at > local:
                    return at
        return None

    def describe_day(self, day: date) -> str:
        intervals, note = self.intervals_on(day)
        text = ", ".join(f"{_human_time(a)}–{_human_time(b)}" for a, b in intervals) or "Closed"
        return f"{text} ({note})" if note else text

    def describe_week(self, start: date) -> list[str]:
        """Seven lines, from start: 'Monday Nov 30: 9 AM–5 PM'."""
        lines = []
        for offset in range(7):
            day = start + timedelta(days=offset)
            lines.append(f"{DAY_NAMES[DAYS[day.weekday()]]} {day.strftime('%b %d')}: {self.describe_day(day)}")
        return lines


def normalize_hours(data: dict | None) -> dict:
    """Validate hours and return them in canonical form (raises HoursError)."""
    return Schedule.from_json(data).to_json()
