"""The admin's privacy pages (menu "Privacy"), each scoped to the signed-in user's organization:

- Customer data: find a customer by name, email, phone or platform id; see what is stored; export it as a ZIP;
  erase it after a confirmation that says what will go.
- Retention: how many days conversations are kept.
- Audit log: read-only list of who did what (sign-ins, connections, takeovers, exports, erasures, retention runs).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import func, or_, select
from wtforms import BooleanField, IntegerField, SearchField
from wtforms.validators import DataRequired, NumberRange, Optional

from chatpad.admin.views import SecureViewMixin, TenantModelView, current_org_id
from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import (
    Attachment,
    AuditLog,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Organization,
)
from chatpad.security import hit_limit

from .audit_names import named_detail, target_label
from .erase import erase_contact, preview_erasure
from .export import export_contact
from .retention import MAX_RETENTION_DAYS, expired_conversations

SEARCH_LIMIT = 50


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = SearchField("Name, email, phone or platform id", validators=[Optional()])


class ExportForm(FlaskForm):
    """Only the CSRF token: an export is a POST because it is an audited disclosure."""


class EraseForm(FlaskForm):
    confirm = BooleanField(
        "I understand that this deletes this customer's data for good and cannot be undone.",
        validators=[DataRequired("Tick the box to confirm.")],
    )


class RetentionForm(FlaskForm):
    retention_days = IntegerField(
        "Delete conversations after this many days without a message",
        validators=[Optional(), NumberRange(min=1, max=MAX_RETENTION_DAYS)],
        description=f"Empty: keep conversations until someone deletes them. At most {MAX_RETENTION_DAYS} days.",
    )


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class CustomerDataView(SecureViewMixin, BaseView):
    """Find one customer and export or erase everything about them."""

    def _contact(self, contact_id: str) -> Contact:
        try:
            pk = uuid.UUID(contact_id)
        except ValueError:
            abort(404)
        contact = db.session.scalar(select(Contact).where(Contact.id == pk, Contact.tenant_clause(current_org_id())))
        if contact is None:
            abort(404)
        return contact

    @expose("/")
    def index(self):
        form = SearchForm(request.args)
        q = (form.q.data or "").strip()
        results: list[dict[str, Any]] = []
        too_short = 0 < len(q) < 2
        if len(q) >= 2:
            pattern = _like(q)
            by_identity = select(ContactIdentity.contact_id).where(
                or_(
                    ContactIdentity.external_id.ilike(pattern, escape="\\"),
                    ContactIdentity.display_name.ilike(pattern, escape="\\"),
                )
            )
            visible = []
            merged_into = getattr(Contact, "merged_into_id", None)
            if merged_into is not None:  # a contact merged into another (the inbox) is found as that one
                visible.append(merged_into.is_(None))
            contacts = db.session.scalars(
                select(Contact)
                .where(
                    Contact.tenant_clause(current_org_id()),
                    *visible,
                    or_(
                        Contact.name.ilike(pattern, escape="\\"),
                        Contact.email.ilike(pattern, escape="\\"),
                        Contact.phone.ilike(pattern, escape="\\"),
                        Contact.id.in_(by_identity),
                    ),
                )
                .order_by(Contact.updated_at.desc())
                .limit(SEARCH_LIMIT + 1)
            ).all()
            results = _summaries(contacts[:SEARCH_LIMIT])
        return self.render(
            "privacy/customer_data.html",
            form=form,
            q=q,
            results=results,
            too_short=too_short,
            more=len(results) == SEARCH_LIMIT,
        )

    @expose("/<contact_id>")
    def contact(self, contact_id: str):
        contact = self._contact(contact_id)
        identities = db.session.scalars(
            select(ContactIdentity).where(ContactIdentity.contact_id == contact.id).order_by(ContactIdentity.created_at)
        ).all()
        conversations = db.session.execute(
            select(Conversation, func.count(Message.id))
            .outerjoin(Message, Message.conversation_id == Conversation.id)
            .where(Conversation.contact_id == contact.id, Conversation.tenant_clause(current_org_id()))
            .group_by(Conversation.id)
            .order_by(Conversation.last_message_at.desc())
        ).all()
        attachments = db.session.scalars(
            select(Attachment)
            .join(Message, Message.id == Attachment.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.contact_id == contact.id)
            .order_by(Attachment.created_at)
        ).all()
        return self.render(
            "privacy/customer.html",
            contact=contact,
            identities=identities,
            conversations=conversations,
            attachments=attachments,
            export_form=ExportForm(),
        )

    @expose("/<contact_id>/export", methods=["POST"])
    def export(self, contact_id: str):
        contact = self._contact(contact_id)
        if not ExportForm().validate_on_submit():
            abort(400)
        limit = current_app.config.get("PRIVACY_EXPORT_RATE_LIMIT", "30 per hour")
        if not hit_limit("privacy-export", str(current_user.id), limit):
            flash(f"Too many exports in a short time (the limit is {limit}). Try again later.", "error")
            return redirect(url_for(".contact", contact_id=contact.id)), 303
        result = export_contact(contact, actor=current_user, ip=request.remote_addr)
        return send_file(
            result.file,
            mimetype="application/zip",
            as_attachment=True,
            download_name=result.filename,
            max_age=0,
        )

    @expose("/<contact_id>/erase", methods=["GET", "POST"])
    def erase(self, contact_id: str):
        contact = self._contact(contact_id)
        form = EraseForm()
        if form.validate_on_submit():
            summary = erase_contact(contact, actor=current_user, ip=request.remote_addr)
            flash(
                f"The customer was erased: {summary.conversations} conversation(s), {summary.messages} message(s), "
                f"{summary.identities} identit{'y' if summary.identities == 1 else 'ies'} and "
                f"{summary.attachments} attached file(s) deleted. Anonymous counts are kept for analytics.",
                "success",
            )
            return redirect(url_for(".index")), 303
        preview = preview_erasure(contact)
        identities = db.session.scalars(
            select(ContactIdentity).where(ContactIdentity.contact_id == contact.id).order_by(ContactIdentity.created_at)
        ).all()
        status = 400 if request.method == "POST" else 200
        return self.render(
            "privacy/erase.html", contact=contact, preview=preview, identities=identities, form=form
        ), status


def _summaries(contacts: list[Contact]) -> list[dict[str, Any]]:
    """Per contact: its channels, conversation count and last activity (three queries for the whole page)."""
    ids = [c.id for c in contacts]
    channels: dict[uuid.UUID, set[str]] = {i: set() for i in ids}
    for contact_id, channel in db.session.execute(
        select(ContactIdentity.contact_id, ContactIdentity.channel).where(ContactIdentity.contact_id.in_(ids))
    ):
        channels[contact_id].add(channel)
    activity = {
        contact_id: (count, last)
        for contact_id, count, last in db.session.execute(
            select(Conversation.contact_id, func.count(Conversation.id), func.max(Conversation.last_message_at))
            .where(Conversation.contact_id.in_(ids))
            .group_by(Conversation.contact_id)
        )
    }
    return [
        {
            "contact": c,
            "channels": sorted(channels[c.id]),
            "conversations": activity.get(c.id, (0, None))[0],
            "last_message_at": activity.get(c.id, (0, None))[1],
        }
        for c in contacts
    ]


class RetentionView(SecureViewMixin, BaseView):
    """How long the organization keeps conversations."""

    @expose("/", methods=["GET", "POST"])
    def index(self):
        org = db.session.get(Organization, current_org_id())
        form = RetentionForm(obj=org)
        if form.validate_on_submit():
            before = org.retention_days
            org.retention_days = form.retention_days.data or None
            if before != org.retention_days:
                record_audit(
                    "privacy.retention_changed",
                    organization_id=org.id,
                    user_id=current_user.id,
                    target=org,
                    detail={"from": before, "to": org.retention_days},
                    ip=request.remote_addr,
                )
            db.session.commit()
            if org.retention_days:
                flash(
                    f"Conversations are now deleted {org.retention_days} days after their last message, "
                    "at the next daily run.",
                    "success",
                )
            else:
                flash("Conversations are now kept until someone deletes them.", "success")
            return redirect(url_for(".index")), 303
        query = expired_conversations(org)
        due = db.session.scalar(select(func.count()).select_from(query.subquery())) if query is not None else 0
        runs = db.session.scalars(
            select(AuditLog)
            .where(AuditLog.tenant_clause(org.id), AuditLog.action == "privacy.retention_run")
            .order_by(AuditLog.created_at.desc())
            .limit(5)
        ).all()
        status = 400 if request.method == "POST" else 200
        return self.render("privacy/retention.html", form=form, org=org, due=due, runs=runs), status


def _detail(view, context, model, name) -> Markup:
    text = json.dumps(named_detail(model), indent=1, sort_keys=True, ensure_ascii=False, default=str)
    return Markup(f'<pre class="audit-detail">{escape(text)}</pre>')  # noqa: S704 (escaped)


def _who(view, context, model, name) -> str:
    if model.user is not None:
        return f"{model.user.name} ({model.user.email})" if model.user.name else model.user.email
    return "ChatPad" if model.user_id is None else f"user {model.user_id} (deleted)"


class AuditLogView(TenantModelView):
    """The organization's audit log: read-only, newest first, searchable, exportable as CSV."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    # Names, not ids (issue 22): "On" names the row acted on, the detail names the locations and people it mentions;
    # the ids stay in the details page and the CSV.
    column_list = ["created_at", "user", "action", "target_type", "ip", "detail"]
    column_details_list = ["created_at", "user", "action", "target_type", "target_id", "ip", "detail"]
    column_export_list = ["created_at", "user", "action", "target_type", "target_id", "ip", "detail"]
    column_labels = {"created_at": "When (UTC)", "user": "Who", "target_type": "On", "target_id": "Id", "ip": "IP"}
    column_default_sort = ("created_at", True)
    column_sortable_list = ["created_at", "action"]
    column_searchable_list = ["action", "target_type", "target_id", "ip"]
    column_filters = ["action", "target_type"]
    column_formatters = {
        "detail": _detail,
        "user": _who,
        "target_type": lambda v, c, m, n: target_label(m),
        "created_at": lambda v, c, m, n: m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
    }
    column_formatters_export = {
        "detail": lambda v, c, m, n: json.dumps(named_detail(m), sort_keys=True, default=str),
        "user": _who,
        "target_type": lambda v, c, m, n: target_label(m),
    }
    page_size = 100
