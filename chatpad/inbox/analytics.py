"""Analytics by channel and by location over a period: volume, who answered (AI or people), first-response time,
failed sends and accounts to reconnect. Aggregated in the database; only per-group rows come back.

Definitions (also shown on the page):
- a conversation counts in a period when it has at least one message in it;
- answered by the AI: the AI, or an automatic reply of the channel (Instagram's story-mention thank-you), sent a
  reply (not failed, not skipped) and no person replied or took the conversation over in the period; handed to
  people: a person replied or took it over; unanswered: neither;
- first response: from the customer's first message in the period to the first reply sent after it (AI or person);
  the median is over conversations that got one.

Erased and expired conversations count as they did before they went: their anonymous per-day rows
(anonymous_activity, chatpad.privacy.stats) are added in with the same definitions, so totals never drop.
"""

from __future__ import annotations

import re
import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, exists, func, literal, select, text, tuple_, union_all
from sqlalchemy.orm import aliased

from chatpad.extensions import db
from chatpad.http import FIRST_DAY, LAST_DAY, parse_day, parse_uuid
from chatpad.models import (
    ANSWERED,
    AUTOMATIC,
    REPLIERS,
    AnonymousActivity,
    Booking,
    Conversation,
    Location,
    Message,
    Scope,
    SocialAccount,
    channel_label,
    utcnow,
)

PERIOD_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366
# ANSWERED, AUTOMATIC, REPLIERS (chatpad.models): replies the customer actually gets, by who wrote them.
# "system" outbound messages that are sent (not the internal "taken over" lines) are automatic replies, such as the
# story-mention thank-you: answered without a person.
# The failure reason of an erased or expired conversation is not kept, only that a send failed.
REASON_NOT_KEPT = "Reason not kept (erased or expired conversation)"


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC midnight
    end: datetime  # exclusive, UTC midnight
    days: int | None  # set for the "last N days" presets

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    @property
    def label(self) -> str:
        if self.days:
            return f"Last {self.days} days"
        return f"{self.first_day:%b %d, %Y} – {self.last_day:%b %d, %Y}"

    def to_args(self) -> dict[str, str]:
        if self.days:
            return {"days": str(self.days)}
        return {"start": self.first_day.isoformat(), "end": self.last_day.isoformat()}


class PeriodError(ValueError):
    """A period the page cannot show; the message says why."""


def parse_period(args, today: date | None = None) -> Period:
    """The period from ?days=N (7, 30, 90) or ?start=YYYY-MM-DD&end=YYYY-MM-DD (both days included, UTC)."""
    today = today or utcnow().date()
    start_arg, end_arg = (args.get("start") or "").strip(), (args.get("end") or "").strip()
    if start_arg or end_arg:
        try:
            first = parse_day(start_arg) if start_arg else today - timedelta(days=DEFAULT_DAYS - 1)
            last = parse_day(end_arg) if end_arg else today
        except ValueError:
            raise PeriodError(
                f"Dates must look like 2026-01-31, between {FIRST_DAY.year} and {LAST_DAY.year}."
            ) from None
        if last < first:
            raise PeriodError("The end date is before the start date.")
        if (last - first).days + 1 > MAX_DAYS:
            raise PeriodError(f"Choose at most {MAX_DAYS} days.")
        return Period(_midnight(first), _midnight(last + timedelta(days=1)), None)
    try:
        days = int(args.get("days") or DEFAULT_DAYS)
    except ValueError:
        days = DEFAULT_DAYS
    if days not in PERIOD_DAYS:
        days = DEFAULT_DAYS
    end = _midnight(today + timedelta(days=1))
    return Period(end - timedelta(days=days), end, days)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass
class GroupStats:
    """The numbers for one channel, one location, or everything."""

    key: str
    label: str
    conversations: int = 0
    new_conversations: int = 0
    messages: int = 0
    inbound: int = 0
    outbound: int = 0
    ai: int = 0
    human: int = 0
    unanswered: int = 0
    failed: int = 0
    median_first_response: float | None = None  # seconds
    responses: int = 0
    tours: int = 0  # tours booked in the period (kept, cancelled later or a no-show: they were booked)
    converted: int = 0  # conversations in which a tour was booked in the period

    @property
    def conversion(self) -> float | None:
        """Conversation-to-tour conversion: conversations with a tour booked, of the conversations counted."""
        return self.converted / self.conversations if self.conversations else None

    @property
    def handled(self) -> int:
        return self.ai + self.human + self.unanswered

    def share(self, part: str) -> float:
        total = self.handled
        return getattr(self, part) / total if total else 0.0


@dataclass
class Report:
    period: Period
    total: GroupStats
    by_channel: list[GroupStats]
    by_location: list[GroupStats]
    daily: list[tuple[date, dict[str, int]]]  # per day: messages per channel
    failures: list[dict[str, Any]]  # channel, reason, count
    reconnect: list[SocialAccount]
    channels: list[str] = field(default_factory=list)


def _seconds_between(later, earlier):
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _day(column):
    """The UTC day of a timestamp: a timestamp at midnight on PostgreSQL (cheaper to group than text), text on
    SQLite."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("day", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d", column)


def _activity(scope: Scope, period: Period):
    """One row per conversation with messages in the period, stored or erased (see _stored and _anonymous): its
    counts, who replied, the first-response time, and how many conversations the row stands for."""
    return union_all(_stored(scope, period), *_anonymous(scope, period)).subquery("per_conversation")


def _stored(scope: Scope, period: Period):
    """Per stored conversation with messages in the period: counts, who replied, and the first-response time. One
    pass over the period's messages; a second look only for the rare conversation whose first reply in the period
    came before the customer's first message in it (the tail of an earlier exchange)."""
    # System lines ("taken over", "handed back") are stored as messages with status internal: not traffic.
    in_period = and_(Message.created_at >= period.start, Message.created_at < period.end, Message.status != "internal")
    answered = Message.status.in_(ANSWERED)
    is_reply = and_(Message.direction == "outbound", Message.sender_type.in_(REPLIERS), answered)
    act = (
        select(
            Conversation.id.label("cid"),
            Conversation.channel.label("channel"),
            Conversation.location_id.label("location_id"),
            Conversation.created_at.label("created_at"),
            Conversation.taken_over_at.label("taken_over_at"),
            func.count().label("messages"),
            func.sum(case((Message.direction == "inbound", 1), else_=0)).label("inbound"),
            func.sum(case((Message.direction == "outbound", 1), else_=0)).label("outbound"),
            func.max(case((and_(Message.sender_type.in_(AUTOMATIC), answered), 1), else_=0)).label("has_ai"),
            func.max(case((and_(Message.sender_type == "human", answered), 1), else_=0)).label("has_human"),
            func.sum(case((Message.status == "failed", 1), else_=0)).label("failed"),
            func.min(case((Message.direction == "inbound", Message.created_at))).label("first_in"),
            func.min(case((is_reply, Message.created_at))).label("first_reply"),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        # Redundant but true (a conversation with a message in the period was active since its start), and it
        # lets PostgreSQL start from the inbox index instead of every message of every organization.
        .where(
            Conversation.organization_id == scope.organization_id,
            scope.locations_where(Conversation.location_id),
            Conversation.last_message_at >= period.start,
            in_period,
        )
        .group_by(Conversation.id)
        .cte("act")
    )
    later = aliased(Message)
    first_after = (
        select(func.min(later.created_at))
        .where(
            later.conversation_id == act.c.cid,
            later.created_at >= act.c.first_in,
            later.created_at < period.end,
            later.direction == "outbound",
            later.sender_type.in_(REPLIERS),
            later.status.in_(ANSWERED),
        )
        .scalar_subquery()
    )
    first_out = case(
        (act.c.first_in.is_(None), None),
        (act.c.first_reply >= act.c.first_in, act.c.first_reply),
        else_=first_after,
    )
    # IS NOT NULL first: a NULL comparison would make "not handed to people" unknown, not true.
    taken_over = and_(
        act.c.taken_over_at.is_not(None),
        act.c.taken_over_at >= period.start,
        act.c.taken_over_at < period.end,
    )
    human = (act.c.has_human == 1) | taken_over
    return select(
        act.c.channel,
        act.c.location_id,
        act.c.messages,
        act.c.inbound,
        act.c.outbound,
        act.c.failed,
        case((and_(act.c.inbound > 0, human), 1), else_=0).label("is_human"),
        case((and_(act.c.inbound > 0, ~human, act.c.has_ai == 1), 1), else_=0).label("is_ai"),
        case((and_(act.c.inbound > 0, ~human, act.c.has_ai == 0), 1), else_=0).label("is_unanswered"),
        case((act.c.created_at >= period.start, 1), else_=0).label("is_new"),
        _seconds_between(first_out, act.c.first_in).label("response"),
        literal(1).label("conversations"),
    )


def _anonymous(scope: Scope, period: Period):
    """The erased and expired conversations of the period, in _stored's columns and with its definitions, from
    their anonymous per-day rows: grouped by their random key (a conversation active on several days counts once),
    started on or after the period's first day (as _stored's created_at >= start), answered by the AI or by people
    over the period's days, and its first response that of its first day in the period with a customer message,
    counted when the reply came before the period's end. Rows written before the key existed are per-day totals,
    added as they are (each day's conversations, answered as that day's replies say)."""
    a = AnonymousActivity
    org_id = scope.organization_id
    first, last = period.first_day, period.last_day
    in_period = and_(a.organization_id == org_id, scope.locations_where(a.location_id), a.day >= first, a.day <= last)
    anon = (
        select(
            a.conversation_key.label("key"),
            a.channel.label("channel"),
            a.location_id.label("location_id"),
            func.sum(a.messages).label("messages"),
            func.sum(a.inbound).label("inbound"),
            func.sum(a.outbound).label("outbound"),
            func.sum(a.failed).label("failed"),
            func.sum(a.automatic_replies).label("automatic"),
            func.sum(a.human_replies + a.taken_over).label("human"),
            func.min(case((a.inbound > 0, a.day))).label("first_in_day"),
        )
        .where(in_period, a.conversation_key.is_not(None))
        .group_by(a.conversation_key, a.channel, a.location_id)
        .having(func.sum(a.messages) > 0)
        .cte("anon")
    )
    day = aliased(AnonymousActivity)
    started = exists().where(
        day.organization_id == org_id,
        day.conversation_key == anon.c.key,
        day.new_conversations > 0,
        day.day >= first,
    )
    response = (
        select(day.first_response_seconds)
        .where(
            day.organization_id == org_id,
            day.conversation_key == anon.c.key,
            day.day == anon.c.first_in_day,
            day.first_response_day <= last,
        )
        .limit(1)
        .scalar_subquery()
    )
    human = anon.c.human > 0
    keyed = select(
        anon.c.channel,
        anon.c.location_id,
        anon.c.messages,
        anon.c.inbound,
        anon.c.outbound,
        anon.c.failed,
        case((and_(anon.c.inbound > 0, human), 1), else_=0).label("is_human"),
        case((and_(anon.c.inbound > 0, ~human, anon.c.automatic > 0), 1), else_=0).label("is_ai"),
        case((and_(anon.c.inbound > 0, ~human, anon.c.automatic == 0), 1), else_=0).label("is_unanswered"),
        case((started, 1), else_=0).label("is_new"),
        response.label("response"),
        literal(1).label("conversations"),
    )
    answered_by_people = a.human_replies + a.taken_over > 0
    totals = select(
        a.channel,
        a.location_id,
        a.messages,
        a.inbound,
        a.outbound,
        a.failed,
        case((and_(a.inbound > 0, answered_by_people), a.conversations), else_=0).label("is_human"),
        case((and_(a.inbound > 0, ~answered_by_people, a.ai_replies + a.automatic_replies > 0), a.conversations),
             else_=0).label("is_ai"),
        case((and_(a.inbound > 0, ~answered_by_people, a.ai_replies + a.automatic_replies == 0), a.conversations),
             else_=0).label("is_unanswered"),
        a.new_conversations.label("is_new"),
        literal(None).label("response"),
        a.conversations.label("conversations"),
    ).where(in_period, a.conversation_key.is_(None), a.messages > 0)  # fmt: skip
    return keyed, totals


SUMMED = ("messages", "inbound", "outbound", "failed", "is_new", "is_ai", "is_human", "is_unanswered", "conversations")


def _sums(rows) -> list:
    return [func.sum(rows.c[name]).label(name) for name in SUMMED] + [
        func.count(rows.c.response).label("responses"),
        func.percentile_cont(0.5).within_group(rows.c.response).label("median"),
    ]


def _grouped_postgresql(rows) -> dict[tuple[str, Any], dict]:
    """One pass with GROUPING SETS: per channel, per location and the total, medians included."""
    stmt = select(
        rows.c.channel,
        rows.c.location_id,
        func.grouping(rows.c.channel).label("g_channel"),
        func.grouping(rows.c.location_id).label("g_location"),
        *_sums(rows),
    ).group_by(func.grouping_sets(tuple_(rows.c.channel), tuple_(rows.c.location_id), tuple_()))
    out: dict[tuple[str, Any], dict] = {}
    for row in db.session.execute(stmt).mappings():
        values = {name: int(row[name] or 0) for name in (*SUMMED, "responses")}
        values["median"] = float(row["median"]) if row["median"] is not None else None
        if not row["g_channel"]:
            out[("channel", row["channel"])] = values
        elif not row["g_location"]:
            out[("location", row["location_id"])] = values
        else:
            out[("total", None)] = values
    return out


def _grouped_python(rows) -> dict[tuple[str, Any], dict]:
    """SQLite (the embedded, single-business case): per-conversation rows summed and medians taken in Python."""
    sums: dict[tuple[str, Any], dict] = defaultdict(lambda: dict.fromkeys((*SUMMED, "responses"), 0))
    responses: dict[tuple[str, Any], list[float]] = defaultdict(list)
    for row in db.session.execute(select(rows)).mappings():
        for key in (("channel", row["channel"]), ("location", row["location_id"]), ("total", None)):
            group = sums[key]
            for name in SUMMED:
                group[name] += int(row[name] or 0)
            if row["response"] is not None:
                group["responses"] += 1
                responses[key].append(float(row["response"]))
    out = {}
    for key, group in sums.items():
        group["median"] = statistics.median(responses[key]) if responses[key] else None
        out[key] = group
    return out


def _to_stats(key: str, label: str, values: dict | None) -> GroupStats:
    values = values or {}
    return GroupStats(
        key=key,
        label=label,
        conversations=values.get("conversations", 0),
        new_conversations=values.get("is_new", 0),
        messages=values.get("messages", 0),
        inbound=values.get("inbound", 0),
        outbound=values.get("outbound", 0),
        ai=values.get("is_ai", 0),
        human=values.get("is_human", 0),
        unanswered=values.get("is_unanswered", 0),
        failed=values.get("failed", 0),
        responses=values.get("responses", 0),
        median_first_response=values.get("median"),
    )


def failure_reason(error: str | None) -> str:
    """A failure message as a group label: its first line, trimmed."""
    text = (error or "").strip().splitlines()[0] if (error or "").strip() else "No reason recorded"
    return text if len(text) <= 120 else text[:117] + "…"


def build_report(scope: Scope | int, period: Period) -> Report:
    """Everything the analytics page and its CSV show, for one organization (or a person's locations of it) and
    period."""
    scope = Scope.coerce(scope)
    org_id = scope.organization_id
    rows = _activity(scope, period)
    if db.engine.dialect.name == "postgresql":
        # Enough memory to group and sort a busy month without spilling to disk, and no JIT: compiling these
        # queries took a third of their time (docs/performance.md). LOCAL: this transaction only.
        work_mem = current_app.config.get("INBOX_ANALYTICS_WORK_MEM", "64MB")
        if re.fullmatch(r"\d+(kB|MB|GB)", work_mem):
            db.session.execute(text(f"SET LOCAL work_mem = '{work_mem}'"))
        db.session.execute(text("SET LOCAL jit = off"))
        grouped = _grouped_postgresql(rows)
    else:
        grouped = _grouped_python(rows)

    by_channel = [
        _to_stats(key, channel_label(key), values) for (dim, key), values in grouped.items() if dim == "channel"
    ]
    by_channel.sort(key=lambda s: (-s.conversations, s.key))
    location_keys = [key for (dim, key) in grouped if dim == "location"]
    names = _location_names(org_id, [k for k in location_keys if k is not None])
    by_location = []
    for key in location_keys:
        ident = _as_uuid(key)
        label = names.get(ident, "General (no location)") if ident else "General (no location)"
        by_location.append(_to_stats(str(ident) if ident else "general", label, grouped[("location", key)]))
    by_location.sort(key=lambda s: (-s.conversations, s.label))
    total = _to_stats("all", "All channels", grouped.get(("total", None)))
    _add_tours(scope, period, total, by_channel, by_location, names)

    return Report(
        period=period,
        total=total,
        by_channel=by_channel,
        by_location=by_location,
        daily=_daily(scope, period),
        failures=_failures(scope, period),
        reconnect=_reconnect(scope),
        channels=[s.key for s in by_channel],
    )


# A tour counts as booked once it reached the calendar: confirmed, a no-show later, or cancelled after it was booked.
BOOKED_STATUSES = ("confirmed", "no_show", "cancelled")


def _add_tours(scope: Scope, period: Period, total, by_channel, by_location, names) -> None:
    """Tours booked in the period (by when they were booked) and the conversations they came from, by channel and by
    location, added to the groups (a location or channel with tours but no conversation in the period gets a row)."""
    booked = and_(
        scope.where(Booking),
        Booking.created_at >= period.start,
        Booking.created_at < period.end,
        Booking.status.in_(BOOKED_STATUSES),
        Booking.event_id.is_not(None) | (Booking.status != "cancelled"),
    )
    rows = db.session.execute(
        select(
            Booking.channel,
            Booking.location_id,
            func.count(Booking.id),
            func.count(func.distinct(Booking.conversation_id)),
        )
        .where(booked)
        .group_by(Booking.channel, Booking.location_id)
    ).all()
    if not rows:
        return
    channels = {s.key: s for s in by_channel}
    locations = {s.key: s for s in by_location}
    missing = [key for _, key, _, _ in rows if str(key) not in locations]
    names = {**names, **_location_names(scope.organization_id, missing)}
    for channel, location_id, _tours, _converted in rows:
        if channel not in channels:
            channels[channel] = GroupStats(key=channel, label=channel_label(channel))
            by_channel.append(channels[channel])
        key = str(location_id)
        if key not in locations:
            locations[key] = GroupStats(key=key, label=names.get(location_id, "Unknown location"))
            by_location.append(locations[key])
    # Distinct conversations per group: a conversation books on one channel at one location, so per-(channel,
    # location) counts add up, except a conversation that booked twice in different pairs (rare; counted once each).
    for channel, location_id, tours, converted in rows:
        for group in (channels[channel], locations[str(location_id)]):
            group.tours += tours
            group.converted += converted
    total.tours = sum(r[2] for r in rows)
    total.converted = db.session.scalar(select(func.count(func.distinct(Booking.conversation_id))).where(booked)) or 0


def _as_uuid(value) -> uuid.UUID | None:
    return parse_uuid(value)


def _location_names(org_id: int, keys: list) -> dict[uuid.UUID, str]:
    ids = [k for k in (_as_uuid(k) for k in keys) if k]
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(Location.id, Location.name).where(Location.tenant_clause(org_id), Location.id.in_(ids))
        ).all()
    )


def _daily(scope: Scope, period: Period) -> list[tuple[date, dict[str, int]]]:
    org_id = scope.organization_id
    day = _day(Message.created_at)
    counts = db.session.execute(
        select(day.label("day"), Conversation.channel, func.count())
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.organization_id == org_id,
            scope.locations_where(Conversation.location_id),
            Conversation.last_message_at >= period.start,
            Message.created_at >= period.start,
            Message.created_at < period.end,
            Message.status != "internal",
        )
        .group_by(day, Conversation.channel)
    ).all()
    a = AnonymousActivity
    erased = db.session.execute(
        select(a.day, a.channel, func.sum(a.messages))
        .where(
            a.organization_id == org_id,
            scope.locations_where(a.location_id),
            a.day >= period.first_day,
            a.day <= period.last_day,
            a.messages > 0,
        )
        .group_by(a.day, a.channel)
    ).all()
    per_day: dict[date, dict[str, int]] = defaultdict(dict)
    for day, channel, count in [*counts, *erased]:
        if isinstance(day, datetime):
            key = day.date()
        else:
            key = day if isinstance(day, date) else date.fromisoformat(day)
        per_day[key][channel] = per_day[key].get(channel, 0) + int(count)
    days = []
    current = period.first_day
    while current <= period.last_day:
        days.append((current, per_day.get(current, {})))
        current += timedelta(days=1)
    return days


def _failures(scope: Scope, period: Period) -> list[dict[str, Any]]:
    org_id = scope.organization_id
    rows = db.session.execute(
        select(Conversation.channel, Message.error, func.count())
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.organization_id == org_id,
            scope.locations_where(Conversation.location_id),
            Message.status == "failed",
            Message.created_at >= period.start,
            Message.created_at < period.end,
        )
        .group_by(Conversation.channel, Message.error)
    ).all()
    a = AnonymousActivity
    erased = db.session.execute(
        select(a.channel, func.sum(a.failed))
        .where(
            a.organization_id == org_id,
            scope.locations_where(a.location_id),
            a.day >= period.first_day,
            a.day <= period.last_day,
            a.failed > 0,
        )
        .group_by(a.channel)
    ).all()
    grouped: dict[tuple[str, str], int] = defaultdict(int)
    for channel, error, count in rows:
        grouped[(channel, failure_reason(error))] += int(count)
    for channel, count in erased:
        grouped[(channel, REASON_NOT_KEPT)] += int(count)
    return [
        {"channel": channel, "reason": reason, "count": count}
        for (channel, reason), count in sorted(grouped.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _reconnect(scope: Scope) -> list[SocialAccount]:
    return list(
        db.session.scalars(
            select(SocialAccount)
            .where(scope.where(SocialAccount), SocialAccount.status.in_(("needs_reauth", "error")))
            .order_by(SocialAccount.channel, SocialAccount.account_name)
        )
    )


def format_duration(seconds: float | None) -> str:
    """12 s, 4 min, 2.5 h, 3.1 days; an em dash for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


CSV_COLUMNS = [
    "dimension",
    "name",
    "conversations",
    "new_conversations",
    "messages",
    "inbound",
    "outbound",
    "answered_by_ai",
    "handed_to_people",
    "unanswered",
    "ai_share",
    "human_share",
    "median_first_response_seconds",
    "failed_sends",
    "tours_booked",
    "conversations_with_a_tour",
    "conversation_to_tour_rate",
]


def csv_rows(report: Report) -> list[list[Any]]:
    """The report as CSV rows: the total, each channel, each location."""
    out: list[list[Any]] = [CSV_COLUMNS]
    groups = [("total", report.total)]
    groups += [("channel", s) for s in report.by_channel]
    groups += [("location", s) for s in report.by_location]
    for dimension, s in groups:
        out.append(
            [
                dimension,
                s.label if dimension != "channel" else s.key,
                s.conversations,
                s.new_conversations,
                s.messages,
                s.inbound,
                s.outbound,
                s.ai,
                s.human,
                s.unanswered,
                f"{s.share('ai'):.3f}",
                f"{s.share('human'):.3f}",
                f"{s.median_first_response:.0f}" if s.median_first_response is not None else "",
                s.failed,
                s.tours,
                s.converted,
                f"{s.conversion:.3f}" if s.conversion is not None else "",
            ]
        )
    return out


def failure_csv_rows(report: Report) -> list[list[Any]]:
    out: list[list[Any]] = [["channel", "reason", "failed_sends"]]
    out += [[f["channel"], f["reason"], f["count"]] for f in report.failures]
    return out
