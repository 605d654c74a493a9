"""Tour booking: the calendars a location connects, its tour type, and the tours booked (docs/booking.md)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatpad.crypto import EncryptedText
from chatpad.extensions import db

from .agent import Agent, Location, agent_ids_of
from .base import JSONType, UTCDateTime, created_at_column, updated_at_column, uuid_pk

CALENDAR_PROVIDERS = ("google", "microsoft", "caldav")
CALENDAR_PROVIDER_LABELS = {"google": "Google Calendar", "microsoft": "Microsoft 365", "caldav": "CalDAV"}
# holding: the slot is ours while the calendar is re-checked and the event created; confirmed: in the calendar;
# failed: the calendar refused or was down (the slot is free again); cancelled; no_show: marked by staff afterwards.
BOOKING_STATUSES = ("holding", "confirmed", "cancelled", "failed", "no_show")
ACTIVE_BOOKING_STATUSES = ("holding", "confirmed")
_ACTIVE_SQL = "status IN ('holding', 'confirmed')"


class Calendar(db.Model):
    """One staff calendar a location books tours into: Google, Microsoft 365 or any CalDAV server.

    The secret columns are encrypted (OAuth tokens; a CalDAV password in access_token). remote_id is the provider's
    name for the calendar: Google's calendar id, the Microsoft mailbox, the CalDAV collection URL."""

    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("location_id", "provider", "remote_id", name="uq_calendars_location_remote"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    account: Mapped[str] = mapped_column(String(320))  # the signed-in address or CalDAV user name
    remote_id: Mapped[str] = mapped_column(String(1000))
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # connected | needs_reauth | error | disconnected: the health dot on the Integrations tab.
    status: Mapped[str] = mapped_column(String(16), default="connected")
    last_error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Round robin: the least recently booked of the free calendars gets the next tour.
    last_booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meta: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    agent: Mapped[Agent] = relationship()
    location: Mapped[Location] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.agent_id.in_(agent_ids_of(org_id))

    @classmethod
    def location_clause(cls, location_ids):
        return cls.location_id.in_(list(location_ids))

    @property
    def provider_label(self) -> str:
        return CALENDAR_PROVIDER_LABELS.get(self.provider, self.provider)

    @property
    def usable(self) -> bool:
        return self.is_active and self.status in ("connected", "error")

    def mark_needs_reauth(self, reason: str) -> None:
        self.status = "needs_reauth"
        self.last_error = reason

    def mark_healthy(self) -> None:
        self.status = "connected"
        self.last_error = None

    def __repr__(self) -> str:  # never the tokens
        return f"<Calendar {self.provider}:{self.account} {self.name!r}>"

    def __str__(self) -> str:
        return self.name


class TourType(db.Model):
    """How a location's tours are booked, in the location's time zone."""

    __tablename__ = "tour_types"

    location_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(String(200), default="Community tour")
    duration_minutes: Mapped[int] = mapped_column(Integer, default=30)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=30)
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=15)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=120)
    horizon_days: Mapped[int] = mapped_column(Integer, default=14)
    max_per_day: Mapped[int] = mapped_column(Integer, default=8)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    location: Mapped[Location] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.location_id.in_(
            db.select(Location.id).where(Location.agent_id.in_(agent_ids_of(org_id))).scalar_subquery()
        )

    @classmethod
    def location_clause(cls, location_ids):
        return cls.location_id.in_(list(location_ids))


class Booking(db.Model):
    """A tour: in our database first (the unique key below holds the slot), then in the staff calendar."""

    __tablename__ = "bookings"
    __table_args__ = (
        # No double booking: one active tour per calendar and start time (Cal.com's idempotency key, enforced by
        # the database; the re-check of free/busy at booking time is the other half).
        Index(
            "uq_bookings_active_slot",
            "calendar_id",
            "start_at",
            unique=True,
            postgresql_where=text(_ACTIVE_SQL),
            sqlite_where=text(_ACTIVE_SQL),
        ),
        Index("ix_bookings_location_start", "location_id", "start_at"),
        Index("ix_bookings_reminders", "status", "start_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"))
    location_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("locations.id", ondelete="CASCADE"))
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("calendars.id", ondelete="SET NULL"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    # Erasing a customer erases their tours (they hold the name, email and phone they gave).
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="holding")
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(254))
    customer_phone: Mapped[str | None] = mapped_column(String(40))
    # The iCalendar UID: the same through reschedules and the cancel, so calendar apps update one event.
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    event_id: Mapped[str | None] = mapped_column(String(1024))  # the provider's id for the event
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(8), default="ai")  # ai | staff
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    reminded_24h_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_1h_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {"status": "sent"|"queued"|"not_sent"|"failed", "to", "method", "reason", "at"}: the last .ics email.
    invitation: Mapped[dict] = mapped_column(JSONType, default=dict)
    history: Mapped[list] = mapped_column(JSONType, default=list)  # [{"at", "what", "by", …}] reschedules etc.
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    location: Mapped[Location] = relationship()
    calendar: Mapped[Calendar | None] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @classmethod
    def location_clause(cls, location_ids):
        return cls.location_id.in_(list(location_ids))

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_BOOKING_STATUSES

    def note(self, what: str, **detail) -> None:
        """Add a line to the booking's history (shown on the Bookings page)."""
        from .base import utcnow

        self.history = [*(self.history or []), {"at": utcnow().isoformat(), "what": what, **detail}]

    def __repr__(self) -> str:
        return f"<Booking {self.id} {self.status} {self.start_at:%Y-%m-%d %H:%M}Z>"
