"""The setup checklist on Home for a new organization (issue 22): each step is worked out from what is in the
database now (never a stored "done" flag), so it cannot say done when it is not."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from sqlalchemy import func, select

from chatpad.extensions import db
from chatpad.models import Agent, Conversation, KnowledgeItem, Location, Message, SocialAccount


@dataclass
class Step:
    key: str
    title: str
    done: bool
    status: str  # what was found, e.g. "12 of 20 locations have hours"
    url: str | None
    action: str


def _has_hours(location: Location) -> bool:
    weekly = (location.hours or {}).get("weekly") or {}
    return any(weekly.get(day) for day in weekly)


def setup_steps(org_id: int, try_url: str | None) -> list[Step]:
    """Locations, hours, knowledge, connected channels, a first customer message: each with what was found."""
    locations = db.session.scalars(
        select(Location).join(Agent, Agent.id == Location.agent_id).where(Agent.organization_id == org_id)
    ).all()
    with_hours = sum(1 for loc in locations if _has_hours(loc))
    knowledge = db.session.scalar(
        select(func.count(KnowledgeItem.id))
        .join(Agent, Agent.id == KnowledgeItem.agent_id)
        .where(Agent.organization_id == org_id)
    )
    accounts = db.session.scalars(select(SocialAccount).where(SocialAccount.tenant_clause(org_id))).all()
    connected = [a for a in accounts if a.status == "connected" and a.is_active]
    customer_messages = db.session.scalar(
        select(func.count(Message.id))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.organization_id == org_id, Message.direction == "inbound")
    )
    n = len(locations)
    return [
        Step(
            "locations",
            "Add your locations",
            n > 0,
            f"{n} location{'' if n == 1 else 's'}" if n else "No location yet",
            url_for("locations.index_view"),
            "Add a location",
        ),
        Step(
            "hours",
            "Set each location's hours",
            n > 0 and with_hours == n,
            f"{with_hours} of {n} location{' has' if n == 1 else 's have'} hours" if n else "Add a location first",
            url_for("locations.index_view"),
            "Set hours",
        ),
        Step(
            "knowledge",
            "Teach the agent (knowledge)",
            knowledge > 0,
            f"{knowledge} knowledge item{'' if knowledge == 1 else 's'}" if knowledge else "No knowledge yet",
            url_for("knowledge.index_view"),
            "Add or import knowledge",
        ),
        Step(
            "channels",
            "Connect your channels",
            bool(connected),
            f"{len(connected)} account{'' if len(connected) == 1 else 's'} connected"
            if connected
            else "Nothing connected",
            url_for("integrations.index"),
            "Open Integrations",
        ),
        Step(
            "try",
            "Try it as a customer",
            customer_messages > 0,
            "A customer message has arrived" if customer_messages else "No customer message yet",
            try_url,
            "Write as a customer",
        ),
    ]
