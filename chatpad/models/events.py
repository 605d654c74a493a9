"""Webhook events (the durable inbound log), the audit log and in-app notifications."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatpad.extensions import db

from .base import JSONType, UTCDateTime, bigint_pk, created_at_column, utcnow

EVENT_STATUSES = ("pending", "processed", "ignored", "failed")


class WebhookEvent(db.Model):
    """A platform delivery exactly as received: stored before the 200, processed after, replayable."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_status_received", "status", "received_at"),)

    id: Mapped[int] = bigint_pk()
    channel: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(db.Model):
    """Who did what: sign-ins, connections, takeovers, exports, deletions, token changes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_created", "organization_id", "created_at"),)

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()

    user: Mapped["User | None"] = relationship("User")  # noqa: F821, UP037

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id


class Notification(db.Model):
    """An in-app notice for one person: a handoff, a message in a taken-over conversation, an account to reconnect,
    a conversation assigned to them. Each person of a team has their own (chatpad.notify), and so their own read
    state."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_org_created", "organization_id", "created_at"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("conversations.id", ondelete="CASCADE"))
    social_account_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("social_accounts.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = created_at_column()
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @classmethod
    def location_clause(cls, location_ids):
        """About a conversation or an account of these locations (a notice about neither is the whole team's)."""
        from sqlalchemy import and_, or_, select

        from .account import SocialAccount
        from .conversation import Conversation

        ids = list(location_ids)
        return or_(
            cls.conversation_id.in_(select(Conversation.id).where(Conversation.location_id.in_(ids))),
            and_(
                cls.conversation_id.is_(None),
                cls.social_account_id.in_(select(SocialAccount.id).where(SocialAccount.location_id.in_(ids))),
            ),
            and_(cls.conversation_id.is_(None), cls.social_account_id.is_(None)),
        )
