"""Social accounts: Facebook Pages, Instagram accounts, email inboxes, widget sites, SMS and WhatsApp numbers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatpad.crypto import EncryptedText
from chatpad.extensions import db

from .agent import Agent, Location, agent_ids_of
from .base import JSONType, UTCDateTime, created_at_column, updated_at_column, uuid_pk

CHANNELS = ("widget", "facebook", "instagram", "email", "sms", "whatsapp")
# How each channel is named on screens (|channel_label in templates): "SMS" and "WhatsApp", not "Sms", "Whatsapp".
CHANNEL_LABELS = {
    "widget": "Widget",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "email": "Email",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
}


def channel_label(key: str | None) -> str:
    """A channel key as the admin reads it ("whatsapp" → "WhatsApp")."""
    return CHANNEL_LABELS.get(key or "", (key or "").title())


# Health of an account, shown as a dot on the Integrations tab.
ACCOUNT_STATUSES = ("connected", "needs_reauth", "error", "disconnected")


class SocialAccount(db.Model):
    """The seed's social_accounts table, plus unique (channel, account_id) and health columns."""

    __tablename__ = "social_accounts"
    __table_args__ = (
        Index("idx_social_accounts_channel", "agent_id", "channel"),
        Index("idx_social_accounts_location", "location_id"),
        UniqueConstraint("channel", "account_id", name="uq_social_accounts_channel_account"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"))
    location_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("locations.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    account_name: Mapped[str] = mapped_column(Text, nullable=False)
    # Platform-specific id: Page id, Instagram account id, email address, widget key.
    account_id: Mapped[str] = mapped_column(Text, nullable=False)
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # "metadata" is reserved on declarative classes, so the attribute is meta.
    meta: Mapped[dict | None] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    status: Mapped[str] = mapped_column(String(16), default="connected")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agent: Mapped[Agent | None] = relationship()
    location: Mapped[Location | None] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.agent_id.in_(agent_ids_of(org_id))

    @classmethod
    def location_clause(cls, location_ids):
        return cls.location_id.in_(list(location_ids))

    @property
    def organization_id(self) -> int | None:
        return self.agent.organization_id if self.agent else None

    @property
    def location_label(self) -> str:
        return self.location.name if self.location else "General"

    def mark_needs_reauth(self, reason: str) -> None:
        """Flag the account for reconnection; the caller alerts the admins."""
        self.status = "needs_reauth"
        self.last_error = reason

    def mark_healthy(self) -> None:
        self.status = "connected"
        self.last_error = None

    def __repr__(self) -> str:  # never the tokens
        return f"<SocialAccount {self.channel}:{self.account_id} {self.account_name!r}>"

    def __str__(self) -> str:
        return self.account_name
