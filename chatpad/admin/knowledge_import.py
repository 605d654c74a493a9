"""Setup → Import knowledge (/admin/knowledge-import/): read a web page, a PDF or a CSV of listings into knowledge
items, preview what will be written (counts that add up, every row left out with its reason), then import.

The preview is kept in Redis for PREVIEW_TTL seconds under a random token tied to the organization and the user, so
the import writes exactly what was previewed (a page is not fetched twice, a file is not uploaded twice)."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select
from werkzeug.utils import secure_filename

from chatpad import knowledge as K
from chatpad.admin.views import SecureViewMixin, current_org_id, current_scope
from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Agent, KnowledgeItem, Location
from chatpad.queue import get_redis

PREVIEW_TTL = 3600
SOURCES = {"url": "A web page", "pdf": "A PDF", "csv": "A CSV of listings"}
FILE_MAX_BYTES = 10 * 1024 * 1024


def _key(token: str) -> str:
    return f"chatpad:knowledge-import:{token}"


class KnowledgeImportView(SecureViewMixin, BaseView):
    """The import page: a form, a preview, the import."""

    def _agents(self) -> list[Agent]:
        return list(
            db.session.scalars(select(Agent).where(Agent.organization_id == current_org_id()).order_by(Agent.name))
        )

    def _locations(self) -> list[Location]:
        return list(db.session.scalars(select(Location).where(current_scope().where(Location)).order_by(Location.name)))

    def _form(self, *, error: str | None = None, values: dict | None = None, status: int = 200):
        body = self.render(
            "knowledge/import.html",
            agents=self._agents(),
            locations=self._locations(),
            sources=SOURCES,
            error=error,
            values=values or {},
        )
        return body, status

    @expose("/")
    def index(self):
        return self._form(values={"source": request.args.get("source", "url")})

    def _target(self, values: dict) -> tuple[Agent, Location | None]:
        """The agent and location chosen, of this organization (and this user's locations)."""
        agents = {str(a.id): a for a in self._agents()}
        locations = {str(loc.id): loc for loc in self._locations()}
        agent = agents.get(values.get("agent", "")) or (next(iter(agents.values())) if len(agents) == 1 else None)
        if agent is None:
            raise K.ImportRefused("Choose the agent the knowledge is for.")
        location = None
        if values.get("location"):
            location = locations.get(values["location"])
            if location is None or location.agent_id != agent.id:
                raise K.ImportRefused("Choose one of this agent's locations.")
        return agent, location

    @expose("/preview", methods=["POST"])
    def preview(self):
        values = {k: request.form.get(k, "").strip() for k in ("source", "url", "agent", "location")}
        try:
            if values["source"] not in SOURCES:
                raise K.ImportRefused("Choose what to import from: a web page, a PDF or a CSV of listings.")
            agent, location = self._target(values)
            plan = self._read(values, location)
        except K.ImportRefused as exc:
            return self._form(error=str(exc), values=values, status=400)
        token = secrets.token_urlsafe(24)
        stored = {
            "org": current_org_id(),
            "user": current_user.id,
            "agent": str(agent.id),
            "location": str(location.id) if location else None,
            "plan": plan.as_dict(),
        }
        get_redis().set(_key(token), json.dumps(stored), ex=PREVIEW_TTL)
        return self.render(
            "knowledge/import_preview.html", plan=plan, token=token, agent=agent, location=location, values=values
        )

    def _read(self, values: dict, location: Location | None) -> K.ImportPlan:
        source = values["source"]
        if source == "url":
            if not values["url"]:
                raise K.ImportRefused("Enter the web page's address.")
            return K.fetch_page(values["url"])
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise K.ImportRefused("Choose a file to upload.")
        data = upload.stream.read(FILE_MAX_BYTES + 1)
        if len(data) > FILE_MAX_BYTES:
            raise K.ImportRefused(f"The file is larger than {FILE_MAX_BYTES // (1024 * 1024)} MB.")
        name = secure_filename(upload.filename) or ("upload.pdf" if source == "pdf" else "upload.csv")
        if source == "pdf":
            return K.read_pdf(data, name)
        if location is None:
            raise K.ImportRefused("Choose the location the listings are at.")
        rows = db.session.execute(
            select(KnowledgeItem.id, KnowledgeItem.data).where(
                KnowledgeItem.location_id == location.id, KnowledgeItem.kind == "property"
            )
        )
        lots = {str((data or {}).get("lot")).lower(): id_ for id_, data in rows if (data or {}).get("lot")}
        return K.read_listings_csv(data, lots, name)

    @expose("/confirm", methods=["POST"])
    def confirm(self):
        token = request.form.get("token", "")
        raw = get_redis().get(_key(token)) if token and len(token) < 100 else None
        if raw is None:
            flash("That preview has expired; read the source again.", "error")
            return redirect(url_for(".index"))
        stored: dict[str, Any] = json.loads(raw)
        if stored["org"] != current_org_id() or stored["user"] != current_user.id:
            abort(404)
        agent = db.session.get(Agent, uuid.UUID(stored["agent"]))
        location = db.session.get(Location, uuid.UUID(stored["location"])) if stored["location"] else None
        allowed = {loc.id for loc in self._locations()}
        if agent is None or agent.organization_id != current_org_id() or (location and location.id not in allowed):
            abort(404)
        plan = K.ImportPlan.from_dict(stored["plan"])
        created = updated = 0
        for item in plan.items:
            row = db.session.get(KnowledgeItem, item.existing_id) if item.existing_id else None
            if row is not None and row.agent_id == agent.id and row.location_id == (location.id if location else None):
                row.title, row.body, row.active = item.title, item.body, True
                row.data = {**(row.data or {}), **item.data}
                updated += 1
            else:
                db.session.add(
                    KnowledgeItem(
                        agent_id=agent.id,
                        location_id=location.id if location else None,
                        kind=item.kind,
                        title=item.title,
                        body=item.body,
                        data=item.data,
                    )
                )
                created += 1
        record_audit(
            "knowledge.import",
            organization_id=current_org_id(),
            user_id=current_user.id,
            target_type="agent",
            target_id=str(agent.id),
            detail={"source": plan.source, "created": created, "updated": updated, "left_out": len(plan.problems)},
            ip=request.remote_addr,
        )
        db.session.commit()
        get_redis().delete(_key(token))
        where = f" at {location.name}" if location else " for every location"
        flash(
            f"Imported from {plan.source}{where}: {created} new, {updated} updated"
            + (f", {len(plan.problems)} left out (listed in the preview)." if plan.problems else "."),
            "success",
        )
        return redirect(url_for("knowledge.index_view"))
