"""Connecting accounts (docs/connecting.md): the Integrations tab, Facebook Login and the Instagram and email
connection screens, page selection and location assignment, and the token lifecycle (health checks, refresh).

init_integrations(app) registers the OAuth clients (Authlib) and the reconnection banner every admin page shows; the
admin view itself (IntegrationsView) is added by chatpad.site.init_admin.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask_login import current_user
from sqlalchemy import select

from chatpad.extensions import db


def init_integrations(app: Flask) -> None:
    """The OAuth registry (one per app) and the banner's context."""
    from .meta import register_oauth

    registry = OAuth(app)
    register_oauth(registry, app.config)

    @app.context_processor
    def _reauth_banner():
        return {"reauth_accounts": reauth_accounts}


def reauth_accounts() -> list:
    """The signed-in user's organization's accounts that need reconnection (for the admin banner).

    Only needs_reauth (the provider refused the credentials: invalid_grant, AUTHENTICATIONFAILED). An account in
    "error" (a mail server unreachable: DNS, refused, timeout) is not fixed by reconnecting; Integrations shows it
    with its red dot and the network reason instead."""
    from chatpad.models import SocialAccount

    if not current_user or not current_user.is_authenticated:
        return []
    return list(
        db.session.scalars(
            select(SocialAccount)
            .where(
                SocialAccount.tenant_clause(current_user.organization_id),
                SocialAccount.status == "needs_reauth",
                SocialAccount.is_active.is_(True),
            )
            .order_by(SocialAccount.account_name)
            .limit(50)
        )
    )
