"""Agents, their locations and the knowledge the AI answers from."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatpad.extensions import db

from .base import JSONType, created_at_column, updated_at_column, uuid_pk
from .org import Organization

# document: a long text (park rules, lease terms, an imported web page or PDF), cut into passages for retrieval.
KNOWLEDGE_KINDS = ("faq", "property", "policy", "document")


class Agent(db.Model):
    """One AI agent; it serves many locations and answers on all their accounts."""

    __tablename__ = "agents"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The persona and rules the AI follows.
    instructions: Mapped[str] = mapped_column(Text, default="")
    # Provider, model and temperature overrides; empty means the app's defaults.
    ai_settings: Mapped[dict] = mapped_column(JSONType, default=dict)
    # The business's language (ISO 639-1): what its knowledge is written in, and what a location answers in when it
    # sets no languages of its own.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    # What always goes to a person, whatever the knowledge says: [{"name": "billing dispute", "keywords": [...]}].
    handoff_topics: Mapped[list] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    organization: Mapped[Organization] = relationship(back_populates="agents")
    locations: Mapped[list[Location]] = relationship(back_populates="agent", cascade="all, delete-orphan")

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.organization_id == org_id

    def __str__(self) -> str:
        return self.name


def agent_ids_of(org_id: int):
    """A subquery of the agent ids an organization owns: the tenancy filter for agent-owned rows."""
    return select(Agent.id).where(Agent.organization_id == org_id).scalar_subquery()


class Location(db.Model):
    """A place the business operates: its hours, address and listings give the AI its context."""

    __tablename__ = "locations"

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="America/Chicago")
    address: Mapped[str | None] = mapped_column(String(400))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    website: Mapped[str | None] = mapped_column(String(400))
    # {"weekly": {"mon": [["09:00", "17:00"]], ...}, "exceptions": [{"date": "2026-12-25", "hours": [], "note": …}]}
    hours: Mapped[dict] = mapped_column(JSONType, default=dict)
    booking_url: Mapped[str | None] = mapped_column(String(400))
    # Per-location options: the story-mention thank-you text, widget colours and greeting, email signature.
    settings: Mapped[dict] = mapped_column(JSONType, default=dict)
    # The languages the AI answers in here (ISO 639-1 codes); empty: the agent's (business's) language only. A message
    # in any other language is handed to a person.
    languages: Mapped[list] = mapped_column(JSONType, default=list)
    # This location's own handoff topics, added to the agent's (same shape as Agent.handoff_topics).
    handoff_topics: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    def answer_languages(self) -> list[str]:
        """The languages the AI answers in at this location: its own list, else the agent's language."""
        own = [str(code).strip().lower() for code in (self.languages or []) if str(code).strip()]
        return own or [(self.agent.language if self.agent else None) or "en"]

    agent: Mapped[Agent] = relationship(back_populates="locations")
    knowledge_items: Mapped[list[KnowledgeItem]] = relationship(back_populates="location")

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.agent_id.in_(agent_ids_of(org_id))

    @classmethod
    def location_clause(cls, location_ids):
        return cls.id.in_(list(location_ids))

    def __str__(self) -> str:
        return self.name


class KnowledgeItem(db.Model):
    """An FAQ, a property listing or a policy, for one location or (location None) the whole agent."""

    __tablename__ = "knowledge_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="faq")
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # Structured fields: a property's beds, baths, price, sqft, status; an FAQ's keywords.
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    agent: Mapped[Agent] = relationship()
    location: Mapped[Location | None] = relationship(back_populates="knowledge_items")

    @classmethod
    def tenant_clause(cls, org_id: int):
        return cls.agent_id.in_(agent_ids_of(org_id))

    @classmethod
    def location_clause(cls, location_ids):
        return cls.location_id.in_(list(location_ids))

    def __str__(self) -> str:
        return self.title
