"""The Connect SMS screens: credentials, then the account's numbers with a location each (chatpad.integrations.sms).

What was typed is kept server-side in the encrypted connection flow (chatpad/integrations/flows.py) between the two
screens, never in the page; the Auth Token is never shown again once typed.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user

from chatpad.channels.phone import display
from chatpad.channels.sms.providers import Credentials, NumberInfo, ProviderError

from . import connect, sms
from .flows import FlowError, end_flow, load_flow, save_flow, start_flow
from .matching import best_match


class SmsScreens:
    """Mixed into IntegrationsView: /sms/new and /sms/flows/<id>/numbers."""

    @expose("/sms/new", methods=["GET", "POST"])
    def sms_new(self):
        """Step 1: the Twilio account's credentials, checked with Twilio before anything else."""
        agent = self._agent(request.values.get("agent"))  # type: ignore[attr-defined]
        if agent is None:
            abort(404)
        error = None
        values = {k: (request.values.get(k) or "").strip() for k in ("account_sid", "api_key_sid")}
        if request.method == "POST":
            try:
                creds = sms.read_credentials(request.form)
                account, numbers = sms.fetch_numbers(creds)
            except sms.CredentialsError as exc:
                error = str(exc)
            except ProviderError as exc:
                error = f"{exc.what} {exc.todo}".strip()
            else:
                if not numbers:
                    error = (
                        f"The Twilio account {account.get('friendly_name') or creds.account_sid} has no SMS-capable "
                        "phone number. Buy one in Twilio's console (Phone Numbers → Buy a number), then try again."
                    )
                else:
                    flow = start_flow(
                        "sms",
                        organization_id=self._org_id(),  # type: ignore[attr-defined]
                        user_id=current_user.id,
                        agent_id=str(agent.id),
                        redirect_uri="",
                    )
                    flow.candidates = [{"id": n.phone_number, **sms.serialize(n)} for n in numbers]
                    flow.extra = {
                        "credentials": {
                            "account_sid": creds.account_sid,
                            "auth_token": creds.auth_token,
                            "api_key_sid": creds.api_key_sid,
                            "api_key_secret": creds.api_key_secret,
                        },
                        "twilio_account": account.get("friendly_name") or creds.account_sid,
                    }
                    flow.stage = "assigning"
                    save_flow(flow)
                    return redirect(url_for(".sms_numbers", flow_id=flow.id))
        return self.render(  # type: ignore[attr-defined]
            "integrations/sms_new.html", agent=agent, error=error, values=values, webhook=sms.webhook_target()
        )

    def _sms_rows(self, flow, agent, results: dict | None = None) -> list[dict]:
        locations = connect.agent_locations(agent)
        held = sms.holders(self._org_id(), agent.id, [c["id"] for c in flow.candidates])  # type: ignore[attr-defined]
        target = sms.webhook_target()
        rows = []
        for c in flow.candidates:
            holder = held[c["id"]]
            chosen = flow.assignments.get(c["id"])
            if chosen is None and holder.account is not None and holder.account.location_id:
                chosen = str(holder.account.location_id)
            if chosen is None:
                match = best_match([c["friendly_name"]], locations, label=lambda loc: loc.name)
                chosen = str(match.id) if match is not None else ""
            elsewhere = c.get("inbound_url") and c["inbound_url"] != target
            rows.append(
                {
                    **c,
                    "display": display(c["phone_number"]),
                    "location": chosen,
                    "holder": holder.kind,
                    "note": holder.label,
                    "selectable": holder.selectable,
                    "checked": holder.selectable and (c["id"] in flow.selected or (not flow.selected and bool(chosen))),
                    "elsewhere": c["inbound_url"] if elsewhere else None,
                    "result": (results or {}).get(c["id"]),
                }
            )
        return rows

    @expose("/sms/flows/<flow_id>/numbers", methods=["GET", "POST"])
    def sms_numbers(self, flow_id: str):
        """Steps 2–5: pick numbers and their locations; ChatPad points each at itself, reads it back, stores it."""
        try:
            flow = load_flow(flow_id, user_id=current_user.id, organization_id=self._org_id())  # type: ignore
        except FlowError as exc:
            return self._error(exc.reason, "Open Integrations and connect SMS again.")  # type: ignore[attr-defined]
        if flow.kind != "sms":
            abort(404)
        agent = self._agent(flow.agent_id)  # type: ignore[attr-defined]
        locations = connect.agent_locations(agent)
        rows = self._sms_rows(flow, agent)
        if request.method == "GET":
            return self.render(
                "integrations/sms_numbers.html",
                flow=flow,
                agent=agent,
                rows=rows,  # type: ignore
                locations=locations,
                error=None,
            )
        valid = {str(loc.id): loc for loc in locations}
        chosen = set(request.form.getlist("number"))
        picked = [r for r in rows if r["id"] in chosen and r["selectable"]]
        for row in rows:
            value = request.form.get(f"location-{row['id']}", "")
            if value and value not in valid:
                abort(400)
            flow.assignments[row["id"]] = value
        flow.selected = [r["id"] for r in picked]
        if not picked:
            return self.render(
                "integrations/sms_numbers.html",
                flow=flow,
                agent=agent,  # type: ignore
                rows=self._sms_rows(flow, agent),
                locations=locations,
                error="Select at least one number to connect.",
            )
        creds = Credentials(**flow.extra["credentials"])
        selections = [
            (
                NumberInfo(**{k: v for k, v in r.items() if k in NumberInfo.__dataclass_fields__}),
                valid.get(flow.assignments.get(r["id"]) or ""),
            )
            for r in picked
        ]
        outcomes = sms.connect_numbers(
            org_id=self._org_id(),  # type: ignore[attr-defined]
            agent=agent,
            user_id=current_user.id,
            creds=creds,
            selections=selections,
            ip=request.remote_addr,
        )
        ok = [o for o in outcomes if o.ok]
        failed = [o for o in outcomes if not o.ok]
        if ok:
            flash(
                f"Connected {len(ok)} number{'' if len(ok) == 1 else 's'}: each now sends its texts to ChatPad "
                "(checked with Twilio).",
                "success",
            )
        if not failed:
            end_flow(flow)
            return redirect(url_for(".index", agent=str(agent.id)))
        flow.selected = [o.candidate_id for o in failed if o.status == "failed"]
        save_flow(flow)
        results = {o.candidate_id: o for o in outcomes}
        return self.render(
            "integrations/sms_numbers.html",
            flow=flow,
            agent=agent,  # type: ignore
            rows=self._sms_rows(flow, agent, results),
            locations=locations,
            error=f"{len(failed)} number{'' if len(failed) == 1 else 's'} could not be connected: see below.",
        )
