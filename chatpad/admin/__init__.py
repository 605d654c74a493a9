"""The admin (Flask-Admin), behind sign-in and scoped to the user's organization."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from chatpad.integrations.views import IntegrationsView
from chatpad.models import Agent, AuditLog, KnowledgeItem, Location, SocialAccount, User
from chatpad.privacy.admin import AuditLogView, CustomerDataView, RetentionView
from chatpad.security import csp_nonce

from .views import AgentView, DashboardView, KnowledgeItemView, LocationView, SocialAccountView, UserView


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
    admin.add_view(IntegrationsView(name="Integrations", endpoint="integrations", url="/admin/integrations"))
    admin.add_view(AgentView(Agent, name="Agents", endpoint="agents"))
    admin.add_view(LocationView(Location, name="Locations", endpoint="locations"))
    admin.add_view(SocialAccountView(SocialAccount, name="Accounts", endpoint="accounts"))
    admin.add_view(KnowledgeItemView(KnowledgeItem, name="Knowledge", endpoint="knowledge"))
    admin.add_view(UserView(User, name="Users", endpoint="users"))
    from chatpad.widget.admin import WidgetAdminView  # here: chatpad.widget imports the admin's base views

    admin.add_view(WidgetAdminView(name="Web widgets", endpoint="widgets", url="/admin/widgets"))
    admin.add_view(
        CustomerDataView(name="Customer data", endpoint="customer_data", url="/admin/customer-data", category="Privacy")
    )
    admin.add_view(RetentionView(name="Retention", endpoint="retention", url="/admin/retention", category="Privacy"))
    admin.add_view(AuditLogView(AuditLog, name="Audit log", endpoint="audit", url="/admin/audit", category="Privacy"))
    app.extensions["chatpad.admin"] = admin
    return admin
