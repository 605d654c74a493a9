"""OAuth routes for connecting Google and Microsoft inboxes: /integrations/email/oauth/<provider>/start and /callback.

Start (an admin, signed in) records what to connect (agent, location, backfill window) under a random state in the
session and sends the browser to the provider; the callback checks the state, exchanges the code, reads the mailbox
address from the ID token, tests IMAP and SMTP with the access token (XOAUTH2, as the password form tests its
password) and only then connects the inbox through email_accounts.connect_inbox. A failed test connects nothing and
says whether the server could not be reached or refused the sign-in. The Integrations screen links here.
"""

from __future__ import annotations

import secrets
import uuid

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required

from chatpad.channels.email import oauth
from chatpad.channels.email.connection import ConnectionReport, test_connection
from chatpad.channels.email.settings import MailSettings, SettingsError, provider_servers
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


PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft"}
# Steps of test_connection that fail because the server could not be reached, not because it refused the sign-in.
NETWORK_STEPS = ("dns", "connect", "tls", "timeout", "protocol")


def connection_failure_message(provider: str, address: str, report: ConnectionReport) -> str:
    """What the admin reads when the granted mailbox did not work: a network problem is said to be one (reconnecting
    can't fix it), a refused sign-in says what to change at the provider."""
    failed = report.failure
    name = PROVIDER_NAMES.get(provider, provider.title())
    server = failed.server if failed and failed.server in ("IMAP", "SMTP") else "mail"
    detail = failed.detail if failed else report.summary
    head = f"{address} was not connected: {name} granted access, but"
    if failed is not None and failed.step in NETWORK_STEPS:
        return (
            f"{head} ChatPad could not reach its {server} server ({detail}). This is a network problem, not the "
            "sign-in: connecting again won't help until the server can be reached; an operator can check this "
            "machine's network and the server setting."
        )
    if failed is not None and failed.step == "auth":
        where = "Microsoft 365 admin center" if provider == "microsoft" else "Gmail's settings"
        return (
            f"{head} its {server} server refused the sign-in ({detail}). Check that {server} access is turned on "
            f"for this mailbox in {where}, then connect again."
        )
    return f"{head} the {server} check failed ({detail})."


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
    try:
        servers = provider_servers(provider, current_app.config)
    except SettingsError as exc:
        flash(f"Could not connect {tokens.email}: {exc}. An operator must fix the setting.", "error")
        return redirect(target)
    settings = MailSettings(
        address=tokens.email, provider=provider, auth="oauth", backfill_days=pending["backfill_days"], **servers
    )
    # As the password form does: nothing is "Connected" until IMAP (sign-in, folder) and SMTP (sign-in) both
    # accepted the access token over XOAUTH2.
    report = test_connection(
        settings, tokens.access_token, allow_insecure=bool(current_app.config.get("MAIL_ALLOW_INSECURE"))
    )
    if not report.ok:
        flash(connection_failure_message(provider, tokens.email, report), "error")
        return redirect(target)
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
