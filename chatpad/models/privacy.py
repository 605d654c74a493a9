"""What privacy requests leave behind: anonymous counts for analytics, and the record of deletion requests."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from chatpad.crypto import EncryptedText
from chatpad.extensions import db

from .base import JSONType, UTCDateTime, bigint_pk, created_at_column

DELETION_REQUEST_STATUSES = ("received", "completed", "failed")

# The counters kept per organization, channel, location and day when conversations are erased or expire.
ACTIVITY_COUNTERS = (
    "conversations",  # conversations with at least one message that day
    "new_conversations",  # conversations started that day
    "messages",
    "inbound",
    "outbound",
    "ai_replies",  # AI replies that went out (sent, delivered or read)
    "human_replies",  # replies by people that went out
    "failed",  # outbound messages that failed
)


class AnonymousActivity(db.Model):
    """Counts of erased or expired conversations, per organization, channel, location and day: nothing about who.

    Written when a customer is erased or retention deletes old conversations, so analytics over a period keeps its
    totals after the rows themselves are gone (chatpad.privacy.stats reads them). Several rows may exist for one
    key (one per deletion run); readers sum them.
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
