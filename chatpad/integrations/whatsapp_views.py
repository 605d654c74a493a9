"""The WhatsApp screens of the Integrations tab: Sync templates on a connected number (chatpad.integrations.whatsapp),
and Connect WhatsApp (Embedded Signup through Facebook Login, then a location per number)."""

from __future__ import annotations

from flask import flash, redirect, request
from flask_admin import expose
from flask_login import current_user

from chatpad.audit import record_audit
from chatpad.channels.errors import SendError
from chatpad.extensions import db

from . import whatsapp


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
