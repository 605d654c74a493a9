"""Names for the audit log (issue 22): what an entry was done to, and the locations and people its detail mentions,
by name instead of by id. Looked up within the entry's organization only, once per page (a small cache on flask.g);
a row deleted since is said to be deleted, with its id."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g
from sqlalchemy import select

from chatpad.extensions import db
from chatpad.models import Agent, Calendar, Contact, Invitation, Location, SocialAccount, User

# What the log's "On" column calls each kind of row.
KINDS = {
    "SocialAccount": "Account",
    "Location": "Location",
    "User": "Person",
    "Agent": "Agent",
    "Contact": "Customer",
    "Conversation": "Conversation",
    "Calendar": "Calendar",
    "Invitation": "Invitation",
    "Booking": "Tour",
    "KnowledgeItem": "Knowledge",
}
CHANNEL_WORDS = {
    "facebook": "Facebook Page",
    "instagram": "Instagram account",
    "email": "inbox",
    "sms": "SMS number",
    "whatsapp": "WhatsApp number",
    "widget": "widget",
}


def _cache() -> dict:
    if not hasattr(g, "_audit_names"):
        g._audit_names = {}
    return g._audit_names


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _lookup(kind: str, key: Any, org_id: int) -> str | None:
    """The name of one row of this organization, or None when there is none (deleted, or not theirs)."""
    cache = _cache()
    if (kind, str(key), org_id) in cache:
        return cache[(kind, str(key), org_id)]
    name = None
    if kind == "User":
        if str(key).isdigit():
            user = db.session.scalar(select(User).where(User.id == int(key), User.organization_id == org_id))
            name = (f"{user.name} ({user.email})" if user.name else user.email) if user else None
    elif kind in ("Location", "SocialAccount", "Agent", "Calendar", "Contact"):
        ident = _uuid(key)
        if ident is not None:
            if kind == "Location":
                query = select(Location.name).join(Agent).where(Location.id == ident, Agent.organization_id == org_id)
            elif kind == "SocialAccount":
                row = db.session.execute(
                    select(SocialAccount.account_name, SocialAccount.channel).where(
                        SocialAccount.id == ident, SocialAccount.tenant_clause(org_id)
                    )
                ).first()
                query = None
                name = f"{row[0]} ({CHANNEL_WORDS.get(row[1], row[1])})" if row else None
            elif kind == "Agent":
                query = select(Agent.name).where(Agent.id == ident, Agent.organization_id == org_id)
            elif kind == "Calendar":
                query = (
                    select(Calendar.name)
                    .join(Agent, Agent.id == Calendar.agent_id)
                    .where(Calendar.id == ident, Agent.organization_id == org_id)
                )
            else:
                query = select(Contact.name).where(Contact.id == ident, Contact.organization_id == org_id)
            if query is not None:
                name = db.session.scalar(query)
    elif kind == "Invitation" and str(key).isdigit():
        name = db.session.scalar(
            select(Invitation.email).where(Invitation.id == int(key), Invitation.organization_id == org_id)
        )
    cache[(kind, str(key), org_id)] = name
    return name


def target_label(entry) -> str:
    """'Account: Forge Lake Community (Facebook Page)', 'Location: Forge at the Lake', or what is known of it."""
    if not entry.target_type:
        return ""
    kind = KINDS.get(entry.target_type, entry.target_type)
    if not entry.target_id:
        return kind
    name = _lookup(entry.target_type, entry.target_id, entry.organization_id)
    if name:
        return f"{kind}: {name}"
    if entry.target_type in ("User", "Location", "SocialAccount", "Agent", "Calendar", "Invitation"):
        return f"{kind} (deleted, id {entry.target_id})"
    return f"{kind} {entry.target_id}"


# Detail keys that hold a location's or a person's id; "from"/"to" hold locations in account.location entries.
LOCATION_KEYS = ("location_id", "location", "location_ids", "locations")
USER_KEYS = ("user_id", "assigned_user_id", "owner_id", "invited_by", "user_ids")


def _name_value(kind: str, value: Any, org_id: int) -> Any:
    if isinstance(value, list):
        return [_name_value(kind, v, org_id) for v in value]
    if value is None or value == "":
        return "General" if kind == "Location" else value
    name = _lookup(kind, value, org_id)
    if name:
        return name
    if kind == "Location" and _uuid(value) is None:
        return value  # already a name (older entries recorded the location's name)
    return f"deleted {'location' if kind == 'Location' else 'person'} ({value})"


def named_detail(entry) -> dict:
    """The entry's detail with the locations and people it names by id replaced by their names."""
    detail = dict(entry.detail or {})
    org_id = entry.organization_id
    for key, value in list(detail.items()):
        if key in LOCATION_KEYS or (entry.action == "account.location" and key in ("from", "to")):
            detail[key] = _name_value("Location", value, org_id)
        elif key in USER_KEYS:
            detail[key] = _name_value("User", value, org_id)
    return detail
