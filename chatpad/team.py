"""The team: who may see a conversation, who can be assigned it, who is on duty, and whose turn it is.

A user is either the whole organization's (not limited) or a member of some locations (limited_to_locations, with a
LocationMember row per location: an on-site manager). Everything here follows the same rule as chatpad.models.scope:
a person sees a conversation when they are not limited, or when they are a member of its location.

Automatic assignment (assign_handoff): a handoff at a location goes to one of that location's members who is on
duty, round robin. On duty: online (used the inbox in the last ONLINE_SECONDS), or, when none of them is, every
member while the location is within its office hours (they are at work, and their notification waits for them).
Outside office hours with nobody online, the handoff stays unassigned and the whole team is told, as before.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, false, nulls_first, or_, select, update

from chatpad.extensions import db
from chatpad.hours import HoursError, Schedule
from chatpad.models import Conversation, Location, LocationMember, Scope, User, utcnow

log = logging.getLogger("chatpad.team")

# Someone who used the inbox this recently is online. An open inbox page refreshes at least every
# INBOX_SSE_MAX_SECONDS (its stream reconnects and looks again), and last_seen_at is written once a minute at most.
ONLINE_SECONDS = 600
SEEN_STEP = timedelta(minutes=1)


def _location_ids(location_ids: Iterable[uuid.UUID] | None) -> list[uuid.UUID]:
    return [i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in (location_ids or [])]


def users_who_see(organization_id: int, location_id: uuid.UUID | None) -> Select:
    """SELECT of the active users of an organization who may see a row of this location: everyone not limited to
    locations, and the location's members (a row of no location: only the unlimited)."""
    members = select(LocationMember.user_id).where(LocationMember.location_id == location_id)
    limited_ok = User.id.in_(members) if location_id is not None else false()
    return select(User).where(
        User.organization_id == organization_id,
        User.active.is_(True),
        or_(User.limited_to_locations.is_(False), limited_ok),
    )


def colleagues(scope: Scope) -> list[User]:
    """The active people a person in this scope works with: the whole organization's, and the members of the
    scope's locations (for the inbox's assignee filter). By name."""
    query = select(User).where(User.organization_id == scope.organization_id, User.active.is_(True))
    if scope.limited:
        members = select(LocationMember.user_id).where(LocationMember.location_id.in_(list(scope.location_ids)))
        query = query.where(or_(User.limited_to_locations.is_(False), User.id.in_(members)))
    return list(db.session.scalars(query.order_by(User.name, User.email)))


def assignable_users(conversation: Conversation) -> list[User]:
    """Who a conversation can be assigned to: the active colleagues who may open it, by name."""
    return list(
        db.session.scalars(
            users_who_see(conversation.organization_id, conversation.location_id).order_by(User.name, User.email)
        )
    )


def can_see(user: User, conversation: Conversation) -> bool:
    """May this user open this conversation?"""
    return (
        user.active
        and user.organization_id == conversation.organization_id
        and Scope.of(user).allows_location(conversation.location_id)
    )


def set_locations(user: User, location_ids: Iterable[uuid.UUID] | None) -> None:
    """Limit a user to these locations (of their organization; the caller checks), or, with None, to none: the
    whole organization. The caller commits."""
    if location_ids is None:
        user.limited_to_locations = False
        user.memberships = []
        return
    wanted = set(_location_ids(location_ids))
    user.limited_to_locations = True
    kept = [m for m in user.memberships if m.location_id in wanted]
    have = {m.location_id for m in kept}
    user.memberships = kept + [LocationMember(location_id=i) for i in sorted(wanted - have, key=str)]


def locations_named(organization_id: int, names: Iterable[str]) -> tuple[list[Location], list[str]]:
    """The organization's locations with these names (case-insensitive), and the names that match none."""
    rows = db.session.scalars(select(Location).where(Location.tenant_clause(organization_id))).all()
    by_name = {row.name.strip().lower(): row for row in rows}
    found, missing = [], []
    for name in names:
        row = by_name.get(name.strip().lower())
        if row is None:
            missing.append(name)
        elif row not in found:
            found.append(row)
    return found, missing


# --- presence ---------------------------------------------------------------------------------------------------


def touch_seen(user: User, now: datetime | None = None) -> bool:
    """Record that this person is using the inbox now (at most once a minute: one small UPDATE). True if written."""
    now = now or utcnow()
    if user.last_seen_at is not None and now - user.last_seen_at < SEEN_STEP:
        return False
    db.session.execute(update(User).where(User.id == user.id).values(last_seen_at=now))
    db.session.commit()
    return True


def online_since(now: datetime | None = None) -> datetime:
    seconds = float(current_app.config.get("INBOX_ONLINE_SECONDS") or ONLINE_SECONDS)
    return (now or utcnow()) - timedelta(seconds=seconds)


def is_online(user: User, now: datetime | None = None) -> bool:
    return user.last_seen_at is not None and user.last_seen_at >= online_since(now)


def within_office_hours(location: Location, now: datetime | None = None) -> bool:
    """Is the location open now, by its own hours in its own time zone? (Hours that do not parse: no.)"""
    try:
        schedule = Schedule.from_json(location.hours)
        zone = ZoneInfo(location.timezone or "UTC")
    except (HoursError, ValueError, KeyError):
        return False
    return schedule.is_open((now or utcnow()).astimezone(zone))


# --- automatic assignment ----------------------------------------------------------------------------------------


def on_duty(location: Location, now: datetime | None = None) -> list[LocationMember]:
    """The location's members on duty now: those online; if none is, all of them within office hours; else none.
    Active users only, in round-robin order (whoever was assigned longest ago, or never, first)."""
    now = now or utcnow()
    members = list(
        db.session.scalars(
            select(LocationMember)
            .join(User, User.id == LocationMember.user_id)
            .where(
                LocationMember.location_id == location.id,
                User.active.is_(True),
                User.organization_id == location.agent.organization_id,
            )
            .order_by(nulls_first(LocationMember.last_assigned_at.asc()), LocationMember.user_id)
        )
    )
    online = [m for m in members if is_online(m.user, now)]
    if online:
        return online
    return members if within_office_hours(location, now) else []


def assign_handoff(conversation: Conversation, now: datetime | None = None) -> User | None:
    """Assign a conversation handed to people to the next member on duty at its location (round robin), unless it is
    assigned already. Returns the assignee (None: nobody on duty, or no location); the caller tells them
    (chatpad.notify.notify_assigned) and commits.

    The members' rows are locked while the turn is taken, so two handoffs at once go to two people."""
    if conversation.assigned_user_id is not None or conversation.location_id is None:
        return None
    location = db.session.get(Location, conversation.location_id)
    if location is None:
        return None
    now = now or utcnow()
    candidates = on_duty(location, now)
    if not candidates:
        return None
    turn = db.session.scalars(
        select(LocationMember)
        .where(
            LocationMember.location_id == location.id,
            LocationMember.user_id.in_([m.user_id for m in candidates]),
        )
        .order_by(nulls_first(LocationMember.last_assigned_at.asc()), LocationMember.user_id)
        .limit(1)
        .with_for_update()
    ).first()
    if turn is None:
        return None
    turn.last_assigned_at = now
    conversation.assigned_user_id = turn.user_id
    assignee = turn.user
    log.info("handoff %s assigned to user %s at location %s", conversation.id, assignee.id, location.id)
    return assignee
