"""Organizations (the customer businesses) and their users."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid, event
from sqlalchemy import false as sa_false
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE
from werkzeug.security import check_password_hash, generate_password_hash

from chatpad.extensions import db

from .base import JSONType, UTCDateTime, created_at_column, utcnow

ROLES = ("owner", "admin", "agent")


class Organization(db.Model):
    """A customer business: everything it owns carries its id."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Conversations older than this many days are deleted by the scheduler; None keeps them.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()

    users: Mapped[list[User]] = relationship(back_populates="organization")
    agents: Mapped[list["Agent"]] = relationship(back_populates="organization")  # noqa: F821, UP037

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.id == org_id

    def __str__(self) -> str:
        return self.name


class User(UserMixin, db.Model):
    """A person who signs in to the admin and the inbox."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Email me about handoffs, assignments and reconnections (my notifications).
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Limited to some locations (an on-site manager): sees only their conversations, contacts, notifications and
    # analytics (chatpad.models.scope). The flag, not the rows, says so: a limited user whose last location is
    # deleted sees nothing, never everything.
    limited_to_locations: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # When the person last used the inbox (to the minute): "online" for automatic assignment (chatpad.team).
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session and remember-me cookie (get_id): a new one, drawn on sign-out, a password or role change
    # and deactivation (chatpad.users.end_sessions), makes every cookie issued before it stop loading (issue 16
    # item 4). Never shown, never logged.
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: new_session_token())

    organization: Mapped[Organization] = relationship(back_populates="users")
    memberships: Mapped[list[LocationMember]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users.
        return bool(self.active)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and signs into the remember-me cookie: the id and the current
        session token, so a rotated token ends every session and remember-me cookie issued before it."""
        if not self.session_token:
            self.session_token = new_session_token()
        return f"{self.id}:{self.session_token}"

    @property
    def location_ids(self) -> frozenset[uuid.UUID] | None:
        """The locations this person is limited to, or None for every location of the organization."""
        if not self.limited_to_locations:
            return None
        return frozenset(m.location_id for m in self.memberships)

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __str__(self) -> str:
        return self.name or self.email


def _end_sessions_on_change(target: User, value, oldvalue, initiator) -> None:
    """A persisted user's password, role or active flag changing ends their sessions (a new session token), wherever
    the change is made: the admin's Users form, the CLI, a future password reset."""
    if oldvalue is NO_VALUE or oldvalue is NEVER_SET or value == oldvalue:
        return
    if sa_inspect(target).persistent:
        target.session_token = new_session_token()


for _attribute in (User.password_hash, User.role, User.active):
    event.listen(_attribute, "set", _end_sessions_on_change, active_history=True)


def new_session_token() -> str:
    """A fresh random session token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def user_for_session(session_id: str) -> User | None:
    """The active user a session or remember-me cookie's id ("<user id>:<session token>", User.get_id) names, or
    None when the token is not the user's current one (signed out, password or role changed since) or the id has
    the old form without a token."""
    user_id, _, token = (session_id or "").partition(":")
    if not user_id.isdigit() or not token or len(user_id) > 18:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or not user.session_token:
        return None
    return user if hmac.compare_digest(user.session_token.encode(), token.encode()) else None


def verify_sign_in(user: User | None, password: str) -> bool:
    """True when ``user`` exists, is active and ``password`` is theirs. The same password-hash work is done whether
    or not the address exists (a dummy hash for an unknown or deactivated user), so sign-in time does not say which
    addresses have accounts (issue 16 item 8)."""
    if user is not None and user.active and user.password_hash:
        return check_password_hash(user.password_hash, password)
    check_password_hash(_dummy_password_hash(), password)
    return False


_DUMMY_HASH: list[str] = []


def _dummy_password_hash() -> str:
    """A hash made with the same method and cost as real ones, of a random password nobody knows."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash(secrets.token_hex(16)))
    return _DUMMY_HASH[0]


INVITATION_DAYS = 7


class Invitation(db.Model):
    """Someone asked to join an organization (issue 16 item 8). People are added by invitation, never by an admin
    typing their password: the invitation is mailed to the address, and the person sets their own password from the
    link in it. Whether the address already has an account, in this organization's sight or another's, is told only
    to the mailbox (the admin sees "Invitation sent" either way), so adding someone can't be used to probe which
    addresses have ChatPad accounts. The link's token is drawn by the mail job; only its SHA-256 is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    # The locations an on-site manager (an agent) will be limited to; empty: the whole organization.
    location_ids: Mapped[list] = mapped_column(JSONType, default=list)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()
    invited_by: Mapped[User | None] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.expires_at <= utcnow():
            return "expired"
        return "sent" if self.sent_at is not None else "sending"

    def __str__(self) -> str:
        return self.email


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LocationMember(db.Model):
    """A person of a location's team: a user limited to locations sees theirs; a handoff at the location is assigned
    round robin among its members on duty (last_assigned_at: whose turn it is)."""

    __tablename__ = "location_members"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at_column()

    user: Mapped[User] = relationship(back_populates="memberships")
    location: Mapped["Location"] = relationship()  # noqa: F821, UP037
