"""The admin site (Flask-Admin), behind sign-in and scoped to the user's organization: every face's screens in one
menu. It sits above the faces it assembles (admin, inbox, integrations, privacy, widget), so none of them imports
another's package to be listed."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from chatpad.admin.views import AgentView, DashboardView, KnowledgeItemView, LocationView, SocialAccountView, UserView
from chatpad.inbox import init_inbox
from chatpad.integrations.views import IntegrationsView
from chatpad.models import Agent, AuditLog, KnowledgeItem, Location, SocialAccount, User
from chatpad.privacy.admin import AuditLogView, CustomerDataView, RetentionView
from chatpad.security import csp_nonce
from chatpad.widget.admin import WidgetAdminView


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
    admin.add_view(IntegrationsView(name="Integrations", endpoint="integrations", url="/admin/integrations"))
    admin.add_view(AgentView(Agent, name="Agents", endpoint="agents", category="Setup"))
    admin.add_view(LocationView(Location, name="Locations", endpoint="locations", category="Setup"))
    admin.add_view(SocialAccountView(SocialAccount, name="Accounts", endpoint="accounts", category="Setup"))
    admin.add_view(KnowledgeItemView(KnowledgeItem, name="Knowledge", endpoint="knowledge", category="Setup"))
    admin.add_view(UserView(User, name="Users", endpoint="users", category="Setup"))
    admin.add_view(WidgetAdminView(name="Web widgets", endpoint="widgets", url="/admin/widgets", category="Setup"))
    admin.add_view(
        CustomerDataView(name="Customer data", endpoint="customer_data", url="/admin/customer-data", category="Privacy")
    )
    admin.add_view(RetentionView(name="Retention", endpoint="retention", url="/admin/retention", category="Privacy"))
    admin.add_view(AuditLogView(AuditLog, name="Audit log", endpoint="audit", url="/admin/audit", category="Privacy"))
    app.extensions["chatpad.admin"] = admin
    return admin
