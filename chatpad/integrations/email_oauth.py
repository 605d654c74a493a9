"""OAuth routes for connecting Google and Microsoft inboxes: /integrations/email/oauth/<provider>/start and /callback.

Start (an admin, signed in) records what to connect (agent, location, backfill window) under a random state in the
session and sends the browser to the provider; the callback checks the state, exchanges the code, reads the mailbox
address from the ID token and connects the inbox through email_accounts.connect_inbox. The Integrations screen
links here.
"""

from __future__ import annotations

import secrets
import uuid

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required

from chatpad.channels.email import oauth
from chatpad.channels.email.settings import PROVIDER_SERVERS, MailSettings
from chatpad.extensions import db
from chatpad.models import Agent, Location
from chatpad.security import safe_local_path

from .email_accounts import ConnectError, connect_inbox

bp = Blueprint("email_oauth", __name__, url_prefix="/integrations/email/oauth")

SESSION_KEY = "email_oauth"


def _safe_next(target: str | None) -> str:
    return safe_local_path(target) or url_for("admin.index")


def callback_url(provider: str) -> str:
    """The redirect URI registered with the provider: PUBLIC_URL when set (behind a proxy), else this request's."""
    path = url_for("email_oauth.callback", provider=provider)
    public = current_app.config.get("PUBLIC_URL")
    return public.rstrip("/") + path if public else url_for("email_oauth.callback", provider=provider, _external=True)


def _scoped(model, object_id: str | None):
    if not object_id:
        return None
    try:
        row = db.session.get(model, uuid.UUID(object_id))
    except ValueError:
        abort(400, "bad id")
    org_id = getattr(row, "organization_id", None) if model is Agent else (row.agent.organization_id if row else None)
    if row is None or org_id != current_user.organization_id:
        abort(404)
    return row


@bp.get("/<provider>/start")
@login_required
def start(provider: str):
    """Send an admin to Google or Microsoft to grant access to one mailbox."""
    if provider not in oauth.PROVIDERS:
        abort(404)
    if not current_user.is_admin:
        abort(403)
    agent = _scoped(Agent, request.args.get("agent_id"))
    if agent is None:
        abort(400, "agent_id is required")
    location = _scoped(Location, request.args.get("location_id"))
    if location is not None and location.agent_id != agent.id:
        abort(400, "that location is not the agent's")
    state = secrets.token_urlsafe(24)
    backfill = request.args.get("backfill_days", type=int)
    session[SESSION_KEY] = {
        "state": state,
        "provider": provider,
        "agent_id": str(agent.id),
        "location_id": str(location.id) if location else None,
        "backfill_days": backfill if backfill is not None else current_app.config.get("MAIL_BACKFILL_DAYS", 7),
        "next": _safe_next(request.args.get("next")),
    }
    return redirect(oauth.authorization_url(provider, callback_url(provider), state, request.args.get("login_hint")))


@bp.get("/<provider>/callback")
@login_required
def callback(provider: str):
    """The provider's redirect back: check state, exchange the code, connect the inbox."""
    pending = session.pop(SESSION_KEY, None)
    if (
        not pending
        or pending.get("provider") != provider
        or not secrets.compare_digest(pending.get("state", ""), request.args.get("state", ""))
    ):
        abort(400, "This sign-in link expired or was not started here. Start again from Integrations.")
    target = pending["next"]
    if request.args.get("error"):
        why = request.args.get("error_description") or request.args["error"]
        flash(f"{provider.title()} did not grant access: {why}", "error")
        return redirect(target)
    agent = _scoped(Agent, pending["agent_id"])
    location = _scoped(Location, pending.get("location_id"))
    try:
        tokens = oauth.exchange_code(provider, request.args.get("code", ""), callback_url(provider))
    except (oauth.OAuthGrantError, oauth.OAuthTemporaryError) as exc:
        flash(f"Could not finish connecting: {exc}", "error")
        return redirect(target)
    if not tokens.email:
        flash(f"{provider.title()} did not say which mailbox was granted; connect again and allow 'email'.", "error")
        return redirect(target)
    servers = PROVIDER_SERVERS[provider]
    settings = MailSettings(
        address=tokens.email, provider=provider, auth="oauth", backfill_days=pending["backfill_days"], **servers
    )
    try:
        account = connect_inbox(
            agent,
            location,
            settings,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
            user_id=current_user.id,
        )
    except ConnectError as exc:
        flash(str(exc), "error")
        return redirect(target)
    flash(f"Connected {account.account_id}.", "success")
    return redirect(target)
