"""The admin site (Flask-Admin), behind sign-in and scoped to the user's organization: every face's screens in one
menu. It sits above the faces it assembles (admin, inbox, integrations, privacy, widget), so none of them imports
another's package to be listed."""

from __future__ import annotations

from flask import Flask, request
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from werkzeug.exceptions import HTTPException

from chatpad.admin.bookings import BookingsView
from chatpad.admin.knowledge_import import KnowledgeImportView
from chatpad.admin.location_page import LocationPageView
from chatpad.admin.views import (
    AgentView,
    DashboardView,
    InvitationView,
    KnowledgeItemView,
    LocationView,
    SocialAccountView,
    UserView,
)
from chatpad.inbox import init_inbox
from chatpad.inbox.canned_admin import CannedReplyView
from chatpad.integrations.views import IntegrationsView
from chatpad.models import Agent, AuditLog, CannedReply, Invitation, KnowledgeItem, Location, SocialAccount, User
from chatpad.privacy.admin import AuditLogView, CustomerDataView, RetentionView
from chatpad.security import csp_nonce
from chatpad.widget.admin import WidgetAdminView

# Errors a person can meet on a page; each gets the product's own page, with its navigation, instead of Werkzeug's.
PAGE_ERRORS = {
    403: (
        "You don't have access to this page",
        "Your role or your locations don't include it. An owner or admin of "
        "your organization can change that in Setup → Users.",
    ),
    404: ("Page not found", "It may have been removed, or it belongs to another organization."),
    405: ("That action isn't available here", "Go back and try again from the page's own buttons."),
}
# Machine-facing routes keep their plain answers (platforms, the widget's script and the stream clients read them).
_PLAIN_PREFIXES = ("/api/", "/healthz", "/static/")


def init_admin(app: Flask) -> Admin:
    """Build a new Admin for this app (a module-level Admin breaks the second app a test creates)."""
    admin = Admin(
        app,
        name="ChatPad",
        url="/admin",
        index_view=DashboardView(name="Home", url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/chatpad_base.html", swatch="default", fluid=True),
        # Every script and stylesheet Flask-Admin emits carries this response's CSP nonce (chatpad/security.py).
        csp_nonce_generator=csp_nonce,
    )
    init_inbox(admin, app)  # Inbox and Analytics, first in the top menu
    admin.add_view(BookingsView(name="Bookings", endpoint="bookings", url="/admin/bookings"))
    admin.add_view(IntegrationsView(name="Integrations", endpoint="integrations", url="/admin/integrations"))
    admin.add_view(AgentView(Agent, name="Agents", endpoint="agents", category="Setup"))
    admin.add_view(LocationView(Location, name="Locations", endpoint="locations", category="Setup"))
    admin.add_view(LocationPageView(name="Location", endpoint="location_page", url="/admin/location"))
    admin.add_view(SocialAccountView(SocialAccount, name="Accounts", endpoint="accounts", category="Setup"))
    admin.add_view(KnowledgeItemView(KnowledgeItem, name="Knowledge", endpoint="knowledge", category="Setup"))
    admin.add_view(
        KnowledgeImportView(
            name="Import knowledge", endpoint="knowledge_import", url="/admin/knowledge-import", category="Setup"
        )
    )
    admin.add_view(CannedReplyView(CannedReply, name="Canned replies", endpoint="canned", category="Setup"))
    admin.add_view(UserView(User, name="Users", endpoint="users", category="Setup"))
    admin.add_view(InvitationView(Invitation, name="Invitations", endpoint="invitations", category="Setup"))
    admin.add_view(WidgetAdminView(name="Web widgets", endpoint="widgets", url="/admin/widgets", category="Setup"))
    admin.add_view(
        CustomerDataView(name="Customer data", endpoint="customer_data", url="/admin/customer-data", category="Privacy")
    )
    admin.add_view(RetentionView(name="Retention", endpoint="retention", url="/admin/retention", category="Privacy"))
    admin.add_view(AuditLogView(AuditLog, name="Audit log", endpoint="audit", url="/admin/audit", category="Privacy"))
    app.extensions["chatpad.admin"] = admin
    _error_pages(app, admin)
    return admin


def _error_pages(app: Flask, admin: Admin) -> None:
    """403, 404 and 405 on a page render inside the admin's layout (its menu shows only what the person may open)."""

    def page(error: HTTPException):
        if request.path.startswith(_PLAIN_PREFIXES) or not request.accept_mimetypes.accept_html:
            return error
        title, explanation = PAGE_ERRORS[error.code]
        body = admin.index_view.render("admin/error.html", code=error.code, title=title, explanation=explanation)
        return body, error.code

    for code in PAGE_ERRORS:
        app.register_error_handler(code, page)
