"""Integrations → Calendars: each location's calendars for tours, connected like the channels (docs/booking.md).

Google Calendar and Microsoft 365 sign in through ChatPad's one Google and one Microsoft app (chatpad.oauthapps),
asking only for the calendar scopes (GOOGLE_CALENDAR_SCOPES, MICROSOFT_CALENDAR_SCOPES). The OAuth state is a
connection flow (chatpad.integrations.flows: server-side, encrypted, bound to this browser session), so a callback
from anywhere else is refused. CalDAV is a form: the server lists the user's calendars and one is chosen. Every
calendar is tested with a free/busy read before it is stored or said to be connected (chatpad.integrations.calendars).

Each calendar row shows its health dot (connected, needs reconnection, a problem, disconnected) with the last error,
its location (changeable), Test now, Reconnect and Disconnect. Tokens are refreshed before they expire by
jobs.booking.refresh_calendar_tokens and calendars are health-checked by jobs.booking.check_calendars.
"""

from __future__ import annotations

import uuid

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import func, select

from chatpad.admin.views import current_scope
from chatpad.audit import record_audit
from chatpad.booking.calendars import check_calendar, oauth_scope
from chatpad.extensions import db
from chatpad.models import ACTIVE_BOOKING_STATUSES, Agent, Booking, Calendar, Location, utcnow
from chatpad.oauthapps import OAuthGrantError, OAuthTemporaryError, authorization_url, exchange_code

from . import connect
from .calendars import CalendarSetupError, connect_caldav, connect_oauth
from .flows import FlowError, end_flow, load_flow, redirect_uri_for, start_flow

OAUTH_PROVIDERS = {"google": "Google Calendar", "microsoft": "Microsoft 365"}


class CalendarScreens:
    """Mixed into IntegrationsView: the Calendars section and its screens under /admin/integrations/calendars/."""

    # --- lookups (the organization's own rows only) ---

    def _calendar(self, calendar_id: str) -> Calendar:
        try:
            key = uuid.UUID(str(calendar_id))
        except ValueError:
            abort(404)
        calendar = db.session.scalar(select(Calendar).where(Calendar.id == key, current_scope().where(Calendar)))
        if calendar is None:
            abort(404)
        return calendar

    def _calendar_location(self, agent: Agent, location_id: str | None) -> Location:
        """The agent's location for a calendar (required: tours belong to a location). 400 for anything else."""
        try:
            location = connect.resolve_location(agent, location_id or None)
        except ValueError:
            abort(400, "Unknown location.")
        if location is None:
            abort(400, "Choose the location whose tours go into this calendar.")
        return location

    def calendar_groups(self, agent: Agent) -> list[dict]:
        """The agent's locations, each with its calendars (live ones first) and what they mean for its tours."""
        scope = current_scope()
        locations = [loc for loc in connect.agent_locations(agent) if scope.allows_location(loc.id)]
        calendars = db.session.scalars(
            select(Calendar)
            .where(Calendar.agent_id == agent.id, scope.where(Calendar))
            .order_by(Calendar.status == "disconnected", Calendar.created_at)
        ).all()
        upcoming = dict(
            db.session.execute(
                select(Booking.calendar_id, func.count(Booking.id))
                .where(Booking.status.in_(ACTIVE_BOOKING_STATUSES), Booking.start_at > utcnow())
                .where(Booking.calendar_id.in_([c.id for c in calendars]))
                .group_by(Booking.calendar_id)
            ).all()
        )
        groups = []
        for location in locations:
            mine = [c for c in calendars if c.location_id == location.id]
            usable = [c for c in mine if c.usable]
            groups.append(
                {
                    "location": location,
                    "calendars": mine,
                    "usable": len(usable),
                    "upcoming": {c.id: upcoming.get(c.id, 0) for c in mine},
                }
            )
        return groups

    # --- choosing how to connect ---

    @expose("/calendars/new")
    def calendar_new(self):
        agent = self._agent(request.args.get("agent"))  # type: ignore[attr-defined]
        if agent is None:
            abort(404)
        cfg = current_app.config
        return self.render(  # type: ignore[attr-defined]
            "integrations/calendar_new.html",
            agent=agent,
            locations=connect.agent_locations(agent),
            chosen=request.args.get("location", ""),
            ready={"google": bool(cfg.get("GOOGLE_CLIENT_ID")), "microsoft": bool(cfg.get("MICROSOFT_CLIENT_ID"))},
            scopes={p: oauth_scope(p).split() for p in OAUTH_PROVIDERS},
        )

    # --- Google and Microsoft ---

    @expose("/calendars/oauth/<provider>/start")
    def calendar_oauth_start(self, provider: str):
        """Off to Google's or Microsoft's consent screen, asking for the calendar scopes only."""
        if provider not in OAUTH_PROVIDERS:
            abort(404)
        calendar = self._calendar(request.args["calendar"]) if request.args.get("calendar") else None
        agent = calendar.agent if calendar is not None else self._agent(request.args.get("agent"))  # type: ignore
        if agent is None:
            abort(404)
        location = (
            calendar.location if calendar is not None else self._calendar_location(agent, request.args.get("location"))
        )
        if not current_app.config.get(f"{provider.upper()}_CLIENT_ID"):
            return self._error(  # type: ignore[attr-defined]
                f"ChatPad has no {provider.title()} app configured.",
                f"An operator must set {provider.upper()}_CLIENT_ID and {provider.upper()}_CLIENT_SECRET "
                "(docs/connecting.md).",
                agent_id=agent.id,
            )
        redirect_uri = redirect_uri_for(".calendar_oauth_callback")
        flow = start_flow(
            provider,
            organization_id=current_user.organization_id,
            user_id=current_user.id,
            agent_id=str(agent.id),
            redirect_uri=redirect_uri,
            account_id=str(calendar.id) if calendar is not None else None,
            extra={"purpose": "calendar", "location_id": str(location.id)},
        )
        url = authorization_url(
            provider,
            redirect_uri,
            flow.id,
            calendar.account if calendar is not None else None,
            scope=oauth_scope(provider),
        )
        return redirect(url)

    @expose("/calendars/oauth/callback")
    def calendar_oauth_callback(self):
        """Where the provider sends the browser back: the grant tested with a free/busy read, then stored."""
        try:
            flow = load_flow(
                request.args.get("state"), user_id=current_user.id, organization_id=current_user.organization_id
            )
        except FlowError as exc:
            return self._error(exc.reason, "Open Integrations → Calendars and press Connect again.")  # type: ignore
        if flow.extra.get("purpose") != "calendar" or flow.kind not in OAUTH_PROVIDERS:
            return self._error("This answer belongs to another connection.", "Start again from Integrations.")  # type: ignore
        end_flow(flow)
        provider, label = flow.kind, OAUTH_PROVIDERS[flow.kind]
        agent = self._agent(flow.agent_id)  # type: ignore[attr-defined]
        location = self._calendar_location(agent, flow.extra.get("location_id"))
        calendar = self._calendar(flow.account_id) if flow.account_id else None
        again = (
            url_for(".calendar_reconnect", calendar_id=str(calendar.id))
            if calendar is not None
            else url_for(".calendar_new", agent=str(agent.id), location=str(location.id))
        )
        if request.args.get("error"):
            why = request.args.get("error_description") or request.args["error"]
            denied = request.args.get("error") == "access_denied"
            self._audit("calendar.connect_denied" if denied else "calendar.connect_failed", provider=provider)  # type: ignore
            return self._error(  # type: ignore[attr-defined]
                f"{label} did not grant access to the calendar: {why}",
                "To connect, press Connect again and allow ChatPad to see free/busy and manage its events.",
                agent_id=agent.id,
                retry_url=again,
                status=200 if denied else 400,
            )
        try:
            tokens = exchange_code(
                provider, request.args.get("code", ""), flow.redirect_uri, scope=oauth_scope(provider)
            )
        except (OAuthGrantError, OAuthTemporaryError) as exc:
            return self._error(  # type: ignore[attr-defined]
                f"Finishing the sign-in failed: {exc}",
                "Nothing was connected. Try again.",
                agent_id=agent.id,
                retry_url=again,
                status=502,
            )
        if calendar is not None and tokens.email and tokens.email.lower() != calendar.account.lower():
            return self._error(  # type: ignore[attr-defined]
                f"You signed in as {tokens.email}, but this calendar is {calendar.account}'s. Nothing changed.",
                f"Press Reconnect again and sign in as {calendar.account}.",
                agent_id=agent.id,
                retry_url=again,
            )
        try:
            connected = connect_oauth(location, provider=provider, tokens=tokens, user_id=current_user.id)
        except CalendarSetupError as exc:
            return self._error(  # type: ignore[attr-defined]
                exc.reason, "Nothing was connected. Try again.", agent_id=agent.id, retry_url=again, status=502
            )
        flash(
            f"{label}: {connected.account} is {'reconnected' if calendar else 'connected'} to {location.name} "
            "(free/busy answered).",
            "success",
        )
        return redirect(url_for(".index", agent=str(agent.id), _anchor="calendars"))

    # --- CalDAV ---

    @expose("/calendars/caldav", methods=["GET", "POST"])
    def calendar_caldav(self):
        """The CalDAV form: the server lists the user's calendars, one is tested, then stored."""
        calendar = self._calendar(request.values["calendar"]) if request.values.get("calendar") else None
        if calendar is not None and calendar.provider != "caldav":
            abort(404)
        agent = calendar.agent if calendar is not None else self._agent(request.values.get("agent"))  # type: ignore
        if agent is None:
            abort(404)
        values = {
            "location": request.args.get("location", ""),
            "url": "",
            "username": "",
            "calendar_name": "",
        }
        if calendar is not None:
            values.update(
                location=str(calendar.location_id),
                url=(calendar.meta or {}).get("server") or calendar.remote_id,
                username=calendar.account,
                calendar_name=calendar.name,
            )
        error, choices = None, []
        if request.method == "POST":
            values.update({k: (request.form.get(k) or "").strip() for k in values})
            location = self._calendar_location(agent, values["location"])
            try:
                connected = connect_caldav(
                    location,
                    url=values["url"],
                    username=values["username"],
                    password=request.form.get("password") or "",
                    calendar=values["calendar_name"] or None,
                    user_id=current_user.id,
                )
            except CalendarSetupError as exc:
                error, choices = exc.reason, exc.choices
            else:
                flash(f"CalDAV: {connected.name} is connected to {location.name} (free/busy answered).", "success")
                return redirect(url_for(".index", agent=str(agent.id), _anchor="calendars"))
        return (
            self.render(  # type: ignore[attr-defined]
                "integrations/calendar_caldav.html",
                agent=agent,
                calendar=calendar,
                locations=connect.agent_locations(agent),
                values=values,
                error=error,
                choices=choices,
            ),
            422 if error else 200,
        )

    # --- one calendar ---

    @expose("/calendars/<calendar_id>/reconnect")
    def calendar_reconnect(self, calendar_id: str):
        calendar = self._calendar(calendar_id)
        if calendar.provider == "caldav":
            return redirect(url_for(".calendar_caldav", calendar=str(calendar.id)))
        return redirect(url_for(".calendar_oauth_start", provider=calendar.provider, calendar=str(calendar.id)))

    @expose("/calendars/<calendar_id>/check", methods=["POST"])
    def calendar_check(self, calendar_id: str):
        """Test now: a free/busy read of the next day; the dot shows the answer."""
        calendar = self._calendar(calendar_id)
        if calendar.status == "disconnected" or not calendar.is_active:
            flash(f"{calendar.name} is disconnected: connect it again to use it.", "warning")
        else:
            outcome = check_calendar(calendar)
            if outcome == "ok":
                flash(f"{calendar.name} answered: free/busy read just now.", "success")
            elif outcome == "unknown":
                flash(
                    f"{calendar.name} did not answer this time "
                    f"({(calendar.meta or {}).get('transient_failures', 1)} in a row; the dot turns red after 3).",
                    "warning",
                )
            else:
                flash(f"{calendar.name}: {calendar.last_error}", "error")
        return redirect(url_for(".index", agent=str(calendar.agent_id), _anchor="calendars"))

    @expose("/calendars/<calendar_id>/location", methods=["POST"])
    def calendar_location(self, calendar_id: str):
        calendar = self._calendar(calendar_id)
        location = self._calendar_location(calendar.agent, request.form.get("location"))
        back = redirect(url_for(".index", agent=str(calendar.agent_id), _anchor="calendars"))
        if location.id == calendar.location_id:
            return back
        upcoming = db.session.scalar(
            select(func.count(Booking.id)).where(
                Booking.calendar_id == calendar.id,
                Booking.status.in_(ACTIVE_BOOKING_STATUSES),
                Booking.start_at > utcnow(),
            )
        )
        if upcoming:
            flash(
                f"{calendar.name} holds {upcoming} upcoming tour{'s' if upcoming != 1 else ''} of "
                f"{calendar.location.name}: reschedule or cancel them on its Bookings page first. Nothing changed.",
                "error",
            )
            return back
        taken = db.session.scalar(
            select(Calendar.id).where(
                Calendar.location_id == location.id,
                Calendar.provider == calendar.provider,
                Calendar.remote_id == calendar.remote_id,
            )
        )
        if taken:
            flash(f"{location.name} already has this calendar. Nothing changed.", "error")
            return back
        before = calendar.location.name
        calendar.location_id = location.id
        self._audit("calendar.location", calendar_id=str(calendar.id), before=before, after=location.name)  # type: ignore
        flash(f"{calendar.name} now takes the tours of {location.name}.", "success")
        return back

    @expose("/calendars/<calendar_id>/disconnect", methods=["POST"])
    def calendar_disconnect(self, calendar_id: str):
        """No new tours go into it; the tours already there stay (they are the customers' appointments)."""
        calendar = self._calendar(calendar_id)
        back = redirect(url_for(".index", agent=str(calendar.agent_id), _anchor="calendars"))
        if calendar.status == "disconnected":
            return back
        upcoming = db.session.scalar(
            select(func.count(Booking.id)).where(
                Booking.calendar_id == calendar.id,
                Booking.status.in_(ACTIVE_BOOKING_STATUSES),
                Booking.start_at > utcnow(),
            )
        )
        calendar.is_active = False
        calendar.status = "disconnected"
        calendar.access_token = None
        calendar.refresh_token = None
        calendar.token_expires_at = None
        record_audit(
            "calendar.disconnected",
            organization_id=current_user.organization_id,
            user_id=current_user.id,
            detail={"calendar_id": str(calendar.id), "provider": calendar.provider, "account": calendar.account},
            ip=request.remote_addr,
        )
        db.session.commit()
        kept = (
            f" Its {upcoming} upcoming tour{'s' if upcoming != 1 else ''} stay booked and in the calendar; "
            "ChatPad can no longer move or cancel them there."
            if upcoming
            else ""
        )
        flash(f"{calendar.name} is disconnected: no new tours go into it.{kept}", "success")
        return back
