"""What the unified inbox adds to conversations: internal notes, and the indexes its filters and pages use.

PostgreSQL-only search indexes (full-text over messages.content, trigram over contact names and addresses) live in
the migration (migrations/versions/0002_inbox.py) because SQLite has neither; chatpad.inbox.queries falls back to
LIKE there.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatpad.extensions import db

from .agent import Location
from .base import bigint_pk, created_at_column, updated_at_column
from .conversation import Conversation, Message
from .org import User


class ConversationNote(db.Model):
    """A note the team leaves on a conversation. Never sent to the customer, never seen by the AI's channels."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("conversations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()

    user: Mapped[User | None] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @classmethod
    def location_clause(cls, location_ids):
        return cls.conversation_id.in_(select(Conversation.id).where(Conversation.location_id.in_(list(location_ids))))


# Keyset pagination with a filter: each filter the inbox offers gets (organization, filter column, last_message_at,
# id), so "facebook, newest first" or "waiting, newest first" is an index range read backwards, never a sort.
_conversations = Conversation.__table__
INBOX_FILTER_INDEXES = [
    Index(
        f"ix_conversations_inbox_{name}",
        _conversations.c.organization_id,
        _conversations.c[column],
        _conversations.c.last_message_at,
        _conversations.c.id,
    )
    for name, column in (
        ("channel", "channel"),
        ("status", "status"),
        ("location", "location_id"),
        ("account", "social_account_id"),
        ("assigned", "assigned_user_id"),
    )
]

# Failed sends are few: analytics finds a period's failures through this small partial index, not by reading every
# message of the period.
FAILED_MESSAGES_INDEX = Index(
    "ix_messages_failed_created",
    Message.__table__.c.created_at,
    postgresql_where=Message.__table__.c.status == "failed",
    sqlite_where=Message.__table__.c.status == "failed",
)


class CannedReply(db.Model):
    """A reply the team keeps ready, for the whole organization (location None) or one location. Its body may hold
    {first_name}, {location}, {hours_today} and {booking_link}, filled from the conversation when it is inserted
    (chatpad.inbox.canned)."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_org_location", "organization_id", "location_id"),)

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    location_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("locations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    location: Mapped[Location | None] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @classmethod
    def location_clause(cls, location_ids):
        # An on-site manager uses the organization's replies and their own locations' ones.
        return cls.location_id.is_(None) | cls.location_id.in_(list(location_ids))

    def __str__(self) -> str:
        return self.title


class ConversationLabel(db.Model):
    """A label the team puts on a conversation ("billing", "move-in"); the inbox filters by it."""

    __tablename__ = "conversation_labels"
    __table_args__ = (Index("ix_conversation_labels_org_name", "organization_id", "name", "conversation_id"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @classmethod
    def location_clause(cls, location_ids):
        return cls.conversation_id.in_(select(Conversation.id).where(Conversation.location_id.in_(list(location_ids))))
