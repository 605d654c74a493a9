"""Anonymous counts: what analytics keeps of conversations that were erased or expired.

Before conversations are deleted, their messages are counted per organization, channel, location and UTC day
(the same definitions the analytics page uses: a conversation counts on each day it has messages; replies count
when they went out) and the counts are written to anonymous_activity. No id, name, text or timestamp finer than a
day survives; a day with one conversation on one channel at one location is still only a count of one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, distinct, func, select

from chatpad.extensions import db
from chatpad.models import ACTIVITY_COUNTERS, AnonymousActivity, Conversation, Message

SENT = ("sent", "delivered", "read")


def utc_day(column):
    """The UTC calendar day of a timestamp column, in SQL (PostgreSQL keeps zones; SQLite stores naive UTC)."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


@dataclass
class ActivityCounts:
    """Counters for one (channel, location, day) group."""

    channel: str
    location_id: uuid.UUID | None
    day: date
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIVITY_COUNTERS, 0))


def count_activity(conversation_ids: Sequence[uuid.UUID]) -> list[ActivityCounts]:
    """What these conversations add up to, per organization-independent (channel, location, day) group."""
    if not conversation_ids:
        return []
    groups: dict[tuple, ActivityCounts] = {}

    def group(channel, location_id, day_text) -> ActivityCounts:
        key = (channel, location_id, day_text)
        if key not in groups:
            groups[key] = ActivityCounts(channel, location_id, date.fromisoformat(day_text))
        return groups[key]

    day = utc_day(Message.created_at).label("day")
    sent = Message.status.in_(SENT)
    rows = db.session.execute(
        select(
            Conversation.channel,
            Conversation.location_id,
            day,
            func.count(distinct(Message.conversation_id)),
            func.count(),
            func.sum(case((Message.direction == "inbound", 1), else_=0)),
            func.sum(case((Message.direction == "outbound", 1), else_=0)),
            func.sum(case((and_(Message.sender_type == "ai", sent), 1), else_=0)),
            func.sum(case((and_(Message.sender_type == "human", sent), 1), else_=0)),
            func.sum(case((Message.status == "failed", 1), else_=0)),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.conversation_id.in_(conversation_ids))
        .group_by(Conversation.channel, Conversation.location_id, day)
    ).all()
    for channel, location_id, day_text, convs, messages, inbound, outbound, ai, human, failed in rows:
        counts = group(channel, location_id, day_text).counts
        counts.update(
            conversations=convs,
            messages=messages,
            inbound=inbound or 0,
            outbound=outbound or 0,
            ai_replies=ai or 0,
            human_replies=human or 0,
            failed=failed or 0,
        )
    started = utc_day(Conversation.created_at).label("day")
    for channel, location_id, day_text, new in db.session.execute(
        select(Conversation.channel, Conversation.location_id, started, func.count())
        .where(Conversation.id.in_(conversation_ids))
        .group_by(Conversation.channel, Conversation.location_id, started)
    ).all():
        group(channel, location_id, day_text).counts["new_conversations"] += new
    return list(groups.values())


def record_activity(organization_id: int, conversation_ids: Sequence[uuid.UUID], reason: str) -> int:
    """Count these conversations into anonymous_activity before they are deleted (same transaction). Returns the
    number of messages counted."""
    total = 0
    for item in count_activity(conversation_ids):
        db.session.add(
            AnonymousActivity(
                organization_id=organization_id,
                channel=item.channel,
                location_id=item.location_id,
                day=item.day,
                reason=reason,
                **item.counts,
            )
        )
        total += item.counts["messages"]
    return total


def anonymous_activity(
    organization_id: int, start: date, end: date, by: Iterable[str] = ("channel",)
) -> dict[tuple, dict[str, int]]:
    """Summed counters of erased and expired conversations for days start..end (both included), grouped by any of
    channel, location_id, day: {(channel,): {"messages": 12, …}}. For analytics to add to what is still stored."""
    keys = [getattr(AnonymousActivity, name) for name in by]
    rows = db.session.execute(
        select(*keys, *[func.sum(getattr(AnonymousActivity, c)) for c in ACTIVITY_COUNTERS])
        .where(
            AnonymousActivity.organization_id == organization_id,
            AnonymousActivity.day >= start,
            AnonymousActivity.day <= end,
        )
        .group_by(*keys)
    ).all()
    result: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ACTIVITY_COUNTERS, 0))
    width = len(keys)
    for row in rows:
        result[tuple(row[:width])] = {c: int(v or 0) for c, v in zip(ACTIVITY_COUNTERS, row[width:], strict=True)}
    return dict(result)
