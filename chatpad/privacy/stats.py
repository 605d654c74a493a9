"""Anonymous counts: what analytics keeps of conversations that were erased or expired.

Before conversations are deleted, each is counted per UTC day it was active, with the definitions the analytics page
uses (chatpad.inbox.analytics): messages (not the internal "taken over" lines), replies that went out and by whom,
failed sends, the day it started and the day a person took it over, and each day's first response (from the
customer's first message that day to the first reply after it). The rows go to anonymous_activity, tied together by
a random key made up here and stored nowhere else, so analytics counts a conversation once per period and says who
answered it, as it did before the deletion. No id, name, text or timestamp finer than a day survives.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from chatpad.extensions import db
from chatpad.models import (
    ACTIVITY_COUNTERS,
    ANSWERED,
    AUTOMATIC,
    REPLIERS,
    AnonymousActivity,
    Conversation,
    Message,
)


@dataclass
class ActivityCounts:
    """One conversation's counters for one day."""

    conversation_key: uuid.UUID
    channel: str
    location_id: uuid.UUID | None
    day: date
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIVITY_COUNTERS, 0))
    first_response_seconds: float | None = None
    first_response_day: date | None = None


def _day(at: datetime) -> date:
    return (at if at.tzinfo is None else at.astimezone(UTC)).date()


def count_activity(conversation_ids: Sequence[uuid.UUID]) -> list[ActivityCounts]:
    """What these conversations add up to: one entry per conversation and UTC day it was active (or started, or
    was taken over)."""
    if not conversation_ids:
        return []
    conversations = db.session.execute(
        select(Conversation.id, Conversation.channel, Conversation.location_id, Conversation.created_at,
               Conversation.taken_over_at).where(Conversation.id.in_(conversation_ids))
    ).all()  # fmt: skip
    messages: dict[uuid.UUID, list] = defaultdict(list)
    for row in db.session.execute(
        select(Message.conversation_id, Message.created_at, Message.direction, Message.sender_type, Message.status)
        .where(Message.conversation_id.in_(conversation_ids), Message.status != "internal")
        .order_by(Message.conversation_id, Message.created_at, Message.id)
    ):
        messages[row.conversation_id].append(row)
    out: list[ActivityCounts] = []
    for cid, channel, location_id, created_at, taken_over_at in conversations:
        key = uuid.uuid4()
        days: dict[date, ActivityCounts] = {}

        def on(day: date, key=key, channel=channel, location_id=location_id, days=days) -> ActivityCounts:
            if day not in days:
                days[day] = ActivityCounts(key, channel, location_id, day)
            return days[day]

        replies = []
        first_in: dict[date, datetime] = {}
        for m in messages[cid]:
            day = _day(m.created_at)
            counts = on(day).counts
            counts["conversations"] = 1
            counts["messages"] += 1
            if m.direction == "inbound":
                counts["inbound"] += 1
                first_in.setdefault(day, m.created_at)
                continue
            counts["outbound"] += 1
            went_out = m.status in ANSWERED
            if m.status == "failed":
                counts["failed"] += 1
            if went_out and m.sender_type == "ai":
                counts["ai_replies"] += 1
            if went_out and m.sender_type == "human":
                counts["human_replies"] += 1
            if went_out and m.sender_type in AUTOMATIC:
                counts["automatic_replies"] += 1
            if went_out and m.sender_type in REPLIERS:
                replies.append(m.created_at)
        if created_at is not None:
            on(_day(created_at)).counts["new_conversations"] = 1
        if taken_over_at is not None:
            on(_day(taken_over_at)).counts["taken_over"] = 1
        for day, asked in first_in.items():
            index = bisect.bisect_left(replies, asked)
            if index < len(replies):
                days[day].first_response_seconds = (replies[index] - asked).total_seconds()
                days[day].first_response_day = _day(replies[index])
        out.extend(days.values())
    return out


def record_activity(organization_id: int, conversation_ids: Sequence[uuid.UUID], reason: str) -> int:
    """Count these conversations into anonymous_activity before they are deleted (same transaction). Returns the
    number of messages counted."""
    total = 0
    for item in count_activity(conversation_ids):
        db.session.add(
            AnonymousActivity(
                organization_id=organization_id,
                conversation_key=item.conversation_key,
                channel=item.channel,
                location_id=item.location_id,
                day=item.day,
                reason=reason,
                first_response_seconds=item.first_response_seconds,
                first_response_day=item.first_response_day,
                **item.counts,
            )
        )
        total += item.counts["messages"]
    return total


def anonymous_activity(
    organization_id: int, start: date, end: date, by: Iterable[str] = ("channel",)
) -> dict[tuple, dict[str, int]]:
    """Summed counters of erased and expired conversations for days start..end (both included), grouped by any of
    channel, location_id, day: {(channel,): {"messages": 12, …}} (a conversation counts once per day it was active;
    the analytics page counts it once per period)."""
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
