"""What privacy requests leave behind: anonymous counts for analytics, and the record of deletion requests."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from chatpad.crypto import EncryptedText
from chatpad.extensions import db

from .base import JSONType, UTCDateTime, bigint_pk, created_at_column

DELETION_REQUEST_STATUSES = ("received", "completed", "failed")

# What analytics counts, and so what anonymous counts keep (chatpad.inbox.analytics, chatpad.privacy.stats).
# A reply the customer got; by whom: the AI, or an automatic reply of the channel (a "system" outbound message that
# went out, such as Instagram's story-mention thank-you; the internal "taken over" lines have status internal).
ANSWERED = ("sent", "delivered", "read")
AUTOMATIC = ("ai", "system")
REPLIERS = ("ai", "system", "human")

# The counters kept per organization, channel, location and day when conversations are erased or expire.
ACTIVITY_COUNTERS = (
    "conversations",  # conversations with at least one message that day
    "new_conversations",  # conversations started that day
    "messages",  # the internal system lines ("taken over") are not traffic and not counted
    "inbound",
    "outbound",
    "ai_replies",  # AI replies that went out (sent, delivered or read)
    "human_replies",  # replies by people that went out
    "failed",  # outbound messages that failed
    "automatic_replies",  # replies by the AI or the channel's automatic ones that went out
    "taken_over",  # conversations a person took over that day
)


class AnonymousActivity(db.Model):
    """Counts of erased or expired conversations, per organization, channel, location and day: nothing about who.

    Written when a customer is erased or retention deletes old conversations, so analytics over a period keeps its
    totals after the rows themselves are gone (chatpad.inbox.analytics adds them in). One row per conversation and
    day it was active, tied together by conversation_key: a random key made up at deletion and stored nowhere else,
    so a period counts a conversation that spans several days once, and says who answered it, as it did before.
    Rows written before the key existed (conversation_key NULL) are per-day totals; readers sum them.
    """

    __tablename__ = "anonymous_activity"
    __table_args__ = (Index("ix_anonymous_activity_org_day", "organization_id", "day"),)

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("locations.id", ondelete="SET NULL"))
    conversations: Mapped[int] = mapped_column(Integer, default=0)
    new_conversations: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    inbound: Mapped[int] = mapped_column(Integer, default=0)
    outbound: Mapped[int] = mapped_column(Integer, default=0)
    ai_replies: Mapped[int] = mapped_column(Integer, default=0)
    human_replies: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    automatic_replies: Mapped[int] = mapped_column(Integer, default=0)
    taken_over: Mapped[int] = mapped_column(Integer, default=0)
    conversation_key: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # From the customer's first message that day to the first reply after it (that day or later), and that reply's
    # day: analytics counts the response when the reply falls in its period, as it does for stored conversations.
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    first_response_day: Mapped[date | None] = mapped_column(Date)
    # erasure | retention: why the rows behind these counts are gone
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at_column()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id


class DataDeletionRequest(db.Model):
    """A deletion request that came from outside (Meta's data deletion callback), with its public status.

    The confirmation code is the only way to the status page (it is random and unguessable). The person's platform
    id is kept, encrypted, only until the request is carried out, then cleared: what remains says that a request
    was received and what was deleted, not whose.
    """

    __tablename__ = "data_deletion_requests"

    id: Mapped[int] = bigint_pk()
    source: Mapped[str] = mapped_column(String(16))  # meta
    confirmation_code: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="received")
    platform_user_id: Mapped[str | None] = mapped_column(EncryptedText)
    # What was deleted: counts only ({"contacts": 1, "messages": 12, "accounts": 0, …}).
    result: Mapped[dict] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
