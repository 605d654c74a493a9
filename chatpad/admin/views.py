"""Admin views. Every list, form, search, export and row lookup is scoped to the signed-in user's organization.

TenantModelView is the one place that enforces it: queries are filtered by the model's tenant_clause(org_id), a row
of another organization is "not found" even by id in the URL, and every dropdown of related rows offers only the
organization's own rows (WTForms then rejects any other id as "Not a valid choice").
"""

from __future__ import annotations

import types
import uuid
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_admin import AdminIndexView, expose
from flask_admin._compat import csv_encode
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.fields import QuerySelectMultipleField
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from markupsafe import Markup, escape
from sqlalchemy import false as sa_false
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from werkzeug.utils import secure_filename
from wtforms import IntegerField, PasswordField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, ValidationError

from chatpad import csvfile
from chatpad.ai.language import LANGUAGES
from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.hours import timezone_choices, valid_timezone
from chatpad.http import MAX_BIGINT, bounded_int, parse_uuid
from chatpad.models import (
    INVITATION_DAYS,
    KNOWLEDGE_KINDS,
    ROLES,
    Agent,
    Conversation,
    KnowledgeItem,
    Location,
    Message,
    Notification,
    Scope,
    SocialAccount,
    TourType,
    User,
    utcnow,
)
from chatpad.team import set_locations
from chatpad.users import UserChangeRefused, check_user_change, create_invitation, roles_offered

from .fields import HandoffTopicsField, HoursField, LanguagesField
from .listing_fields import LISTING_FIELD_NAMES, ListingFieldsMixin, listing_form_fields


class SecureViewMixin:
    """Only signed-in users with an allowed role; others are sent to sign in (or get 403)."""

    allowed_roles: tuple[str, ...] = ("owner", "admin")

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.role in self.allowed_roles

    def inaccessible_callback(self, name: str, **kwargs: Any):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


def current_org_id() -> int:
    return current_user.organization_id


def current_scope() -> Scope:
    """What the signed-in person may see (chatpad.models.scope): their organization, narrowed to their locations
    when they are limited to some. Read once per request (kept in the request's environ, never beyond it)."""
    if not has_request_context():
        return Scope.of(current_user)
    cached = request.environ.get("chatpad.scope")
    if cached is None or cached[0] != current_user.id:
        cached = (current_user.id, Scope.of(current_user))
        request.environ["chatpad.scope"] = cached
    return cached[1]


def _coerce_pk(model, value: Any) -> Any:
    """The primary key as its Python type; None when it cannot be one (a typed-in garbage id is just not found)."""
    python_type = model.__mapper__.primary_key[0].type.python_type
    try:
        if python_type is uuid.UUID:
            return parse_uuid(value)
        if python_type is int:
            return bounded_int(value, low=1, high=MAX_BIGINT)  # a 20-digit id cannot exist (not a database error)
        return python_type(value)
    except (ValueError, TypeError, AttributeError):
        return None


class AdminForm(FlaskForm):
    """Flask-WTF's form (its CSRF token is what CSRFProtect checks) that also remembers the edited row, which
    Flask-Admin's Unique validator needs to let a row keep its own email."""

    def __init__(self, formdata=_Auto, obj=None, prefix="", **kwargs):
        self._obj = obj
        super().__init__(formdata=formdata, obj=obj, prefix=prefix, **kwargs)


def _strict_pre_validate(field, form) -> None:
    """Flask-Admin's QuerySelectField quietly treats an id outside its query as "no choice" on nullable relations
    (a location would silently become General). Refuse it instead."""
    data = field.data  # resolves the submitted id against the scoped query
    submitted = getattr(field, "_formdata", None)
    if data is None and submitted not in (None, "", "__None"):
        raise ValidationError(field.gettext("Not a valid choice"))
    type(field).pre_validate(field, form)


MAX_LIST_PAGE = 100_000
MAX_LIST_PAGE_SIZE = 1_000


def _within(value: int | None, low: int, high: int, fallback: int) -> int:
    return value if isinstance(value, int) and low <= value <= high else fallback


class TenantModelView(SecureViewMixin, ModelView):
    """A model view that sees only the signed-in user's organization."""

    form_base_class = AdminForm
    page_size = 50
    can_view_details = True
    can_export = True
    export_types = ["csv"]

    def __init__(self, model, **kwargs):
        super().__init__(model, db, **kwargs)

    def _get_list_extra_args(self):
        """Flask-Admin's list arguments with page and page_size held to what a list can show: a negative or
        20-digit page became an OFFSET PostgreSQL refuses (a 500). Out of range: the first page, the default size."""
        args = super()._get_list_extra_args()
        args.page = _within(args.page, 0, MAX_LIST_PAGE, 0)
        args.page_size = _within(args.page_size, 0, MAX_LIST_PAGE_SIZE, 0)
        return args

    # --- export ---
    def _export_csv(self, return_url: Any):
        """Flask-Admin's CSV export, written by the product's one writer (formulas escaped) instead of its own."""
        _count, data = self._export_data()

        class _Echo:
            def write(self, value: Any) -> Any:
                return value

        out = csvfile.writer(_Echo())

        def generate():
            yield out.writerow([csv_encode(c[1]) for c in self._export_columns])
            for row in data:
                yield out.writerow([csv_encode(self.get_export_value(row, c[0])) for c in self._export_columns])

        disposition = f"attachment;filename={secure_filename(self.get_export_name(export_type='csv'))}"
        return Response(
            stream_with_context(generate()), headers={"Content-Disposition": disposition}, mimetype="text/csv"
        )

    # --- queries ---
    def _scoped(self, query):
        return query.filter(current_scope().where(self.model))

    def get_query(self):
        return self._scoped(super().get_query())

    def get_count_query(self):
        return self._scoped(super().get_count_query())

    def get_one(self, id: Any):
        pk = _coerce_pk(self.model, id)
        if pk is None:
            return None
        return self.get_query().filter(self.model.__mapper__.primary_key[0] == pk).one_or_none()

    @action("delete", "Delete", "Are you sure you want to delete the selected records?")
    def action_delete(self, ids):
        """Bulk delete: ids from the form as the key's type (garbage ids drop out), then the scoped query."""
        coerced = [pk for pk in (_coerce_pk(self.model, i) for i in ids) if pk is not None]
        return super().action_delete(coerced)

    # What an empty related-row dropdown says (WTForms shows Flask-Admin's internal "__None" when it says nothing).
    blank_labels: dict[str, str] = {}

    # --- forms: related-row dropdowns offer only this organization's rows ---
    def _scope_form(self, form):
        for field in form:
            factory = getattr(field, "query_factory", None)
            if factory is None:
                continue
            if getattr(field, "allow_blank", False) and not field.blank_text:
                field.blank_text = self.blank_labels.get(field.name, "None")
            query = factory()
            related = query.column_descriptions[0]["entity"]
            if hasattr(related, "tenant_clause"):
                field.query = query.filter(current_scope().where(related))
            field.pre_validate = types.MethodType(_strict_pre_validate, field)
        return form

    def create_form(self, obj=None):
        return self._scope_form(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._scope_form(super().edit_form(obj))

    def on_model_change(self, form, model, is_created: bool) -> None:
        record_audit(
            f"{self.model.__tablename__}.{'create' if is_created else 'update'}",
            organization_id=current_org_id(),
            user_id=current_user.id,
            target=model,
            ip=request.remote_addr,
        )

    def on_model_delete(self, model) -> None:
        record_audit(
            f"{self.model.__tablename__}.delete",
            organization_id=current_org_id(),
            user_id=current_user.id,
            target=model,
            ip=request.remote_addr,
        )


def _default_agent() -> Agent | None:
    """The organization's agent when it has exactly one (the common case)."""
    agents = db.session.scalars(select(Agent).where(Agent.organization_id == current_org_id()).limit(2)).all()
    return agents[0] if len(agents) == 1 else None


def _status_dot(view, context, model, name) -> Markup:
    labels = {
        "connected": ("ok", "Connected"),
        "needs_reauth": ("warn", "Needs reconnection"),
        "error": ("bad", "Error"),
        "disconnected": ("off", "Disconnected"),
    }
    css, label = labels.get(model.status, ("off", model.status))
    title = f"{label}: {model.last_error}" if model.last_error else label
    html = f'<span class="status-dot status-{css}" title="{escape(title)}"></span> {escape(label)}'
    return Markup(html)  # noqa: S704 (every value in it is escaped)


class AgentView(TenantModelView):
    column_list = ["name", "active", "created_at"]
    column_searchable_list = ["name"]
    column_sortable_list = ["name", "created_at"]
    column_details_list = ["name", "instructions", "language", "handoff_topics", "active", "created_at", "updated_at"]
    column_export_list = ["name", "instructions", "active", "created_at"]
    form_columns = ["name", "instructions", "language", "handoff_topics", "active"]
    form_overrides = {"instructions": TextAreaField, "language": SelectField, "handoff_topics": HandoffTopicsField}
    form_widget_args = {"instructions": {"rows": 8}, "handoff_topics": {"rows": 4}}
    form_args = {
        "name": {"validators": [DataRequired(), Length(max=200)]},
        "language": {
            "label": "Business language",
            "choices": [(code, name) for code, (name, _native) in LANGUAGES.items()],
            "description": "What the knowledge is written in; the locations answer in it unless they choose others.",
        },
        "handoff_topics": {
            "label": "Handoff topics",
            "description": "Always handed to a person, one topic a line, optionally with the words that mean it: "
            "'billing dispute: charged twice, overcharged'. Billing dispute, legal and emergency already know "
            "their words in English and Spanish.",
        },
    }

    def build_new_instance(self):
        return self.model(organization_id=current_org_id())


# The location's tour type (chatpad.booking): (column, label, lowest, highest, help). Minutes unless named otherwise.
TOUR_FIELDS = (
    ("duration_minutes", "Tour length (minutes)", 10, 480, "How long a tour takes."),
    ("interval_minutes", "Start a tour every (minutes)", 5, 240, "Tours start on this grid from the opening time."),
    ("buffer_before_minutes", "Free time before a tour (minutes)", 0, 240, "Kept clear of other events."),
    ("buffer_after_minutes", "Free time after a tour (minutes)", 0, 240, "Kept clear of other events."),
    ("min_notice_minutes", "Minimum notice (minutes)", 0, 20160, "No tour sooner than this from now."),
    ("horizon_days", "Book up to (days ahead)", 1, 90, "How far ahead customers can book."),
    ("max_per_day", "Most tours a day", 0, 100, "Across the location's calendars; 0 for no limit."),
)


def _tour_fields() -> dict:
    return {
        column: IntegerField(
            label, validators=[Optional(), NumberRange(min=low, max=high)], description=f"{hint} {low}–{high}."
        )
        for column, label, low, high, hint in TOUR_FIELDS
    }


def _location_page_link(view, context, model, name) -> Markup:
    """A location's name, linking to its own page (chatpad/admin/location_page.py)."""
    href = url_for("location_page.show", location_id=str(model.id))
    return Markup(f'<a href="{escape(href)}" class="location-page-link">{escape(model.name)}</a>')  # noqa: S704


class LocationView(TenantModelView):
    column_list = ["name", "agent", "timezone", "address", "phone"]
    column_formatters = {"name": _location_page_link}
    column_searchable_list = ["name", "address", "phone"]
    column_sortable_list = ["name", "timezone"]
    column_default_sort = "name"
    column_details_exclude_list = ["settings"]
    column_export_list = ["name", "timezone", "address", "phone", "email", "website", "booking_url"]
    form_columns = [
        "agent",
        "name",
        "timezone",
        "address",
        "phone",
        "email",
        "website",
        "booking_url",
        "hours",
        "languages",
        "handoff_topics",
        *(column for column, *_ in TOUR_FIELDS),
    ]
    form_extra_fields = _tour_fields()
    form_overrides = {
        "hours": HoursField,
        "timezone": SelectField,
        "languages": LanguagesField,
        "handoff_topics": HandoffTopicsField,
    }
    form_widget_args = {"handoff_topics": {"rows": 3}}
    form_args = {
        "name": {"validators": [DataRequired(), Length(max=200)]},
        "agent": {"validators": [InputRequired()]},
        "email": {"validators": [Optional(), Email(check_deliverability=False)]},
        "hours": {"label": "Opening hours"},
        "languages": {
            "label": "Answers in",
            "description": "The languages the AI answers in here; none ticked: the agent's business language. "
            "A message in any other language is handed to a person, politely and in that language where possible.",
        },
        "handoff_topics": {
            "label": "Handoff topics (this location)",
            "description": "Added to the agent's topics; one a line, optionally 'topic: words, that, mean, it'.",
        },
    }

    def _scope_form(self, form):
        form = super()._scope_form(form)
        form.timezone.choices = [(tz, tz) for tz in timezone_choices()]
        if form.agent.data is None and request.method == "GET":
            form.agent.data = _default_agent()
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if request.method == "GET" and obj is not None:
            row = db.session.get(TourType, obj.id) or _default_tour_type()
            for column, *_ in TOUR_FIELDS:
                getattr(form, column).data = getattr(row, column)
        return form

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET":
            defaults = _default_tour_type()
            for column, *_ in TOUR_FIELDS:
                getattr(form, column).data = getattr(defaults, column)
        return form

    def on_model_change(self, form, model, is_created):
        if not valid_timezone(model.timezone):
            raise ValidationError(f"Unknown timezone {model.timezone!r}.")
        super().on_model_change(form, model, is_created)

    def after_model_change(self, form, model, is_created):
        """The tour type is saved beside the location (a field left empty keeps its value)."""
        row = db.session.get(TourType, model.id)
        if row is None:
            row = _default_tour_type()
            row.location_id = model.id
            db.session.add(row)
        for column, *_ in TOUR_FIELDS:
            value = getattr(form, column).data
            if value is not None:
                setattr(row, column, value)
        db.session.commit()


def _default_tour_type() -> TourType:
    """A TourType with the model's defaults filled in (SQLAlchemy sets them only on insert)."""
    row = TourType()
    for column in TourType.__table__.columns:
        if getattr(row, column.key) is None and column.default is not None and not callable(column.default.arg):
            setattr(row, column.key, column.default.arg)
    return row


class _PerRequest:
    """An iterable whose items are computed each time it is iterated (in the request that renders them)."""

    def __init__(self, compute) -> None:
        self._compute = compute

    def __iter__(self):
        return iter(self._compute())


class LocationFilter(BaseSQLAFilter):
    """A row's location, picked from the signed-in person's own locations (or "All locations" for the rows that
    apply everywhere). The options are read per request through the tenancy scope; an id outside them matches
    nothing, so the filter can't be used to probe another organization."""

    EVERYWHERE = "everywhere"

    def __init__(self, column, name: str = "Location") -> None:
        super().__init__(column, name)

    def get_options(self, view):
        """Flask-Admin reads a filter's options once, when the view is built; these are read as the page renders."""
        return _PerRequest(self._choices)

    @staticmethod
    def _choices() -> list[tuple[str, str]]:
        rows = db.session.execute(
            select(Location.id, Location.name).where(current_scope().where(Location)).order_by(Location.name)
        )
        return [(LocationFilter.EVERYWHERE, "All locations (none chosen)")] + [(str(i), n) for i, n in rows]

    def apply(self, query, value, alias=None):
        if value == self.EVERYWHERE:
            return query.filter(self.column.is_(None))
        allowed = {key for key, _ in self._choices()}
        if value not in allowed:
            return query.filter(sa_false())
        return query.filter(self.column == uuid.UUID(value))

    def operation(self) -> str:
        return "is"


class KnowledgeItemView(ListingFieldsMixin, TenantModelView):
    list_template = "admin/model/knowledge_list.html"  # its "Import" tab leads to Setup → Import knowledge
    column_list = ["kind", "title", "location", "active", "updated_at"]
    column_searchable_list = ["title", "body"]
    column_sortable_list = ["kind", "title", "updated_at"]
    column_filters = ["kind", "active", LocationFilter(KnowledgeItem.location_id)]
    column_labels = {"location": "Location (empty: all locations)"}
    blank_labels = {"location": "All locations"}
    column_export_list = ["kind", "title", "body", "active", "updated_at"]
    # No raw JSON to type (issue 22): a property's details and an entry's keywords are fields (listing_fields.py).
    form_columns = ["agent", "location", "kind", "title", "body", *LISTING_FIELD_NAMES, "active"]
    form_extra_fields = listing_form_fields()
    form_overrides = {"kind": SelectField, "body": TextAreaField}
    form_widget_args = {"body": {"rows": 6}}
    form_args = {
        "kind": {"choices": [(k, k.title()) for k in KNOWLEDGE_KINDS]},
        "title": {"validators": [DataRequired(), Length(max=300)]},
        "agent": {"validators": [InputRequired()]},
        "location": {"description": "Leave empty for knowledge that applies to every location."},
    }

    def _scope_form(self, form):
        form = super()._scope_form(form)
        if form.agent.data is None and request.method == "GET":
            form.agent.data = _default_agent()
        return form

    def on_model_change(self, form, model, is_created):
        if model.location is not None and model.agent is not None and model.location.agent_id != model.agent.id:
            raise ValidationError("That location belongs to another agent.")
        super().on_model_change(form, model, is_created)


class SocialAccountView(TenantModelView):
    """Connected accounts. Tokens are never listed, shown, exported or editable; the Integrations tab connects."""

    can_create = False
    can_delete = False
    column_list = ["channel", "account_name", "account_id", "location", "is_active", "status", "last_message_at"]
    column_searchable_list = ["account_name", "account_id"]
    column_sortable_list = ["channel", "account_name", "status", "last_message_at"]
    column_filters = ["channel", "status", "is_active"]
    column_exclude_list = ["access_token", "refresh_token", "meta"]
    column_details_list = [
        "channel",
        "account_name",
        "account_id",
        "agent",
        "location",
        "is_active",
        "status",
        "last_error",
        "last_message_at",
        "token_expires_at",
        "created_at",
    ]
    column_export_list = ["channel", "account_name", "account_id", "is_active", "status", "last_message_at"]
    column_formatters = {"status": _status_dot}
    column_labels = {"location": "Location (empty: General)", "is_active": "Active"}
    form_columns = ["account_name", "location", "is_active"]
    form_excluded_columns = ["access_token", "refresh_token", "meta"]
    form_args = {"account_name": {"validators": [DataRequired()]}}

    def on_model_change(self, form, model, is_created):
        if model.location is not None and model.location.agent_id != model.agent_id:
            raise ValidationError("That location belongs to another agent.")
        super().on_model_change(form, model, is_created)


class UserView(TenantModelView):
    can_create = False  # people join by invitation (InvitationView), never by an admin typing their password
    list_template = "admin/model/users_list.html"  # its "Invite someone" tab leads there
    column_list = ["email", "name", "role", "active", "last_login_at"]
    column_searchable_list = ["email", "name"]
    column_sortable_list = ["email", "name", "role", "last_login_at"]
    # The session token is in every session and remember-me cookie (chatpad.users): never on a page.
    column_exclude_list = ["password_hash", "session_token"]
    column_details_exclude_list = ["password_hash", "session_token"]
    column_export_list = ["email", "name", "role", "active", "created_at", "last_login_at"]
    column_formatters = {"role": lambda view, context, model, name: _role_label(model)}
    form_columns = ["email", "name", "role", "locations", "active", "notify_email", "new_password", "current_password"]
    form_overrides = {"role": SelectField}
    form_args = {
        "email": {"validators": [DataRequired(), Email(check_deliverability=False), Length(max=254)]},
        "role": {"choices": [(r, r.title()) for r in ROLES]},  # narrowed per request: _role_choices
        "notify_email": {"label": "Email me about handoffs, assignments and reconnections"},
    }
    form_extra_fields = {
        "locations": QuerySelectMultipleField(
            "Limited to locations",
            query_factory=lambda: select_locations(),
            get_label="name",
            description="An on-site manager (role Agent) sees only these locations' conversations, contacts, "
            "notifications and analytics, and is assigned their handoffs. Empty: the whole organization.",
        ),
        "new_password": PasswordField(
            "New password",
            validators=[Optional(), Length(min=10, max=200)],
            description="At least 10 characters. Leave empty to keep the current password.",
        ),
        "current_password": PasswordField(
            "Your current password",
            validators=[Optional(), Length(max=200)],
            description="Needed only to change your own password, so a browser left signed in can't lock you out.",
        ),
    }

    def _role_choices(self, form, obj=None):
        """Only the roles the signed-in person may give (an admin is not offered "owner"); an owner's own role is
        still shown as it is, though only an owner may save it (chatpad.users)."""
        offered = roles_offered(current_user)
        if obj is not None and obj.role not in offered:
            offered = [obj.role, *offered]
        form.role.choices = [(r, r.title()) for r in offered]
        return form

    def create_form(self, obj=None):
        return self._role_choices(super().create_form(obj))

    def edit_form(self, obj=None):
        form = self._role_choices(super().edit_form(obj), obj)
        # An address is never changed here (issue 16 item 8): "Already exists." for another organization's address
        # told an admin which addresses have accounts. No uniqueness check runs; on_model_change refuses any change.
        form.email.validators = [v for v in form.email.validators if type(v).__name__ != "Unique"]
        form.email.render_kw = {"readonly": True}
        form.email.description = "To change a person's address, invite the new address."
        if request.method == "GET" and obj is not None and obj.limited_to_locations:
            form.locations.data = [m.location for m in obj.memberships]
        return form

    def on_model_change(self, form, model, is_created):
        model.email = model.email.strip().lower()
        stored_email = sa_inspect(model).attrs.email.history.deleted
        if not is_created and stored_email and stored_email[0].strip().lower() != model.email:
            raise ValidationError("An address can't be changed here: invite the new address instead.")
        with db.session.no_autoflush:
            taken = db.session.scalar(select(User.id).where(func.lower(User.email) == model.email, User.id != model.id))
        if taken:
            raise ValidationError("A user with that email already exists.")
        # current_user is this very row when editing oneself, so compare against the loaded values.
        own_role_changed = sa_inspect(model).attrs.role.history.has_changes()
        if model.id == current_user.id and (not model.active or own_role_changed):
            raise ValidationError("You cannot deactivate yourself or change your own role.")
        try:
            check_user_change(current_user, model)
        except UserChangeRefused as refused:
            raise ValidationError(str(refused)) from None
        if form.new_password.data and model.id == current_user.id:
            if not model.check_password(form.current_password.data or ""):
                raise ValidationError("To change your own password, type your current password too.")
        if form.new_password.data:
            model.set_password(form.new_password.data)  # ends the person's other sessions (chatpad.models.org)
        elif is_created:
            raise ValidationError("Set a password for the new user.")
        chosen = form.locations.data or []
        if chosen and model.role != "agent":
            raise ValidationError("Only agents can be limited to locations; owners and admins manage everything.")
        set_locations(model, [location.id for location in chosen] if chosen else None)
        super().on_model_change(form, model, is_created)

    def after_model_change(self, form, model, is_created):
        """Changing one's own password ended every session of one's own, this one included: this browser gets a
        new session (and remember-me cookie, if it had one) under the new token and stays signed in."""
        if not is_created and model.id == current_user.id and session.get("_user_id") != model.get_id():
            remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            login_user(model, remember=remember_cookie in request.cookies)

    def on_model_delete(self, model) -> None:
        try:
            check_user_change(current_user, model, deleting=True)
        except UserChangeRefused as refused:
            raise ValidationError(str(refused)) from None
        super().on_model_delete(model)

    def build_new_instance(self):
        return self.model(organization_id=current_org_id())

    def delete_model(self, model) -> bool:
        if model.id == current_user.id:
            flash("You cannot delete yourself.", "error")
            return False
        return super().delete_model(model)


class InvitationView(TenantModelView):
    """People join by invitation (issue 16 item 8): the answer is "Invitation sent" whatever the address, so adding
    someone can't be used to learn which addresses have ChatPad accounts (chatpad.users.create_invitation)."""

    can_edit = False
    can_view_details = False
    can_export = False
    column_list = ["email", "role", "status", "expires_at"]
    column_labels = {"status": "State", "created_at": "Invited (UTC)", "expires_at": "Link valid until (UTC)"}
    column_sortable_list = ["email", "created_at"]
    column_default_sort = ("created_at", True)
    column_formatters = {"status": lambda view, context, model, name: model.status.title()}
    form_columns = ["email", "name", "role", "locations"]
    form_overrides = {"role": SelectField}
    form_args = {
        "email": {"validators": [DataRequired(), Email(check_deliverability=False), Length(max=254)]},
        "role": {"choices": [(r, r.title()) for r in ROLES]},  # narrowed per request: create_form
        "name": {"validators": [Optional(), Length(max=200)]},
    }
    form_extra_fields = {
        "locations": QuerySelectMultipleField(
            "Limited to locations",
            query_factory=lambda: select_locations(),
            get_label="name",
            description="An on-site manager (role Agent) sees only these locations. Empty: the whole organization.",
        ),
    }

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.role.choices = [(r, r.title()) for r in roles_offered(current_user)]
        form.email.description = (
            "We email this address a link to join; the person chooses their own password. If the address can't "
            f"join (it already has a ChatPad account), the email says so. The link works for {INVITATION_DAYS} days."
        )
        return form

    def create_model(self, form):
        """An invitation through the one rule (chatpad.users), then "Invitation sent", whatever the address."""
        try:
            invitation = create_invitation(
                current_user,
                form.email.data,
                role=form.role.data,
                name=(form.name.data or "").strip() or None,
                location_ids=[location.id for location in (form.locations.data or [])],
            )
            record_audit(
                "invitations.create",
                organization_id=current_org_id(),
                user_id=current_user.id,
                target=invitation,
                ip=request.remote_addr,
            )
            db.session.commit()
        except UserChangeRefused as refused:
            db.session.rollback()
            flash(str(refused), "error")
            return False
        flash(f"Invitation sent to {invitation.email}.", "success")
        return invitation

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        """Flask-Admin's create page, without its generic "Record was successfully created." beside ours."""
        response = super().create_view()
        generic = ("success", "Record was successfully created.")
        if generic in (session.get("_flashes") or []):
            session["_flashes"] = [f for f in session["_flashes"] if tuple(f) != generic]
        return response


def select_locations():
    """The organization's locations, by name, for the Users form (scoped again by TenantModelView._scope_form)."""
    return db.session.query(Location).order_by(Location.name)


def _role_label(user: User) -> str:
    if not user.limited_to_locations:
        return user.role.title()
    names = sorted(m.location.name for m in user.memberships)
    return f"{user.role.title()} · " + (", ".join(names) if names else "no location")


class DashboardView(SecureViewMixin, AdminIndexView):
    """The admin's home: the organization at a glance."""

    allowed_roles = ("owner", "admin", "agent")

    @expose("/")
    def index(self):
        org_id = current_org_id()
        scope = current_scope()  # an on-site manager's home counts their locations only
        accounts = db.session.scalars(
            select(SocialAccount)
            .where(scope.where(SocialAccount))
            .order_by(SocialAccount.channel, SocialAccount.account_name)
        ).all()
        by_channel: dict[str, dict[str, int]] = {}
        for account in accounts:
            counts = by_channel.setdefault(account.channel, {"total": 0, "connected": 0, "attention": 0})
            counts["total"] += 1
            if account.status == "connected" and account.is_active:
                counts["connected"] += 1
            elif account.status in ("needs_reauth", "error"):
                counts["attention"] += 1
        needs_attention = [a for a in accounts if a.status in ("needs_reauth", "error")]
        locations = db.session.scalar(select(func.count()).select_from(Location).where(scope.where(Location)))
        # Agents serve the whole organization, whatever locations a person is limited to.
        agents = db.session.scalars(select(Agent).where(Agent.tenant_clause(org_id)).order_by(Agent.name)).all()
        notifications = db.session.scalars(
            select(Notification)
            .where(
                scope.where(Notification),
                Notification.user_id == current_user.id,
                Notification.read_at.is_(None),
            )
            .order_by(Notification.created_at.desc())
            .limit(10)
        ).all()
        sandbox = _sandbox_links()
        steps = []
        if current_user.is_admin:
            from .checklist import setup_steps

            widgets = url_for("widgets.index") if "widgets.index" in current_app.view_functions else None
            steps = setup_steps(org_id, sandbox[0][2] if sandbox else widgets)
        return self.render(
            "admin/dashboard.html",
            setup_steps=steps,
            agents=agents,
            location_count=locations,
            by_channel=by_channel,
            needs_attention=needs_attention,
            notifications=notifications,
            today=_today_figures(scope),
            system=_system_status(),
            sandbox=sandbox,
        )


def _today_figures(scope: Scope) -> dict[str, int]:
    """What the team needs at a glance: open work and today's traffic (UTC day), inside the person's scope."""
    start = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    conversations = select(func.count()).select_from(Conversation).where(scope.where(Conversation))
    todays = (
        select(func.count())
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(scope.where(Conversation), Message.created_at >= start)
    )
    return {
        "open": db.session.scalar(conversations.where(Conversation.status == "open")),
        "waiting": db.session.scalar(conversations.where(Conversation.status == "waiting")),
        "inbound_today": db.session.scalar(
            todays.where(Message.direction == "inbound", Message.sender_type == "contact")
        ),
        "failed_today": db.session.scalar(todays.where(Message.status == "failed")),
    }


def _system_status() -> dict[str, object]:
    """Are workers and the scheduler alive (the heartbeat job) and how much is queued — for whoever runs ChatPad."""
    from datetime import datetime

    from chatpad.queue import QUEUE_NAMES, get_queue, get_redis

    try:
        redis = get_redis()
        beat = redis.get("chatpad:scheduler:heartbeat")
        age = (utcnow() - datetime.fromisoformat(beat.decode())).total_seconds() if beat else None
        queued = {name: get_queue(name).count for name in QUEUE_NAMES}
    except Exception:
        return {"redis": False, "heartbeat_age": None, "queued": {}}
    return {"redis": True, "heartbeat_age": age, "queued": queued}


def _sandbox_links() -> list[tuple[str, str, str]]:
    """In development, where to write to the demo business as a customer (the sandbox's pages)."""
    from flask import current_app

    base = current_app.config.get("SANDBOX_URL")
    if not current_app.config.get("SANDBOX_ENABLED") or not base:
        return []
    return [
        ("📘", "Message a Facebook Page", f"{base}/messenger"),
        ("📷", "DM an Instagram account", f"{base}/instagram"),
        ("✉️", "Email an inbox", f"{base}/mail/"),
        ("💬", "Chat on a community's website", f"{base}/widget/"),
    ]
