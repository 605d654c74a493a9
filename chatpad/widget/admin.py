"""The admin's widget page (/admin/widgets/): create a widget for a location, set where it may be embedded and how
it looks, copy its script tag, rotate its key. Scoped to the signed-in user's organization like every admin view."""

from __future__ import annotations

import uuid

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from chatpad.admin.views import SecureViewMixin, current_org_id
from chatpad.audit import record_audit
from chatpad.channels.widget.settings import (
    COLOR_RE,
    DEFAULT_APPEARANCE,
    POSITIONS,
    RATING_SCALES,
    TEXT_LIMITS,
    WidgetSettings,
    new_widget_key,
    parse_origins,
    snippet,
)
from chatpad.extensions import db
from chatpad.http import parse_uuid
from chatpad.models import Agent, Conversation, Location, SocialAccount
from chatpad.ratings import conversation_ratings, ratings_by_account

from . import bp

GENERAL = "general"


def _origins_validator(form, field) -> None:
    try:
        field.parsed = parse_origins(field.data or "")
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class WidgetForm(FlaskForm):
    """A widget's settings; every field reaches visitors' browsers, so each is validated (settings.py)."""

    location = SelectField("Location", choices=[])
    agent = SelectField("Agent (for a widget without a location)", choices=[], validate_choice=False)
    site = StringField(
        "Site",
        validators=[DataRequired(), Length(max=120)],
        description="How the inbox names this widget: “Widget • forgelake.com”.",
    )
    allowed_origins = TextAreaField(
        "Allowed origins",
        validators=[_origins_validator],
        description="One per line, e.g. https://forgelake.com and https://*.forgelake.com for every subdomain. "
        "Pages anywhere else cannot load or use the widget.",
        render_kw={"rows": 4},
    )
    title = StringField(
        "Title", validators=[Length(max=TEXT_LIMITS["title"])], description="Empty: the location's name."
    )
    greeting = TextAreaField(
        "Greeting", validators=[DataRequired(), Length(max=TEXT_LIMITS["greeting"])], render_kw={"rows": 2}
    )
    launcher_text = StringField("Launcher text", validators=[DataRequired(), Length(max=TEXT_LIMITS["launcher_text"])])
    color = StringField(
        "Colour", validators=[Regexp(COLOR_RE.pattern, message="A colour like #1d4ed8")], render_kw={"type": "color"}
    )
    text_color = StringField(
        "Text colour",
        validators=[Regexp(COLOR_RE.pattern, message="A colour like #ffffff")],
        render_kw={"type": "color"},
    )
    position = SelectField("Position", choices=[(p, p.title()) for p in POSITIONS])
    rating_scale = SelectField(
        "Rating", choices=[("thumbs", "Thumbs up / down"), ("five", "1 to 5 stars")], validators=[DataRequired()]
    )
    ask_contact = BooleanField("Offer visitors to leave their name and email")
    is_active = BooleanField("Active", default=True)


class WidgetAdminView(SecureViewMixin, BaseView):
    """Web widgets: one per site, linked to a location."""

    def _widgets(self) -> list[SocialAccount]:
        return list(
            db.session.scalars(
                select(SocialAccount)
                .where(SocialAccount.channel == "widget", SocialAccount.tenant_clause(current_org_id()))
                .order_by(SocialAccount.account_name)
            )
        )

    def _widget(self, widget_id: str) -> SocialAccount:
        try:
            pk = uuid.UUID(widget_id)
        except ValueError:
            abort(404)
        account = db.session.scalar(
            select(SocialAccount).where(
                SocialAccount.id == pk, SocialAccount.channel == "widget", SocialAccount.tenant_clause(current_org_id())
            )
        )
        if account is None:
            abort(404)
        return account

    def _form(self, account: SocialAccount | None) -> WidgetForm:
        org_id = current_org_id()
        locations = db.session.scalars(
            select(Location).where(Location.tenant_clause(org_id)).order_by(Location.name)
        ).all()
        agents = db.session.scalars(select(Agent).where(Agent.tenant_clause(org_id)).order_by(Agent.name)).all()
        form = WidgetForm()
        form.location.choices = [(GENERAL, "General (no location)")] + [(str(loc.id), loc.name) for loc in locations]
        form.agent.choices = [(str(a.id), a.name) for a in agents]
        if request.method == "GET":
            if account is not None:
                settings = WidgetSettings.of(account)
                own = (account.meta or {}).get("appearance") or {}
                form.location.data = str(account.location_id) if account.location_id else GENERAL
                form.agent.data = str(account.agent_id)
                form.site.data = settings.site
                form.allowed_origins.data = "\n".join(settings.allowed_origins)
                form.title.data = own.get("title", "")
                form.greeting.data = settings.appearance["greeting"]
                form.launcher_text.data = settings.appearance["launcher_text"]
                form.color.data = settings.appearance["color"]
                form.text_color.data = settings.appearance["text_color"]
                form.position.data = settings.appearance["position"]
                form.rating_scale.data = settings.rating_scale
                form.ask_contact.data = settings.ask_contact
                form.is_active.data = account.is_active
            else:
                for name in ("greeting", "launcher_text", "color", "text_color", "position"):
                    getattr(form, name).data = DEFAULT_APPEARANCE[name]
                form.rating_scale.data = "thumbs"
                form.ask_contact.data = True
                form.is_active.data = True
                if agents:
                    form.agent.data = str(agents[0].id)
        return form

    def _apply(self, form: WidgetForm, account: SocialAccount) -> bool:
        """Copy a validated form onto the account; False (with the form's errors set) when the choices are bad."""
        org_id = current_org_id()
        location = None
        if form.location.data != GENERAL:
            location = db.session.scalar(
                select(Location).where(Location.id == parse_uuid(form.location.data), Location.tenant_clause(org_id))
            )
            if location is None:
                form.location.errors = ["Not a valid choice"]
                return False
            agent_id = location.agent_id
        else:
            agent = db.session.scalar(
                select(Agent).where(Agent.id == parse_uuid(form.agent.data), Agent.tenant_clause(org_id))
            )
            if agent is None:
                form.agent.errors = ["Not a valid choice"]
                return False
            agent_id = agent.id
        if form.rating_scale.data not in RATING_SCALES:
            form.rating_scale.errors = ["Not a valid choice"]
            return False
        site = form.site.data.strip()
        account.agent_id = agent_id
        account.location_id = location.id if location else None
        account.account_name = f"Widget • {site}"
        appearance = {
            "greeting": form.greeting.data.strip(),
            "launcher_text": form.launcher_text.data.strip(),
            "color": form.color.data.lower(),
            "text_color": form.text_color.data.lower(),
            "position": form.position.data,
        }
        if (form.title.data or "").strip():
            appearance["title"] = form.title.data.strip()
        meta = dict(account.meta or {})
        meta.update(
            {
                "site": site,
                "allowed_origins": getattr(form.allowed_origins, "parsed", []),
                "appearance": appearance,
                "rating_scale": form.rating_scale.data,
                "ask_contact": bool(form.ask_contact.data),
            }
        )
        account.meta = meta
        account.is_active = bool(form.is_active.data)
        account.status = "connected" if account.is_active else "disconnected"
        return True

    def _public_url(self) -> str:
        return (current_app.config.get("PUBLIC_URL") or request.host_url).rstrip("/")

    @expose("/")
    def index(self):
        widgets = self._widgets()
        rows = [(w, WidgetSettings.of(w), snippet(self._public_url(), w.account_id)) for w in widgets]
        summary = ratings_by_account(current_org_id(), channel="widget")
        return self.render("admin/widgets/index.html", rows=rows, summary=summary)

    @expose("/new", methods=("GET", "POST"))
    def create(self):
        form = self._form(None)
        if form.validate_on_submit():
            account = SocialAccount(channel="widget", account_id=new_widget_key(), meta={})
            if self._apply(form, account):
                db.session.add(account)
                db.session.flush()
                self._audit("social_accounts.create", account)
                db.session.commit()
                flash(f"{account.account_name} created. Paste its script tag into the site's pages.", "success")
                return redirect(url_for(".edit", widget_id=account.id))
        return self.render("admin/widgets/form.html", form=form, account=None, snippet=None)

    @expose("/edit/<widget_id>", methods=("GET", "POST"))
    def edit(self, widget_id: str):
        account = self._widget(widget_id)
        form = self._form(account)
        if form.validate_on_submit() and self._apply(form, account):
            self._audit("social_accounts.update", account)
            db.session.commit()
            flash("Widget saved.", "success")
            return redirect(url_for(".edit", widget_id=account.id))
        if request.method == "POST":
            db.session.rollback()
        return self.render(
            "admin/widgets/form.html",
            form=form,
            account=account,
            snippet=snippet(self._public_url(), account.account_id),
        )

    @expose("/rotate/<widget_id>", methods=("POST",))
    def rotate(self, widget_id: str):
        """A new key (the old one stops working at once; visitors keep their conversations)."""
        account = self._widget(widget_id)
        if not FlaskForm().validate_on_submit():
            abort(400)
        account.account_id = new_widget_key()
        self._audit("social_accounts.rotate_key", account)
        db.session.commit()
        flash("New key issued: update the script tag on the site; the old one no longer works.", "warning")
        return redirect(url_for(".edit", widget_id=account.id))

    def _audit(self, action: str, account: SocialAccount) -> None:
        record_audit(
            action, organization_id=current_org_id(), user_id=current_user.id, target=account, ip=request.remote_addr
        )


@bp.app_template_global()
def ratings_of(conversation: Conversation | None):
    """The ratings of a conversation, scoped to the signed-in user's organization (templates/ratings/)."""
    if conversation is None or not current_user.is_authenticated:
        return []
    return conversation_ratings(current_user.organization_id, conversation.id)
