"""One page per location (issue 22): its hours (with "copy these hours to other locations"), its accounts on every
channel with their health, its knowledge, team and calendars, and links to the rest. Owners and admins; every query
is scoped to the signed-in user's organization."""

from __future__ import annotations

import copy
import io
from datetime import timedelta

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.utils import secure_filename

from chatpad import csvfile
from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.hours import DAYS
from chatpad.http import parse_uuid
from chatpad.knowledge import LISTING_FIELDS
from chatpad.models import (
    Agent,
    Calendar,
    Conversation,
    KnowledgeItem,
    Location,
    LocationMember,
    SocialAccount,
    User,
    utcnow,
)

from .views import SecureViewMixin, current_org_id

DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True))
HEALTH = {
    "connected": ("ok", "Connected"),
    "needs_reauth": ("warn", "Needs reconnection"),
    "error": ("bad", "Error"),
    "disconnected": ("off", "Disconnected"),
}


class LocationPageView(SecureViewMixin, BaseView):
    """/admin/location/<id>: everything about one community."""

    def is_visible(self) -> bool:
        return False  # reached from the Locations list and the Integrations tab, not the menu

    def _location(self, location_id: str) -> Location:
        key = parse_uuid(location_id)
        location = (
            db.session.scalar(
                select(Location)
                .join(Agent, Agent.id == Location.agent_id)
                .where(Location.id == key, Agent.organization_id == current_org_id())
            )
            if key
            else None
        )
        if location is None:
            abort(404)
        return location

    def _siblings(self, location: Location) -> list[Location]:
        return list(
            db.session.scalars(
                select(Location)
                .where(Location.agent_id == location.agent_id, Location.id != location.id)
                .order_by(Location.name)
            )
        )

    @expose("/")
    def index(self):
        return redirect(url_for("locations.index_view"))

    @expose("/<location_id>")
    def show(self, location_id: str):
        location = self._location(location_id)
        accounts = db.session.scalars(
            select(SocialAccount)
            .where(SocialAccount.location_id == location.id)
            .order_by(SocialAccount.channel, SocialAccount.account_name)
        ).all()
        knowledge = db.session.scalar(
            select(func.count(KnowledgeItem.id)).where(KnowledgeItem.location_id == location.id)
        )
        listings = db.session.scalar(
            select(func.count(KnowledgeItem.id)).where(
                KnowledgeItem.location_id == location.id, KnowledgeItem.kind == "property"
            )
        )
        team = db.session.scalars(
            select(User)
            .join(LocationMember, LocationMember.user_id == User.id)
            .where(LocationMember.location_id == location.id, User.organization_id == current_org_id())
        ).all()
        calendars = db.session.scalars(select(Calendar).where(Calendar.location_id == location.id)).all()
        since = utcnow() - timedelta(days=30)
        conversations = select(func.count(Conversation.id)).where(Conversation.location_id == location.id)
        figures = {
            "recent": db.session.scalar(conversations.where(Conversation.created_at >= since)),
            "open": db.session.scalar(conversations.where(Conversation.status.in_(("open", "waiting")))),
        }
        weekly = (location.hours or {}).get("weekly") or {}
        hours = [(DAY_NAMES[d], weekly.get(d) or []) for d in DAYS]
        return self.render(
            "admin/location_page.html",
            location=location,
            accounts=accounts,
            health=HEALTH,
            knowledge=knowledge,
            listings=listings,
            team=team,
            calendars=calendars,
            hours=hours,
            siblings=self._siblings(location),
            figures=figures,
        )

    @expose("/<location_id>/listings.csv")
    def listings_csv(self, location_id: str):
        """The location's property listings as CSV, in the columns Setup → Import knowledge reads back."""
        location = self._location(location_id)
        items = db.session.scalars(
            select(KnowledgeItem)
            .where(KnowledgeItem.location_id == location.id, KnowledgeItem.kind == "property")
            .order_by(KnowledgeItem.title)
        ).all()
        out = io.StringIO()
        writer = csvfile.writer(out)
        writer.writerow(LISTING_FIELDS)
        for item in items:
            data = item.data or {}
            values = {**{k: data.get(k, "") for k in LISTING_FIELDS}, "title": item.title, "description": item.body}
            writer.writerow([values[k] if values[k] is not None else "" for k in LISTING_FIELDS])
        name = secure_filename(f"{location.name}-listings.csv") or "listings.csv"
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @expose("/<location_id>/copy-hours", methods=["POST"])
    def copy_hours(self, location_id: str):
        """Copy this location's weekly hours (not its dated exceptions) to the chosen locations of the same agent."""
        location = self._location(location_id)
        siblings = {str(s.id): s for s in self._siblings(location)}
        chosen = request.form.getlist("to")
        if not chosen:
            flash("Tick the locations to copy these hours to.", "error")
            return redirect(url_for(".show", location_id=location_id))
        if any(c not in siblings for c in chosen):
            abort(400)
        weekly = copy.deepcopy((location.hours or {}).get("weekly") or {})
        for c in chosen:
            target = siblings[c]
            target.hours = {**(target.hours or {}), "weekly": copy.deepcopy(weekly)}
        record_audit(
            "location.hours_copied",
            organization_id=current_org_id(),
            user_id=current_user.id,
            target=location,
            detail={"location_ids": chosen},
            ip=request.remote_addr,
        )
        db.session.commit()
        names = ", ".join(sorted(siblings[c].name for c in chosen))
        flash(f"{location.name}'s weekly hours are copied to {names}.", "success")
        return redirect(url_for(".show", location_id=location_id))
