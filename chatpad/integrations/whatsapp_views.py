"""The WhatsApp screens of the Integrations tab: Sync templates on a connected number (chatpad.integrations.whatsapp),
and Connect WhatsApp (Embedded Signup through Facebook Login, then a location per number)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user

from chatpad.audit import record_audit
from chatpad.channels.errors import SendError
from chatpad.extensions import db

from . import connect, meta, whatsapp
from .flows import FlowError, end_flow, load_flow, save_flow
from .matching import best_match


class WhatsAppScreens:
    """Mixed into IntegrationsView: /accounts/<id>/whatsapp/templates and the connect flow."""

    @expose("/accounts/<account_id>/whatsapp/templates", methods=["POST"])
    def whatsapp_sync_templates(self, account_id: str):
        """Sync templates: read the number's WABA's templates now (new approvals show in the reply box at once)."""
        account = self._account(account_id)  # type: ignore[attr-defined]
        back = redirect(self._index_url(account.agent_id) + "#whatsapp")  # type: ignore[attr-defined]
        if account.channel != "whatsapp":
            flash("Only WhatsApp numbers have message templates.", "error")
            return back
        try:
            result = whatsapp.sync_account_templates(account)
        except (SendError, ValueError) as exc:
            db.session.rollback()
            flash(f"Templates of {account.account_name} were not synced: {exc}", "error")
            return back
        record_audit(
            "whatsapp.templates_synced",
            organization_id=account.organization_id,
            user_id=current_user.id,
            target=account,
            detail={"total": result.total, "approved": result.approved, "removed": result.removed},
            ip=request.remote_addr,
        )
        db.session.commit()
        flash(
            f"Synced {result.total} template{'' if result.total == 1 else 's'} of {account.account_name}'s WhatsApp "
            f"Business Account: {result.approved} approved (the ones the reply box offers)"
            + (f", {result.removed} no longer on WhatsApp removed." if result.removed else "."),
            "success",
        )
        return back

    # --- Connect WhatsApp: Embedded Signup, then a location per number ---

    def whatsapp_signed_up(self, flow, code: str):
        """Facebook's dialog came back with a code: exchange it for the business token, find the shared WABAs and
        their numbers, and go on to picking numbers and locations."""
        again = url_for(".start", kind="whatsapp", agent=flow.agent_id)
        try:
            token = meta.exchange_code(code, flow.redirect_uri)
            wabas, candidates = whatsapp.signup_numbers(token.access_token)
        except meta.ConnectError as exc:
            end_flow(flow)
            self._audit("account.connect_failed", channel="whatsapp", code=exc.code, subcode=exc.subcode)  # type: ignore[attr-defined]
            return self._error(exc.what, exc.todo, agent_id=flow.agent_id, retry_url=again, status=502)  # type: ignore[attr-defined]
        except SendError as exc:
            end_flow(flow)
            return self._error(  # type: ignore[attr-defined]
                f"WhatsApp answered with an error while listing the numbers: {exc}",
                "Nothing was connected. Try again in a minute.",
                agent_id=flow.agent_id,
                retry_url=again,
                status=502,
            )
        if not candidates:
            end_flow(flow)
            what = (
                "The WhatsApp Business account shared in Facebook's dialog has no phone number yet."
                if wabas
                else "No WhatsApp Business account was shared in Facebook's dialog, so there is nothing to connect."
            )
            return self._error(  # type: ignore[attr-defined]
                what,
                "Add a number in WhatsApp Manager (or keep the account selected in the dialog), then press Connect "
                "WhatsApp again.",
                agent_id=flow.agent_id,
                retry_url=again,
                status=200,
            )
        flow.candidates = candidates
        flow.extra = {"token": token.access_token, "wabas": wabas}  # the flow is stored encrypted, server-side
        flow.stage = "assigning"
        save_flow(flow)
        return redirect(url_for(".whatsapp_numbers", flow_id=flow.id))

    def _whatsapp_rows(self, flow, agent, results: dict | None = None) -> list[dict]:
        locations = connect.agent_locations(agent)
        held = connect.holders(self._org_id(), agent.id, "whatsapp", [c["id"] for c in flow.candidates])  # type: ignore[attr-defined]
        rows = []
        for c in flow.candidates:
            holder = held[c["id"]]
            chosen = flow.assignments.get(c["id"])
            if chosen is None and holder.account is not None and holder.account.location_id:
                chosen = str(holder.account.location_id)
            if chosen is None:
                match = best_match([c["name"]], locations, label=lambda loc: loc.name)
                chosen = str(match.id) if match is not None else ""
            rows.append(
                {
                    **c,
                    "location": chosen,
                    "note": holder.label,
                    "selectable": holder.selectable,
                    "checked": holder.selectable and (c["id"] in flow.selected or (not flow.selected and bool(chosen))),
                    "result": (results or {}).get(c["id"]),
                }
            )
        return rows

    @expose("/whatsapp/flows/<flow_id>/numbers", methods=["GET", "POST"])
    def whatsapp_numbers(self, flow_id: str):
        """Pick the WABA's numbers and a location for each; ChatPad subscribes to the WABA, checks each number, and
        only then stores it as connected (and syncs the templates)."""
        try:
            flow = load_flow(flow_id, user_id=current_user.id, organization_id=self._org_id())  # type: ignore[attr-defined]
        except FlowError as exc:
            return self._error(exc.reason, "Open Integrations and press Connect WhatsApp again.")  # type: ignore[attr-defined]
        if flow.kind != "whatsapp" or flow.stage != "assigning":
            abort(404)
        agent = self._agent(flow.agent_id)  # type: ignore[attr-defined]
        locations = connect.agent_locations(agent)

        def page(error=None, results=None, status=200):
            rows = self._whatsapp_rows(flow, agent, results)
            html = self.render(  # type: ignore[attr-defined]
                "integrations/whatsapp_numbers.html",
                flow=flow,
                agent=agent,
                rows=rows,
                locations=locations,
                error=error,
            )
            return html, status

        if request.method == "GET":
            return page()
        valid = {str(loc.id): loc for loc in locations}
        rows = self._whatsapp_rows(flow, agent)
        chosen = set(request.form.getlist("number"))
        picked = [r for r in rows if r["id"] in chosen and r["selectable"]]
        for row in rows:
            value = request.form.get(f"location-{row['id']}", "")
            if value and value not in valid:
                return page("That location is not one of this agent's.", status=400)
            flow.assignments[row["id"]] = value
        flow.selected = [r["id"] for r in picked]
        if not picked:
            return page("Select at least one number to connect.", status=400)
        by_id = {c["id"]: c for c in flow.candidates}
        outcomes = whatsapp.connect_numbers(
            org_id=self._org_id(),  # type: ignore[attr-defined]
            agent=agent,
            user_id=current_user.id,
            bearer=flow.extra["token"],
            selections=[(by_id[r["id"]], valid.get(flow.assignments.get(r["id"]) or "")) for r in picked],
            ip=request.remote_addr,
        )
        ok = [o for o in outcomes if o.ok]
        failed = [o for o in outcomes if not o.ok]
        if ok:
            flash(
                f"Connected {len(ok)} WhatsApp number{'' if len(ok) == 1 else 's'}: ChatPad is subscribed to the "
                "WhatsApp Business account and each number was checked with WhatsApp; templates synced.",
                "success",
            )
        if not failed:
            end_flow(flow)
            return redirect(url_for(".index", agent=str(agent.id)) + "#whatsapp")
        flow.selected = [o.candidate_id for o in failed if o.status == "failed"]
        save_flow(flow)
        return page(
            f"{len(failed)} number{'' if len(failed) == 1 else 's'} could not be connected: see below.",
            results={o.candidate_id: o for o in outcomes},
            status=200,
        )
