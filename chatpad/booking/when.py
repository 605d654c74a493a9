"""What time a customer asks for ("Saturday at 11", "tomorrow afternoon", "Dec 5 at 2:30", "move it to 3"), which
offered slot they picked ("2", "the first one", "Sat 11:00 AM"), and how slots are written back to them.

Pure: the local "now" and the zone come in, so the rules are tested directly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .slots import Slot

WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
MONTHS = {
    name: index + 1
    for index, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        )
    )
    for name in names
}
PARTS_OF_DAY = {"morning": (time(0), time(12)), "afternoon": (time(12), time(17)), "evening": (time(17), time.max)}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "last": -1}

_DAY_RE = re.compile(r"\b(" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")\b\.?")
_MONTH_DAY_RE = re.compile(
    r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b"
)
_DAY_MONTH_RE = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b"
)
_NUMERIC_DATE_RE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")
_ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")

_AT_TIME_RE = re.compile(
    r"(?:\bat|@|\baround|\babout|\bto|\bfor)\s*(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?(?![\d/:])"
)
_CLOCK_RE = re.compile(r"\b(\d{1,2})(?::(\d{2}))\s*(a\.?m\.?|p\.?m\.?)?|\b(\d{1,2})\s*(a\.?m\.?|p\.?m\.?)")


@dataclass(frozen=True)
class Wanted:
    """What the customer asked for: a day, a time of day, a part of the day; any may be missing."""

    day: date | None = None
    at: time | None = None
    part: str | None = None  # morning | afternoon | evening
    explicit_hour: bool = False  # "at 11", "3pm": a clock time was given

    @property
    def any(self) -> bool:
        return self.day is not None or self.at is not None or self.part is not None


def _hour(hour: int, minute: int, meridiem: str | None) -> time | None:
    if minute > 59:
        return None
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        pm = meridiem.startswith("p")
        hour = (hour % 12) + (12 if pm else 0)
    elif hour > 23:
        return None
    elif 1 <= hour <= 7:
        hour += 12  # "at 3": office hours, so 3 PM
    return time(hour, minute)


def parse_time(text: str) -> time | None:
    """A clock time in the text: "11", "at 3", "3:30", "2pm", "10:15 a.m."; None when there is none."""
    t = text.lower()
    match = _CLOCK_RE.search(t)
    if match:
        if match.group(1) is not None:
            return _hour(int(match.group(1)), int(match.group(2)), match.group(3))
        return _hour(int(match.group(4)), 0, match.group(5))
    match = _AT_TIME_RE.search(t)
    if match:
        return _hour(int(match.group(1)), int(match.group(2) or 0), match.group(3))
    bare = re.fullmatch(r"\s*(\d{1,2})\s*[.!?]?\s*", t)
    if bare and 8 <= int(bare.group(1)) <= 19:
        return _hour(int(bare.group(1)), 0, None)
    return None


def parse_day(text: str, today: date) -> date | None:
    """The day in the text: today, tomorrow, a weekday (the next one, today included), "next Tuesday", Dec 5,
    5 December, 12/5, 2026-12-05."""
    t = text.lower()
    if re.search(r"\btoday\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b", t):
        return today
    if re.search(r"\btomorrow\b|\btmrw\b|\btmr\b", t):
        return today + timedelta(days=1)
    match = _ISO_DATE_RE.search(t)
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    for regex, month_group, day_group in ((_MONTH_DAY_RE, 1, 2), (_DAY_MONTH_RE, 2, 1)):
        match = regex.search(t)
        if match:
            return _upcoming(today, MONTHS[match.group(month_group)], int(match.group(day_group)))
    match = _NUMERIC_DATE_RE.search(t)
    if match:  # US order: month/day
        return _upcoming(today, int(match.group(1)), int(match.group(2)))
    match = _DAY_RE.search(t)
    if match:
        weekday = WEEKDAYS[match.group(1)]
        offset = (weekday - today.weekday()) % 7
        if re.search(r"\bnext\s+" + re.escape(match.group(1)), t) and offset == 0:
            offset = 7
        elif re.search(r"\bnext\s+week\b", t):
            offset += 7
        return today + timedelta(days=offset)
    if re.search(r"\bthis weekend\b|\bweekend\b", t):
        return today + timedelta(days=(5 - today.weekday()) % 7)
    return None


def _upcoming(today: date, month: int, day: int) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def parse_wanted(text: str, local_now: datetime) -> Wanted:
    """The day, clock time and part of day a message asks for, in the location's local terms."""
    t = text.lower()
    day = parse_day(t, local_now.date())
    at = parse_time(_without_dates(t))
    part = next((p for p in PARTS_OF_DAY if re.search(rf"\b{p}s?\b", t)), None)
    if at is None and re.search(r"\bnoon\b|\blunch ?time\b", t):
        at = time(12)
    return Wanted(day=day, at=at, part=part, explicit_hour=at is not None)


def _without_dates(text: str) -> str:
    """The text with its dates removed, so "Dec 5 at 2" reads 2 as the hour, not 5."""
    for regex in (_ISO_DATE_RE, _MONTH_DAY_RE, _DAY_MONTH_RE, _NUMERIC_DATE_RE):
        text = regex.sub(" ", text)
    return text


# --- choosing which slots to offer ----------------------------------------------------------------------------------


def nearest_slots(slots: Sequence[Slot], wanted: Wanted, zone: ZoneInfo, *, limit: int = 3) -> tuple[list[Slot], bool]:
    """Up to `limit` slots near what was asked, in time order, and whether the exact slot asked for is among them.

    A day and a time: that slot when it is free (alone), else the nearest ones (that day first). A day or a part of
    the day only: slots spread over it. Nothing: the first slots available, on different days where possible."""
    if not slots:
        return [], False
    local = [(slot, slot.start.astimezone(zone)) for slot in slots]
    if wanted.day is not None and wanted.at is not None:
        target = datetime.combine(wanted.day, wanted.at, tzinfo=zone)
        exact = [s for s, at in local if at == target]
        if exact:
            return exact[:1], True
        ranked = sorted(local, key=lambda pair: (pair[1].date() != wanted.day, abs(pair[1] - target)))
        return sorted((s for s, _ in ranked[:limit]), key=lambda s: s.start), False
    candidates = local
    if wanted.day is not None:
        candidates = [pair for pair in local if pair[1].date() == wanted.day]
        if not candidates:  # nothing that day: the nearest days
            target = datetime.combine(wanted.day, wanted.at or time(12), tzinfo=zone)
            ranked = sorted(local, key=lambda pair: abs(pair[1] - target))
            return sorted((s for s, _ in ranked[:limit]), key=lambda s: s.start), False
    if wanted.part is not None:
        low, high = PARTS_OF_DAY[wanted.part]
        within = [pair for pair in candidates if low <= pair[1].time() < high]
        candidates = within or candidates
    if wanted.at is not None and wanted.day is None:
        # "at 3": the next days' 3 PM slots, else the closest times on the earliest days.
        same = [pair for pair in candidates if pair[1].time() == wanted.at]
        if same:
            return [s for s, _ in same[:limit]], False
        ranked = sorted(
            candidates,
            key=lambda pair: (
                pair[1].date(),
                abs(datetime.combine(pair[1].date(), wanted.at) - pair[1].replace(tzinfo=None)),
            ),
        )
        return sorted((s for s, _ in ranked[:limit]), key=lambda s: s.start), False
    if wanted.day is None and wanted.part is None:
        return _first_on_different_days(candidates, limit), False
    return _spread([s for s, _ in candidates], limit), False


def _first_on_different_days(local: list[tuple[Slot, datetime]], limit: int) -> list[Slot]:
    seen: set[date] = set()
    chosen: list[Slot] = []
    for slot, at in local:
        if at.date() not in seen:
            seen.add(at.date())
            chosen.append(slot)
        if len(chosen) >= limit:
            break
    return chosen


def _spread(slots: list[Slot], limit: int) -> list[Slot]:
    """`limit` slots spread evenly over a list (first, middle, last…)."""
    if len(slots) <= limit:
        return list(slots)
    if limit == 1:
        return slots[:1]
    step = (len(slots) - 1) / (limit - 1)
    return [slots[round(i * step)] for i in range(limit)]


# --- writing slots for people ---------------------------------------------------------------------------------------

ZONE_NAMES = {
    "America/New_York": "Eastern Time",
    "America/Detroit": "Eastern Time",
    "America/Indiana/Indianapolis": "Eastern Time",
    "America/Kentucky/Louisville": "Eastern Time",
    "America/Chicago": "Central Time",
    "America/Denver": "Mountain Time",
    "America/Boise": "Mountain Time",
    "America/Phoenix": "Arizona Time",
    "America/Los_Angeles": "Pacific Time",
    "America/Anchorage": "Alaska Time",
    "Pacific/Honolulu": "Hawaii Time",
}


def clock(at: datetime) -> str:
    """'11:00 AM', '2:30 PM'."""
    return at.strftime("%I:%M %p").lstrip("0")


def zone_label(zone: ZoneInfo, at: datetime) -> str:
    """'Central Time (CST)': the zone named the way customers know it, with the abbreviation in force then."""
    abbreviation = at.astimezone(zone).strftime("%Z")
    name = ZONE_NAMES.get(zone.key)
    return f"{name} ({abbreviation})" if name else f"{zone.key.replace('_', ' ')} time ({abbreviation})"


def day_name(day: date, today: date) -> str:
    if day == today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    return f"{day:%A}, {day:%b} {day.day}"


def slot_label(slot_start: datetime, zone: ZoneInfo, today: date) -> str:
    """'Saturday, Dec 5 at 11:00 AM' (local), for sentences."""
    local = slot_start.astimezone(zone)
    return f"{day_name(local.date(), today)} at {clock(local)}"


def slot_title(slot_start: datetime, zone: ZoneInfo) -> str:
    """'Sat Dec 5 11:00 AM': at most 20 characters, for a quick reply (Meta's title limit)."""
    local = slot_start.astimezone(zone)
    return f"{local:%a} {local:%b} {local.day} {clock(local)}"


def pick_offered(text: str, offered: Sequence[datetime], zone: ZoneInfo, local_now: datetime) -> datetime | None:
    """Which offered slot (aware starts, in the order offered) a message picks: "2", "the first one", "option 3",
    a quick reply's title, "11", "Saturday at 11". None when it names none of them (or is ambiguous)."""
    if not offered:
        return None
    t = text.strip().lower()
    match = re.fullmatch(r"(?:#|no\.?\s*|number\s+|option\s+)?(\d)\s*[.)!]?", t)
    if match:
        index = int(match.group(1))
        return offered[index - 1] if 1 <= index <= len(offered) else None
    for word, index in ORDINALS.items():
        if re.search(rf"\b{word}\b", t) and not re.search(r"\d{1,2}\s*(?::\d{2}|am|pm)", t):
            return offered[index - 1 if index > 0 else -1] if abs(index) <= len(offered) else None
    titles = {slot_title(start, zone).lower(): start for start in offered}
    if t in titles:
        return titles[t]
    wanted = parse_wanted(t, local_now)
    on_day = list(offered)
    if wanted.day is not None:
        on_day = [s for s in offered if s.astimezone(zone).date() == wanted.day]
        weekday = _DAY_RE.search(t)
        if not on_day and weekday:  # "Monday" names the offered Monday, even when today is a Monday too
            on_day = [s for s in offered if s.astimezone(zone).weekday() == WEEKDAYS[weekday.group(1)]]
    if wanted.at is None:
        return on_day[0] if wanted.day is not None and len(on_day) == 1 else None
    matching = [s for s in on_day if s.astimezone(zone).time() == wanted.at]
    return matching[0] if len(matching) == 1 else None
