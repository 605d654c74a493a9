"""Tour slots: a location's office hours (holidays included) minus its calendars' busy times, by its tour type.

Pure: no database, no network, so the rules are tested directly (tests/booking/test_slots.py). Modelled on how
Cal.com computes slots (packages/lib/slots.ts; calendar-reference.md §4):

- days are the location's own: a day's opening intervals come from its Schedule in its time zone, and each interval
  becomes two aware instants, so a day that changes to or from daylight saving time is 23 or 25 hours long and
  "9 AM" is still 9 AM on the wall clock;
- the grid starts at the interval's opening and steps by the slot interval; the first slot is no earlier than now +
  minimum notice (rounded up onto the grid), the last one still ends by closing time, and none starts later than the
  horizon;
- a slot needs one calendar that is free for it with its buffers: [start - before, end + after] must not touch that
  calendar's busy times. Our own tours count as busy with their buffers too, so buffers stack (Cal.com's event-buffer
  page);
- a day that already holds max_per_day tours (counted in the location's time zone) offers nothing more.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chatpad.hours import Schedule

Interval = tuple[datetime, datetime]  # aware, half-open [start, end)


@dataclass(frozen=True)
class TourRules:
    """A location's tour type, as the slot engine needs it (chatpad.models.TourType holds it)."""

    duration: timedelta = timedelta(minutes=30)
    interval: timedelta = timedelta(minutes=30)
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(minutes=15)
    min_notice: timedelta = timedelta(hours=2)
    horizon_days: int = 14
    max_per_day: int | None = 8

    @classmethod
    def from_minutes(cls, **minutes) -> TourRules:
        """TourRules(duration=30, interval=30, …) in minutes, days for horizon_days, a count for max_per_day."""
        values: dict = {}
        for key, value in minutes.items():
            if key in ("horizon_days", "max_per_day"):
                values[key] = value
            else:
                values[key] = timedelta(minutes=int(value))
        return cls(**values)


@dataclass(frozen=True)
class Slot:
    """A bookable start time, and the calendars free for it (round robin picks among them)."""

    start: datetime  # aware UTC
    end: datetime
    calendars: tuple[str, ...]

    def local(self, zone: ZoneInfo) -> datetime:
        return self.start.astimezone(zone)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The aware instant of a wall-clock time on a local day. "24:00" (time.max) is the next midnight. A time that
    does not exist (inside a spring-forward gap) is read with the offset before the change (PEP 495, fold=0), so it
    lands as far past the gap as a clock would show: 2:30 AM on a spring-forward day is 3:30 AM."""
    if at == time.max:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, at, tzinfo=zone)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals (touching ones joined)."""
    out: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


class BusyIndex:
    """One calendar's merged busy intervals, for fast "is [a, b) free?" questions."""

    def __init__(self, intervals: Iterable[Interval]):
        self.intervals = merge(intervals)
        self.starts = [a for a, _ in self.intervals]

    def free(self, start: datetime, end: datetime) -> bool:
        # Merged intervals are sorted by start and by end alike: of those starting before `end`, the last one ends
        # latest, so it alone decides.
        i = bisect_left(self.starts, end)
        return i == 0 or self.intervals[i - 1][1] <= start


def _ceil_to_grid(moment: datetime, origin: datetime, step: timedelta) -> datetime:
    if moment <= origin:
        return origin
    steps = -(-(moment - origin) // step)  # ceiling division of timedeltas
    return origin + steps * step


def compute_slots(
    schedule: Schedule,
    zone: ZoneInfo,
    rules: TourRules,
    busy: Mapping[str, Iterable[Interval]],
    *,
    now: datetime,
    booked: Mapping[str, Iterable[Interval]] | None = None,
    tours_per_day: Mapping[date, int] | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[Slot]:
    """Every bookable slot from now (or first_day) to the horizon (or last_day), in order.

    busy maps each calendar id to its busy intervals from the provider; booked maps calendar ids to this location's
    own active tours on them (busy with their buffers); tours_per_day counts the location's active tours per local
    day for max_per_day. A calendar missing from busy is not offered."""
    now = now.astimezone(UTC)
    today = now.astimezone(zone).date()
    horizon_end = today + timedelta(days=rules.horizon_days)
    earliest = now + rules.min_notice
    latest_start = datetime.combine(horizon_end, time(0), tzinfo=zone).astimezone(UTC)
    booked = booked or {}
    indexes = {
        cal: BusyIndex(
            [*intervals, *((a - rules.buffer_before, b + rules.buffer_after) for a, b in booked.get(cal, ()))]
        )
        for cal, intervals in busy.items()
    }
    counts = tours_per_day or {}
    step = rules.interval if rules.interval > timedelta(0) else rules.duration
    slots: list[Slot] = []
    day = max(first_day or today, today)
    end_day = min(last_day or horizon_end, horizon_end)
    while day <= end_day:
        if rules.max_per_day is not None and counts.get(day, 0) >= rules.max_per_day:
            day += timedelta(days=1)
            continue
        intervals, _ = schedule.intervals_on(day)
        for opens, closes in intervals:
            open_at = local_instant(day, opens, zone).astimezone(UTC)
            close_at = local_instant(day, closes, zone).astimezone(UTC)
            start = _ceil_to_grid(earliest, open_at, step)
            while start + rules.duration <= close_at and start < latest_start:
                end = start + rules.duration
                window = (start - rules.buffer_before, end + rules.buffer_after)
                free = tuple(cal for cal, index in indexes.items() if index.free(*window))
                if free:
                    slots.append(Slot(start, end, free))
                start += step
        day += timedelta(days=1)
    return slots


def day_counts(tours: Iterable[datetime], zone: ZoneInfo) -> dict[date, int]:
    """Tours per local day (for max_per_day), from their start instants."""
    counts: dict[date, int] = {}
    for start in tours:
        day = start.astimezone(zone).date()
        counts[day] = counts.get(day, 0) + 1
    return counts
