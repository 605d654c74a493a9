"""Organizations (the customer businesses) and their users."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from chatpad.extensions import db

from .base import UTCDateTime, created_at_column

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

    organization: Mapped[Organization] = relationship(back_populates="users")

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users.
        return bool(self.active)

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __str__(self) -> str:
        return self.name or self.email
