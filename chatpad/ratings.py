"""Conversation ratings: what a conversation's rating is, and how ratings add up by channel and location.

A rating is thumbs (score 1 = up, 0 = down) or five (1–5), with an optional comment; a conversation has at most one
(rating again replaces it). "Positive" means thumbs up or 4–5 stars, so both scales add up to one satisfaction rate.
Every query here is scoped to one organization through the conversation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select

from chatpad.extensions import db
from chatpad.models import Conversation, Location, Rating

POSITIVE = or_(and_(Rating.scale == "thumbs", Rating.score >= 1), and_(Rating.scale == "five", Rating.score >= 4))


def conversation_ratings(organization_id: int, conversation_id: uuid.UUID) -> list[Rating]:
    """The ratings of one conversation of this organization, newest first (empty for another organization's)."""
    return list(
        db.session.scalars(
            select(Rating)
            .join(Conversation, Rating.conversation_id == Conversation.id)
            .where(Conversation.id == conversation_id, Conversation.tenant_clause(organization_id))
            .order_by(Rating.created_at.desc(), Rating.id.desc())
        )
    )


@dataclass
class RatingSummary:
    """Ratings of one (channel, location) group."""

    channel: str
    location_id: uuid.UUID | None
    location_name: str  # "General" for accounts without a location
    count: int
    positive: int
    thumbs_up: int
    thumbs_down: int
    five_count: int
    five_average: float | None  # mean of the 1–5 ratings, None when there are none

    @property
    def satisfaction(self) -> float | None:
        """The share of positive ratings, 0–1."""
        return self.positive / self.count if self.count else None


def rating_summary(
    organization_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    location_id: uuid.UUID | None = None,
) -> list[RatingSummary]:
    """Ratings by channel and location for analytics, optionally within [since, until) and for one channel or
    location. Ordered by channel, then location name."""
    five = Rating.scale == "five"
    query = (
        select(
            Conversation.channel,
            Conversation.location_id,
            Location.name,
            func.count(Rating.id),
            func.sum(case((POSITIVE, 1), else_=0)),
            func.sum(case((and_(Rating.scale == "thumbs", Rating.score >= 1), 1), else_=0)),
            func.sum(case((and_(Rating.scale == "thumbs", Rating.score < 1), 1), else_=0)),
            func.sum(case((five, 1), else_=0)),
            func.avg(case((five, Rating.score), else_=None)),
        )
        .select_from(Rating)
        .join(Conversation, Rating.conversation_id == Conversation.id)
        .outerjoin(Location, Conversation.location_id == Location.id)
        .where(Conversation.tenant_clause(organization_id))
        .group_by(Conversation.channel, Conversation.location_id, Location.name)
    )
    if since is not None:
        query = query.where(Rating.created_at >= since)
    if until is not None:
        query = query.where(Rating.created_at < until)
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    if location_id is not None:
        query = query.where(Conversation.location_id == location_id)
    rows = [
        RatingSummary(
            channel=row[0],
            location_id=row[1],
            location_name=row[2] or "General",
            count=int(row[3] or 0),
            positive=int(row[4] or 0),
            thumbs_up=int(row[5] or 0),
            thumbs_down=int(row[6] or 0),
            five_count=int(row[7] or 0),
            five_average=round(float(row[8]), 2) if row[8] is not None else None,
        )
        for row in db.session.execute(query)
    ]
    return sorted(rows, key=lambda r: (r.channel, r.location_name))


def ratings_by_account(organization_id: int, channel: str | None = None) -> dict[uuid.UUID, RatingSummary]:
    """Ratings per social account (one widget, one Page…), keyed by the account's id."""
    query = (
        select(
            Conversation.social_account_id,
            Conversation.channel,
            func.count(Rating.id),
            func.sum(case((POSITIVE, 1), else_=0)),
        )
        .select_from(Rating)
        .join(Conversation, Rating.conversation_id == Conversation.id)
        .where(Conversation.tenant_clause(organization_id), Conversation.social_account_id.is_not(None))
        .group_by(Conversation.social_account_id, Conversation.channel)
    )
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    out = {}
    for account_id, chan, total, positive in db.session.execute(query):
        out[account_id] = RatingSummary(chan, None, "", int(total), int(positive or 0), 0, 0, 0, None)
    return out
