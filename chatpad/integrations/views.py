"""The Integrations tab (per agent) and the screens of connecting Facebook Pages and Instagram accounts.

Connect → Meta's login dialog (state = the flow id) → callback: code → short-lived → long-lived user token, the
permissions checked, /me/accounts read through every page → selection (checkboxes, already-connected marked) →
assignment (a location per account, pre-selected by name) → subscribe, then store (chatpad.integrations.connect).
Reconnect is the same dialog for one account, whose token is then refreshed in place. Every query is scoped by the
signed-in user's organization; every form carries the CSRF token.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from flask import abort, current_app, flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select

from chatpad.admin.views import SecureViewMixin
from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Agent, Location, SocialAccount, utcnow

from . import connect, meta, sms
from .calendar_views import CalendarScreens
from .connect import Holder
from .email_views import EmailScreens
from .flows import Flow, FlowError, end_flow, load_flow, redirect_uri_for, save_flow, start_flow
from .matching import best_match
from .sms_views import SmsScreens
from .whatsapp import template_summary
from .whatsapp_views import WhatsAppScreens

log = logging.getLogger("chatpad.integrations")

SECTIONS = (
    ("facebook", "Facebook Messenger"),
    ("instagram", "Instagram"),
    ("email", "Email"),
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("widget", "Web Widget"),
)


# What the health filter offers, in the order rows are listed.
HEALTH_ORDER = {"attention": 0, "ok": 1, "paused": 2, "off": 3}


def health_of(account: SocialAccount) -> str:
    """attention (needs reconnection or failing), ok (connected and answering), paused, or off (disconnected)."""
    if account.status in ("needs_reauth", "error"):
        return "attention"
    if account.status == "disconnected":
        return "off"
    if account.status == "connected":
        return "ok" if account.is_active else "paused"
    return "attention"


def wants_json() -> bool:
    """The Integrations page's script asks for JSON (a change in place); a form without script gets a redirect."""
    return request.accept_mimetypes.best == "application/json"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'2 hours ago', for "Last message"."""
    if moment is None:
        return "no messages yet"
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


class IntegrationsView(EmailScreens, SmsScreens, CalendarScreens, WhatsAppScreens, SecureViewMixin, BaseView):
    """/admin/integrations: one agent's accounts by channel, and the connection flows."""

    # --- helpers ---

    def _org_id(self) -> int:
        return current_user.organization_id

    def _agents(self) -> list[Agent]:
        return list(db.session.scalars(select(Agent).where(Agent.tenant_clause(self._org_id())).order_by(Agent.name)))

    def _agent(self, agent_id: str | None) -> Agent | None:
        """The organization's agent with this id, or its first agent; 404 for an id it does not own."""
        agents = self._agents()
        if not agent_id:
            return agents[0] if agents else None
        try:
            key = uuid.UUID(str(agent_id))
        except ValueError:
            abort(404)
        agent = next((a for a in agents if a.id == key), None)
        if agent is None:
            abort(404)
        return agent

    def _account(self, account_id: str) -> SocialAccount:
        try:
            key = uuid.UUID(account_id)
        except ValueError:
            abort(404)
        account = db.session.scalar(
            select(SocialAccount).where(SocialAccount.id == key, SocialAccount.tenant_clause(self._org_id()))
        )
        if account is None:
            abort(404)
        return account

    def _flow(self, flow_id: str) -> Flow:
        return load_flow(flow_id, user_id=current_user.id, organization_id=self._org_id())

    def _index_url(self, agent_id=None) -> str:
        return url_for(".index", agent=str(agent_id)) if agent_id else url_for(".index")

    def _error(self, what: str, todo: str, *, agent_id=None, retry_url: str | None = None, status: int = 400, **kw):
        return (
            self.render(
                "integrations/error.html",
                what=what,
                todo=todo,
                back_url=self._index_url(agent_id),
                retry_url=retry_url,
                **kw,
            ),
            status,
        )

    def _audit(self, action: str, **detail) -> None:
        record_audit(
            action, organization_id=self._org_id(), user_id=current_user.id, detail=detail, ip=request.remote_addr
        )
        db.session.commit()

    # --- the tab ---

    @expose("/")
    def index(self):
        agent = self._agent(request.args.get("agent"))
        if agent is None:
            return self.render("integrations/index.html", agent=None, agents=[], sections=[], locations=[])
        accounts = list(
            db.session.scalars(
                select(SocialAccount)
                .where(SocialAccount.agent_id == agent.id, SocialAccount.tenant_clause(self._org_id()))
                .order_by(SocialAccount.account_name)
            )
        )
        # Those that need attention first, then live accounts, disconnected ones (kept for their history) last.
        accounts.sort(key=lambda a: (HEALTH_ORDER[health_of(a)], a.account_name.lower()))
        counts = {
            "total": sum(1 for a in accounts if a.status != "disconnected"),
            "connected": sum(1 for a in accounts if a.status == "connected" and a.is_active),
            "attention": sum(1 for a in accounts if health_of(a) == "attention"),
        }
        locations = connect.agent_locations(agent)
        group = request.args.get("group")
        if group not in ("channel", "location"):
            group = "location" if len(locations) > 1 and len(accounts) > 12 else "channel"
        if group == "channel":
            sections = [(key, title, [a for a in accounts if a.channel == key], key) for key, title in SECTIONS]
        else:
            by_location: dict = {}
            for a in accounts:
                by_location.setdefault(a.location_id, []).append(a)
            sections = [(f"location-{loc.id}", loc.name, by_location.get(loc.id, []), None) for loc in locations] + [
                ("location-general", "General (no location)", by_location.get(None, []), None)
            ]
            sections = [s for s in sections if s[2] or s[0] != "location-general"]
        return self.render(
            "integrations/index.html",
            agent=agent,
            agents=self._agents(),
            sections=sections,
            group=group,
            channel_titles=dict(SECTIONS),
            health_of=health_of,
            locations=locations,
            counts=counts,
            ago=ago,
            now=utcnow(),
            widget_settings_url=self._widget_settings_url(),
            widget_url=_widget_url,
            email_ready=self.email_available(),
            calendars=self.calendar_groups(agent),
            templates=template_summary(self._org_id()),
        )

    def _widget_settings_url(self) -> str | None:
        """The widget's own settings page (the widget package's admin view), when it is installed."""
        if "widgets.index" in current_app.view_functions:
            return url_for("widgets.index")
        return None

    # --- starting a flow ---

    @expose("/connect/<kind>")
    def start(self, kind: str):
        """Connect Facebook Pages or Instagram accounts: off to Meta's login dialog."""
        if kind not in meta.SCOPES:
            abort(404)
        agent = self._agent(request.args.get("agent"))
        if agent is None:
            flash("Create an agent first: accounts are connected to an agent.", "error")
            return redirect(self._index_url())
        return self._to_dialog(kind, agent, rerequest=request.args.get("rerequest") == "1")

    def _to_dialog(self, kind: str, agent: Agent, *, account: SocialAccount | None = None, rerequest=False):
        if not current_app.config.get("META_APP_ID") or not current_app.config.get("META_APP_SECRET"):
            return self._error(
                "ChatPad has no Meta app configured.",
                "An operator must set META_APP_ID and META_APP_SECRET (docs/connecting.md, Going live).",
                agent_id=agent.id,
            )
        redirect_uri = redirect_uri_for(".facebook_callback")
        flow = start_flow(
            kind,
            organization_id=self._org_id(),
            user_id=current_user.id,
            agent_id=str(agent.id),
            redirect_uri=redirect_uri,
            account_id=str(account.id) if account else None,
        )
        return redirect(meta.authorization_url(kind, redirect_uri, flow.id, rerequest=rerequest))

    @expose("/accounts/<account_id>/reconnect")
    def reconnect(self, account_id: str):
        """Reconnect one account: the same login, then its token refreshed in place."""
        account = self._account(account_id)
        if account.channel in ("facebook", "instagram"):
            return self._to_dialog(account.channel, account.agent, account=account, rerequest=True)
        if account.channel == "whatsapp":
            return self._to_dialog("whatsapp", account.agent)
        if account.channel == "email":
            return self.email_reconnect(account)
        if account.channel == "sms":
            return redirect(
                url_for(
                    ".sms_new", agent=str(account.agent_id), account_sid=(account.meta or {}).get("account_sid", "")
                )
            )
        abort(404)

    # --- Meta's answer ---

    @expose("/facebook/callback")
    def facebook_callback(self):
        """Where Meta's dialog sends the browser back: with a code, or with error=access_denied."""
        try:
            flow = self._flow(request.args.get("state"))
        except FlowError as exc:
            self._audit("account.connect_refused", reason=exc.kind)
            return self._error(exc.reason, "Open Integrations and press Connect again.")
        kind_label = {"facebook": "Facebook Pages", "whatsapp": "WhatsApp numbers"}.get(flow.kind, "Instagram accounts")
        again = url_for(".start", kind=flow.kind, agent=flow.agent_id)
        if request.args.get("error"):
            end_flow(flow)
            denied = request.args.get("error") == "access_denied"
            self._audit(
                "account.connect_denied" if denied else "account.connect_failed",
                channel=flow.kind,
                error=request.args.get("error"),
                error_reason=request.args.get("error_reason"),
            )
            if denied:
                return self._error(
                    f"Facebook's dialog was cancelled, or access was declined, so no {kind_label} were connected.",
                    "To connect, press Connect again and choose Continue in Facebook's dialog.",
                    agent_id=flow.agent_id,
                    retry_url=again,
                    status=200,
                )
            return self._error(
                f"Facebook answered with an error: {request.args.get('error_description') or request.args['error']}.",
                "Nothing was connected. Try again.",
                agent_id=flow.agent_id,
                retry_url=again,
            )
        code = request.args.get("code")
        if not code:
            end_flow(flow)
            return self._error(
                "Facebook's answer carried no login code.", "Nothing was connected. Try again.", retry_url=again
            )
        if flow.kind == "whatsapp":
            return self.whatsapp_signed_up(flow, code)
        try:
            short = meta.exchange_code(code, flow.redirect_uri)
            token = meta.long_lived(short)
            granted, _declined = meta.granted_permissions(token)
            missing = [s for s in meta.SCOPES[flow.kind] if s not in granted]
            if missing:
                end_flow(flow)
                self._audit("account.connect_failed", channel=flow.kind, missing_scopes=missing)
                return self._error(
                    "Some permissions ChatPad needs were switched off in Facebook's dialog, so nothing was connected.",
                    "Press Connect again and keep these permissions on:",
                    agent_id=flow.agent_id,
                    retry_url=url_for(".start", kind=flow.kind, agent=flow.agent_id, rerequest="1"),
                    missing=[(s, meta.SCOPE_REASONS.get(s, "")) for s in missing],
                )
            who = meta.me(token)
            pages = meta.fetch_pages(token)
        except meta.ConnectError as exc:
            end_flow(flow)
            self._audit("account.connect_failed", channel=flow.kind, code=exc.code, subcode=exc.subcode)
            return self._error(exc.what, exc.todo, agent_id=flow.agent_id, retry_url=again, status=502)

        flow.granted_scopes = sorted(granted)
        # Without business_management Graph leaves every Page's `business` out: owner unknown, not "personal".
        flow.extra["owners_known"] = "business_management" in granted
        flow.platform_user = {"id": who.get("id"), "name": who.get("name")}
        flow.candidates, without = _candidates(flow.kind, pages)
        flow.extra["pages_without_instagram"] = without
        flow.extra["pages_total"] = len(pages)
        if flow.account_id:
            return self._finish_reconnect(flow)
        if not flow.candidates:
            end_flow(flow)
            if flow.kind == "instagram":
                what = (
                    "None of the Pages you granted has an Instagram professional account linked to it."
                    if pages
                    else "No Page was granted in Facebook's dialog, so there is no Instagram account to connect."
                )
                todo = (
                    "Link each Instagram professional account to its Facebook Page (Meta Business Suite → Settings → "
                    "Instagram accounts), then press Connect Instagram again and keep those Pages selected."
                )
            else:
                what = "No Page was granted in Facebook's dialog, so there is nothing to connect."
                todo = "Press Connect again and keep the Pages you want selected in Facebook's dialog."
            return self._error(what, todo, agent_id=flow.agent_id, retry_url=again, status=200)
        flow.stage = "selecting"
        save_flow(flow)
        return redirect(url_for(".select_accounts", flow_id=flow.id))

    def _finish_reconnect(self, flow: Flow):
        account = self._account(flow.account_id)
        candidate = flow.candidate(account.account_id)
        who = flow.platform_user.get("name") or "the Facebook user who logged in"
        if candidate is None:
            end_flow(flow)
            self._audit("account.reconnect_failed", account_id=account.account_id, reason="not granted")
            return self._error(
                f"{who} did not give ChatPad access to {account.account_name}: they may not manage it, or it was "
                "unticked in Facebook's dialog. Nothing changed.",
                f"Press Reconnect again, log in as someone with full control of {account.account_name}'s Page, and "
                "keep it selected.",
                agent_id=account.agent_id,
                retry_url=url_for(".reconnect", account_id=str(account.id)),
            )
        outcome = connect.connect_meta(
            kind=flow.kind,
            org_id=self._org_id(),
            agent=account.agent,
            user_id=current_user.id,
            selections=[(candidate, str(account.location_id) if account.location_id else None)],
            platform_user=flow.platform_user,
            granted_scopes=flow.granted_scopes,
            ip=request.remote_addr,
        )[0]
        end_flow(flow)
        if not outcome.ok:
            return self._error(
                f"{account.account_name} could not be reconnected: {outcome.what}",
                outcome.todo or "Try again.",
                agent_id=account.agent_id,
                retry_url=url_for(".reconnect", account_id=str(account.id)),
                status=502,
            )
        waiting = f" {outcome.resumed} waiting message(s) are being sent now." if outcome.resumed else ""
        flash(f"{account.account_name} is reconnected.{waiting}", "success")
        return redirect(self._index_url(account.agent_id))

    # --- selection ---

    @expose("/flows/<flow_id>/select", methods=["GET", "POST"])
    def select_accounts(self, flow_id: str):
        """Step 3: which of the granted Pages (or Instagram accounts) to connect."""
        try:
            flow = self._flow(flow_id)
        except FlowError as exc:
            return self._error(exc.reason, "Open Integrations and press Connect again.")
        agent = self._agent(flow.agent_id)
        rows = self._selection_rows(flow, agent)
        error = None
        if request.method == "POST":
            chosen = set(request.form.getlist("candidate"))
            allowed = {r["id"] for r in rows if r["selectable"]}
            picked = [r["id"] for r in rows if r["id"] in chosen and r["id"] in allowed]
            if not picked:
                error = "Select at least one account to connect."
            else:
                flow.selected = picked
                flow.stage = "assigning"
                try:
                    save_flow(flow)
                except FlowError as exc:
                    return self._error(exc.reason, "Open Integrations and press Connect again.")
                return redirect(url_for(".assign_locations", flow_id=flow.id))
        return self.render(
            "integrations/select.html",
            flow=flow,
            agent=agent,
            rows=rows,
            error=error,
            without=flow.extra.get("pages_without_instagram") or [],
            owners_known=flow.extra.get("owners_known", True),
        )

    def _selection_rows(self, flow: Flow, agent: Agent) -> list[dict]:
        channel = "facebook" if flow.kind == "facebook" else "instagram"
        held = connect.holders(self._org_id(), agent.id, channel, [c["id"] for c in flow.candidates])
        location_names = [loc.name for loc in connect.agent_locations(agent)]
        rows = []
        for c in flow.candidates:
            holder: Holder = held[c["id"]]
            selectable = holder.selectable and c.get("can_message", True)
            note = holder.label
            if not c.get("can_message", True):
                tasks = ", ".join(t.title() for t in c.get("tasks") or []) or "none"
                note = f"Your role on this Page does not include messaging (your tasks: {tasks})"
            matched = best_match([c["name"], c.get("username") or ""], location_names)
            rows.append(
                {
                    **{k: v for k, v in c.items() if k != "access_token"},
                    "selectable": selectable,
                    "note": note,
                    "holder": holder.kind,
                    "matched": matched,
                    "checked": selectable
                    and (c["id"] in flow.selected or (not flow.selected and (matched or holder.kind == "this_agent"))),
                }
            )
        return rows

    # --- assignment ---

    @expose("/flows/<flow_id>/assign", methods=["GET", "POST"])
    def assign_locations(self, flow_id: str):
        """Step 4: a location (or General) for each selected account, then step 5: subscribe and store."""
        try:
            flow = self._flow(flow_id)
        except FlowError as exc:
            return self._error(exc.reason, "Open Integrations and press Connect again.")
        if not flow.selected:
            return redirect(url_for(".select_accounts", flow_id=flow.id))
        agent = self._agent(flow.agent_id)
        locations = connect.agent_locations(agent)
        rows = self._assignment_rows(flow, agent, locations)
        if request.method == "GET":
            return self.render("integrations/assign.html", flow=flow, agent=agent, rows=rows, locations=locations)

        valid = {str(loc.id) for loc in locations}
        if request.form.get("action") == "add_location":
            return self._add_location(flow, agent, rows, locations, valid)
        selections = []
        for row in rows:
            value = request.form.get(f"location-{row['id']}", "")
            if value and value not in valid:
                abort(400)
            flow.assignments[row["id"]] = value
            selections.append((flow.candidate(row["id"]), value or None))
        return self._connect(flow, agent, selections)

    def _add_location(self, flow: Flow, agent: Agent, rows: list[dict], locations, valid: set[str]):
        """A location created from the assignment step (issue 22): the choices made so far are kept, and accounts
        still on General whose name matches the new location are moved to it."""
        for row in rows:
            value = request.form.get(f"location-{row['id']}", "")
            flow.assignments[row["id"]] = value if value in valid else ""
        name = " ".join((request.form.get("new_location_name") or "").split())
        problem = None
        if not name:
            problem = "Type the new location's name."
        elif len(name) > 200:
            problem = "A location's name has at most 200 characters."
        elif any(loc.name.lower() == name.lower() for loc in locations):
            problem = f"There is already a location called {name}."
        if problem:
            save_flow(flow)
            rows = self._assignment_rows(flow, agent, locations)
            return (
                self.render(
                    "integrations/assign.html",
                    flow=flow,
                    agent=agent,
                    rows=rows,
                    locations=locations,
                    location_error=problem,
                    new_location_name=name,
                ),
                400,
            )
        timezone = locations[0].timezone if locations else "America/Chicago"
        location = Location(agent_id=agent.id, name=name, timezone=timezone)
        db.session.add(location)
        db.session.flush()
        record_audit(
            "location.create",
            organization_id=self._org_id(),
            user_id=current_user.id,
            target=location,
            detail={"name": name, "from": "connect flow"},
            ip=request.remote_addr,
        )
        db.session.commit()
        moved = 0
        for row in rows:
            if flow.assignments.get(row["id"]) == "" and best_match(
                [row["name"], row.get("username") or ""], [location], label=lambda loc: loc.name
            ):
                flow.assignments[row["id"]] = str(location.id)
                moved += 1
        save_flow(flow)
        matched = (
            f" {moved} account{'' if moved == 1 else 's'} matching its name now point{'s' if moved == 1 else ''} to it."
            if moved
            else ""
        )
        flash(
            f"Location {name} is added.{matched} Set its address and hours in Setup → Locations after connecting.",
            "success",
        )
        return redirect(url_for(".assign_locations", flow_id=flow.id))

    def _assignment_rows(self, flow: Flow, agent: Agent, locations) -> list[dict]:
        channel = "facebook" if flow.kind == "facebook" else "instagram"
        held = connect.holders(self._org_id(), agent.id, channel, flow.selected)
        by_id = {str(loc.id): loc for loc in locations}
        page_locations = {}
        if flow.kind == "instagram":
            # An Instagram account most likely serves the location its Facebook Page serves.
            pages = db.session.scalars(
                select(SocialAccount).where(
                    SocialAccount.channel == "facebook",
                    SocialAccount.agent_id == agent.id,
                    SocialAccount.account_id.in_([c.get("page_id") for c in flow.candidates]),
                )
            )
            page_locations = {p.account_id: str(p.location_id) for p in pages if p.location_id}
        rows = []
        for cid in flow.selected:
            c = flow.candidate(cid)
            if c is None:
                continue
            holder = held[cid]
            chosen, how = flow.assignments.get(cid), None
            if chosen is None and holder.account is not None and holder.account.location_id:
                chosen, how = str(holder.account.location_id), "its current location"
            if chosen is None and page_locations.get(c.get("page_id")):
                chosen, how = page_locations[c["page_id"]], "its Facebook Page's location"
            if chosen is None:
                match = best_match([c["name"], c.get("username") or ""], locations, label=lambda loc: loc.name)
                if match is not None:
                    chosen, how = str(match.id), "the name"
            rows.append(
                {
                    **{k: v for k, v in c.items() if k != "access_token"},
                    "location": chosen if chosen in by_id else "",
                    "how": how,
                }
            )
        return rows

    def _connect(self, flow: Flow, agent: Agent, selections):
        outcomes = connect.connect_meta(
            kind=flow.kind,
            org_id=self._org_id(),
            agent=agent,
            user_id=current_user.id,
            selections=selections,
            platform_user=flow.platform_user,
            granted_scopes=flow.granted_scopes,
            ip=request.remote_addr,
        )
        ok = [o for o in outcomes if o.ok]
        failed = [o for o in outcomes if not o.ok]
        noun = "Page" if flow.kind == "facebook" else "Instagram account"
        if ok:
            flash(f"Connected {len(ok)} {noun}{'' if len(ok) == 1 else 's'}.", "success")
        if not failed:
            end_flow(flow)
            return redirect(self._index_url(agent.id))
        flow.results = [vars(o) for o in outcomes]
        flow.selected = [o.candidate_id for o in failed if o.status == "failed"]
        flow.stage = "done"
        try:
            save_flow(flow)
        except FlowError:
            flow.selected = []
        return self.render(
            "integrations/result.html",
            flow=flow,
            agent=agent,
            ok=ok,
            failed=failed,
            noun=noun,
            can_retry=bool(flow.selected),
        )

    @expose("/flows/<flow_id>/retry", methods=["POST"])
    def retry(self, flow_id: str):
        """Try the accounts that failed again, with the locations already chosen."""
        try:
            flow = self._flow(flow_id)
        except FlowError as exc:
            return self._error(exc.reason, "Open Integrations and press Connect again.")
        agent = self._agent(flow.agent_id)
        selections = [(flow.candidate(cid), flow.assignments.get(cid) or None) for cid in flow.selected]
        selections = [(c, loc) for c, loc in selections if c is not None]
        if not selections:
            return redirect(self._index_url(agent.id))
        return self._connect(flow, agent, selections)

    # --- one account ---

    @expose("/accounts/<account_id>/active", methods=["POST"])
    def toggle_active(self, account_id: str):
        """Pause or resume: a JSON answer for the page's script (changed in place, with undo), else a redirect."""
        account = self._account(account_id)
        active = request.form.get("active") == "1"
        try:
            resumed = connect.set_active(account, active, user_id=current_user.id, ip=request.remote_addr)
        except ValueError as exc:
            if wants_json():
                return jsonify(ok=False, error=str(exc)), 400
            flash(str(exc), "error")
            return redirect(self._index_url(account.agent_id))
        state = "active: ChatPad answers its messages" if active else "paused: ChatPad ignores its messages"
        extra = f" {resumed} waiting message(s) are being sent." if resumed else ""
        message = f"{account.account_name} is {state}.{extra}"
        if wants_json():
            return jsonify(
                ok=True,
                message=message,
                active=account.is_active,
                health=health_of(account),
                undo="1" if not active else "0",
            )
        flash(message, "success")
        return redirect(self._index_url(account.agent_id))

    @expose("/accounts/<account_id>/location", methods=["POST"])
    def change_location(self, account_id: str):
        """Move an account to a location: a JSON answer for the page's script (with what undo sends), else a
        redirect."""
        account = self._account(account_id)
        previous = str(account.location_id) if account.location_id else ""
        try:
            location = connect.resolve_location(account.agent, request.form.get("location") or None)
            connect.set_location(account, location, user_id=current_user.id, ip=request.remote_addr)
        except ValueError as exc:
            if wants_json():
                return jsonify(ok=False, error=str(exc)), 400
            flash(str(exc), "error")
            return redirect(self._index_url(account.agent_id))
        message = f"{account.account_name} now answers for {account.location_label}."
        if wants_json():
            return jsonify(
                ok=True,
                message=message,
                location=str(account.location_id) if account.location_id else "",
                location_label=account.location_label,
                undo=previous,
            )
        flash(message, "success")
        return redirect(self._index_url(account.agent_id))

    @expose("/accounts/<account_id>/disconnect", methods=["POST"])
    def disconnect(self, account_id: str):
        """Unsubscribe, deactivate, keep the history."""
        account = self._account(account_id)
        if account.status == "disconnected":
            return redirect(self._index_url(account.agent_id))
        released = sms.release(account) if account.channel == "sms" else None
        warning = connect.disconnect(account, user_id=current_user.id, ip=request.remote_addr, warning=released)
        flash(
            f"{account.account_name} is disconnected. Its conversations stay in the inbox.",
            "success",
        )
        if warning:
            flash(warning, "warning")
        return redirect(self._index_url(account.agent_id))


def _widget_url(account: SocialAccount | None = None) -> str | None:
    """A widget's own settings page (or "add a widget" without one), when the widget package provides them."""
    if account is None:
        return url_for("widgets.create") if "widgets.create" in current_app.view_functions else None
    if "widgets.edit" in current_app.view_functions:
        return url_for("widgets.edit", widget_id=str(account.id))
    return None


def _candidates(kind: str, pages: list[meta.PageInfo]) -> tuple[list[dict], list[str]]:
    """What the selection screen offers: the Pages, or the Instagram accounts linked to them (and the Pages that have
    none, so the admin knows why an account is missing)."""
    if kind == "facebook":
        return [
            {
                "id": p.id,
                "name": p.name,
                "access_token": p.access_token,
                "category": p.category,
                "tasks": p.tasks,
                "can_message": p.can_message,
                "business": (p.business or {}).get("name") or ((p.business or {}).get("id") and "a business"),
                "instagram_username": (p.instagram or {}).get("username"),
            }
            for p in pages
        ], []
    candidates, without = [], []
    for p in pages:
        ig = p.instagram
        if not ig:
            without.append(p.name)
            continue
        candidates.append(
            {
                "id": str(ig["id"]),
                "name": ig.get("name") or ig.get("username") or str(ig["id"]),
                "username": ig.get("username"),
                "picture": ig.get("profile_picture_url"),
                "page_id": p.id,
                "page_name": p.name,
                "business": (p.business or {}).get("name") or ((p.business or {}).get("id") and "a business"),
                "access_token": p.access_token,  # Page-linked Instagram messaging uses the Page's token
                "category": p.category,
                "tasks": p.tasks,
                "can_message": p.can_message,
            }
        )
    return candidates, without
