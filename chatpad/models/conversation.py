"""Contacts, conversations and messages: what the unified inbox shows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatpad.extensions import db

from .account import SocialAccount
from .agent import Agent, Location
from .base import JSONType, UTCDateTime, bigint_pk, created_at_column, updated_at_column, utcnow, uuid_pk
from .org import Organization

CONVERSATION_STATUSES = ("open", "waiting", "resolved")  # waiting = waiting on a human
DIRECTIONS = ("inbound", "outbound")
SENDER_TYPES = ("contact", "ai", "human", "system")
# received: inbound stored. pending → sending → sent → delivered → read, or failed (error says why): outbound
# delivery. skipped: an AI reply never sent (error says why, e.g. the messaging window closed). internal: never
# meant to leave (system events in the thread, internal notes).
MESSAGE_STATUSES = ("received", "pending", "sending", "sent", "delivered", "read", "failed", "skipped", "internal")


class Contact(db.Model):
    """A customer, across every channel they use (identities say where)."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_org_email", "organization_id", "email"),
        Index("ix_contacts_org_phone", "organization_id", "phone"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    # Merged by hand into another contact (chatpad.contacts): kept, hidden, so the merge can be split again.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    merged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    identities: Mapped[list[ContactIdentity]] = relationship(
        back_populates="contact", foreign_keys="ContactIdentity.contact_id"
    )

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @classmethod
    def location_clause(cls, location_ids):
        """A contact belongs to the locations it has (or, merged into another, had) conversations at."""
        from sqlalchemy import exists, or_

        return exists().where(
            or_(Conversation.contact_id == cls.id, Conversation.original_contact_id == cls.id),
            Conversation.location_id.in_(list(location_ids)),
        )

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.phone or "Unknown customer"

    def __str__(self) -> str:
        return self.display_name


class ContactIdentity(db.Model):
    """One id a contact has on one account: a page-scoped PSID, an IGSID, an email address, a widget visitor."""

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("social_account_id", "external_id", name="uq_contact_identities_account_ext"),)

    id: Mapped[int] = bigint_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    social_account_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("social_accounts.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # The contact this identity was created under, so a manual merge can be split again.
    original_contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    profile: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = created_at_column()
    # The customer told this account to stop messaging them (SMS STOP, or the provider's 21610): nothing is sent to
    # this identity until they opt back in (START). The reason is what the inbox shows and a refused reply says.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opt_out_reason: Mapped[str | None] = mapped_column(String(400))

    contact: Mapped[Contact] = relationship(back_populates="identities", foreign_keys=[contact_id])
    social_account: Mapped[SocialAccount | None] = relationship()


class Conversation(db.Model):
    """A thread with one contact on one account."""

    __tablename__ = "conversations"
    __table_args__ = (
        # The inbox's first page and its keyset pagination: newest first within an organization.
        Index("ix_conversations_inbox", "organization_id", "last_message_at", "id"),
        Index("ix_conversations_account_thread", "social_account_id", "thread_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("locations.id", ondelete="SET NULL"), index=True
    )
    social_account_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("social_accounts.id", ondelete="SET NULL")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    human_takeover: Mapped[bool] = mapped_column(Boolean, default=False)
    taken_over_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    taken_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Hand back to the AI automatically at this time (None: stay with the human).
    takeover_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The platform's thread: the PSID/IGSID for Meta, the root Message-ID for email, the visitor id for the widget.
    thread_key: Mapped[str | None] = mapped_column(String(400))
    subject: Mapped[str | None] = mapped_column(String(400))
    # The messaging window opens at the customer's last message.
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_preview: Mapped[str | None] = mapped_column(String(200))
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    # The contact this conversation belonged to before a manual merge moved it (chatpad.contacts.split_contact).
    original_contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The booking flow's step in this conversation (chatpad/ai/booking_flow.py): the slots offered, the one picked,
    # the details given. In the database so any worker (and a retried job) continues the same flow.
    booking_state: Mapped[dict | None] = mapped_column(JSONType)

    organization: Mapped[Organization] = relationship()
    agent: Mapped[Agent] = relationship()
    contact: Mapped[Contact] = relationship()
    social_account: Mapped[SocialAccount | None] = relationship()
    location: Mapped[Location | None] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.created_at", cascade="all, delete-orphan"
    )

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @classmethod
    def location_clause(cls, location_ids):
        """A conversation belongs to its account's location; one of no location ("General") to nobody limited."""
        return cls.location_id.in_(list(location_ids))


class Message(db.Model):
    """The seed's UnifiedMessage, stored: every channel produces and consumes this shape."""

    __tablename__ = "messages"
    __table_args__ = (
        # A platform message id is stored once per account: the idempotency key of the inbound path.
        UniqueConstraint("channel_account_id", "external_id", name="uq_messages_account_external"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
    )

    id: Mapped[int] = bigint_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    channel_account_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("social_accounts.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(8))
    sender_type: Mapped[str] = mapped_column(String(8))
    content: Mapped[str] = mapped_column(Text, default="")
    # The language the customer wrote in (ISO 639-1, detected by the AI when it answers; chatpad/ai/language.py), or
    # the one the AI answered in; None when not detected.
    language: Mapped[str | None] = mapped_column(String(8))
    # [{"type": "image", "url": …, "name": …}] — links only for Meta media (their policy), files for email.
    media: Mapped[list] = mapped_column(JSONType, default=list)
    # {"thread_id", "sender_id", "sender_name", …channel extras (quick_reply, reply_to, story, edits)}
    meta: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)
    external_id: Mapped[str | None] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    # For outbound messages: one reply per trigger, however often the job runs.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="message", cascade="all, delete-orphan")

    def to_unified(self):
        """This row as the channel layer's UnifiedMessage."""
        from chatpad.messages import UnifiedMessage

        return UnifiedMessage.from_model(self)


class Attachment(db.Model):
    """A file that came with a message (email attachments, inline images), stored under ATTACHMENT_DIR."""

    __tablename__ = "attachments"

    id: Mapped[int] = bigint_pk()
    message_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    storage_key: Mapped[str] = mapped_column(String(400))
    content_id: Mapped[str | None] = mapped_column(String(300))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()

    message: Mapped[Message] = relationship(back_populates="attachments")


class Rating(db.Model):
    """A customer's rating of a conversation (thumbs, or 1–5 with a comment)."""

    __tablename__ = "ratings"

    id: Mapped[int] = bigint_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    scale: Mapped[str] = mapped_column(String(8), default="five")  # thumbs | five
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class MessageTemplate(db.Model):
    """A message template approved on the platform (WhatsApp: synced from the WhatsApp Business Account), which a
    person picks and fills in the reply box when the customer service window is closed."""

    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("channel", "platform_account_id", "name", "language", name="uq_message_templates_name"),
        Index("ix_message_templates_org", "organization_id", "channel"),
    )

    id: Mapped[int] = bigint_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    platform_account_id: Mapped[str] = mapped_column(String(64))  # the WABA id
    external_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    components: Mapped[list] = mapped_column(JSONType, default=list)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id


def latest_customer_message(conversation_id: uuid.UUID, what=None):
    """SELECT `what` (default: the Message) of the customer's latest message in a conversation, the one a reply
    would answer: inbound, from the contact (not a system note), not deleted. The pipeline and the AI's booking
    flow both ask it."""
    from sqlalchemy import select

    return (
        select(Message if what is None else what)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == "inbound",
            Message.sender_type == "contact",
            Message.deleted_at.is_(None),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
