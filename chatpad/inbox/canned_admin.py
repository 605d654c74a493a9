"""Setup → Canned replies: the organization's replies and each location's, managed by owners and admins, and by
on-site managers for their own locations (the organization's replies they use but do not change)."""

from __future__ import annotations

import re

from flask_login import current_user
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from chatpad.admin.views import LocationFilter, TenantModelView, current_org_id, current_scope
from chatpad.models import CannedReply

from .canned import VARIABLES

MAX_BODY = 5000


class CannedReplyView(TenantModelView):
    """Canned replies, scoped like every model: an on-site manager lists the organization's and their locations'
    replies, and creates, edits or deletes only their locations' ones."""

    column_list = ["title", "location", "body", "updated_at"]
    column_searchable_list = ["title", "body"]
    column_sortable_list = ["title", "updated_at"]
    column_filters = [LocationFilter(CannedReply.location_id)]
    column_labels = {"location": "Location (empty: all locations)"}
    blank_labels = {"location": "All locations"}
    column_export_list = ["title", "body", "updated_at"]
    form_columns = ["title", "location", "body"]
    form_overrides = {"body": TextAreaField}
    form_widget_args = {"body": {"rows": 5}}
    form_args = {
        "title": {"validators": [DataRequired(), Length(max=80)], "description": "What the picker shows."},
        "location": {"description": "Leave empty for a reply every location uses."},
        "body": {
            "validators": [DataRequired(), Length(max=MAX_BODY)],
            "description": "Variables, filled from the conversation when the reply is inserted: "
            + ", ".join(f"{{{name}}} ({what})" for name, what in VARIABLES.items())
            + ".",
        },
    }

    def is_accessible(self) -> bool:
        if super().is_accessible():
            return True
        return current_user.is_authenticated and current_user.role == "agent" and current_user.limited_to_locations

    def _refuse_org_wide(self, model) -> None:
        if current_scope().limited and model.location_id is None and model.location is None:
            raise ValidationError("Replies for all locations are changed by an owner or admin; choose your location.")

    def on_model_change(self, form, model, is_created):
        self._refuse_org_wide(model)
        unknown = sorted(set(_braces(model.body)) - set(VARIABLES))
        if unknown:
            raise ValidationError(
                f"Unknown variable {', '.join('{' + u + '}' for u in unknown)}: use "
                + ", ".join("{" + v + "}" for v in VARIABLES)
                + "."
            )
        if is_created:
            model.organization_id = current_org_id()
        super().on_model_change(form, model, is_created)

    def on_model_delete(self, model):
        self._refuse_org_wide(model)
        super().on_model_delete(model)


def _braces(body: str) -> list[str]:
    return re.findall(r"\{([a-z_]+)\}", body or "")
