"""The Connect Email screens: Google, Microsoft or any IMAP/SMTP server.

The mail side is the email channel's (chatpad.channels.email): Google and Microsoft sign in through its OAuth routes
(email_oauth.start / callback, which connect the inbox with connect_inbox), and an IMAP/SMTP inbox is checked with
test_connection (DNS, TCP, TLS, sign-in, folder, step by step) and connected with connect_inbox only when both
servers accept it, so a wrong password never leaves a half-connected inbox behind. This module only draws the screens.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user

from chatpad.models import Agent, SocialAccount
from chatpad.security import hit_limit

from . import connect

DEFAULT_PORTS = {"imap": {"ssl": 993, "starttls": 143, "none": 143}, "smtp": {"ssl": 465, "starttls": 587, "none": 25}}


def _email_modules():
    """The email channel's connection functions (None when the email package is not installed)."""
    try:
        from chatpad.channels.email import connection, settings

        from . import email_accounts as accounts
    except ImportError:  # pragma: no cover - the email channel ships with the app
        return None
    return accounts, connection, settings


class EmailScreens:
    """Mixed into IntegrationsView: /email/new, /email/imap, and reconnecting inboxes."""

    def email_available(self) -> bool:
        return _email_modules() is not None and "email_oauth.start" in current_app.view_functions

    def _email_agent(self, agent_id: str | None) -> Agent:
        agent = self._agent(agent_id)  # type: ignore[attr-defined]
        if agent is None:
            abort(404)
        return agent

    @expose("/email/new")
    def email_new(self):
        """Choose how to connect an inbox: Google, Microsoft, or IMAP/SMTP."""
        agent = self._email_agent(request.args.get("agent"))
        return self.render(
            "integrations/email_new.html",
            agent=agent,
            locations=connect.agent_locations(agent),
            backfill_days=current_app.config.get("MAIL_BACKFILL_DAYS", 7),
            google_ready=bool(current_app.config.get("GOOGLE_CLIENT_ID")),
            microsoft_ready=bool(current_app.config.get("MICROSOFT_CLIENT_ID")),
            next_url=url_for(".index", agent=str(agent.id)),
        )

    def _imap_defaults(self, account: SocialAccount | None) -> dict:
        values = {
            "address": "",
            "name": "",
            "location": "",
            "imap_host": "",
            "imap_port": 993,
            "imap_security": "ssl",
            "smtp_host": "",
            "smtp_port": 587,
            "smtp_security": "starttls",
            "username": "",
            "folder": "INBOX",
            "backfill_days": current_app.config.get("MAIL_BACKFILL_DAYS", 7),
        }
        if account is not None:
            meta = account.meta or {}
            values.update({k: meta[k] for k in values if k in meta})
            if "security" in meta:
                values["imap_security"] = values["smtp_security"] = meta["security"]
            values.update(
                address=account.account_id,
                name=account.account_name,
                location=str(account.location_id) if account.location_id else "",
            )
        return values

    @expose("/email/imap", methods=["GET", "POST"])
    def email_imap(self):
        """The IMAP/SMTP form: Test connection shows each step; Connect tests first and stores only on success."""
        modules = _email_modules()
        if modules is None:
            abort(404)
        accounts_mod, connection_mod, settings_mod = modules
        account = None
        if request.values.get("account"):
            account = self._account(request.values["account"])  # type: ignore[attr-defined]
            if account.channel != "email":
                abort(404)
        agent = account.agent if account is not None else self._email_agent(request.values.get("agent"))
        locations = connect.agent_locations(agent)
        values = self._imap_defaults(account)
        report = error = None
        status = 200
        if request.method == "POST":
            form = request.form
            values.update({k: form.get(k, "").strip() for k in values})
            password = form.get("password", "")
            try:
                location = connect.resolve_location(agent, values["location"] or None)
                settings = settings_mod.MailSettings(
                    address=values["address"],
                    imap_host=values["imap_host"],
                    imap_port=_number(values["imap_port"], "The IMAP port"),
                    imap_security=values["imap_security"],
                    smtp_host=values["smtp_host"],
                    smtp_port=_number(values["smtp_port"], "The SMTP port"),
                    smtp_security=values["smtp_security"],
                    username=values["username"] or values["address"],
                    folder=values["folder"] or "INBOX",
                    backfill_days=_number(values["backfill_days"] or "0", "The import window"),
                    provider="imap",
                    auth="password",
                )
            except (ValueError, settings_mod.SettingsError) as exc:
                error = str(exc)
            else:
                if not password and account is not None and account.status != "disconnected":
                    password = account.access_token or ""  # editing settings without retyping the password
                if not _may_test_connection():
                    status = 429
                    error = (
                        "Too many connection tests in a short time. Wait a few minutes, then test again "
                        "(nothing was connected)."
                    )
                else:
                    report = connection_mod.test_connection(
                        settings, password, allow_insecure=bool(current_app.config.get("MAIL_ALLOW_INSECURE"))
                    )
                if report is not None and report.ok and form.get("action") == "connect":
                    try:
                        connected = accounts_mod.connect_inbox(
                            agent,
                            location,
                            settings,
                            password=password,
                            name=values["name"] or None,
                            user_id=current_user.id,
                        )
                    except accounts_mod.ConnectError as exc:
                        error = _refusal(str(exc))
                    else:
                        flash(f"Connected {connected.account_id}.", "success")
                        return redirect(url_for(".index", agent=str(agent.id)))
        return self.render(
            "integrations/email_imap.html",
            agent=agent,
            account=account,
            locations=locations,
            values=values,
            report=report,
            error=error,
            default_ports=DEFAULT_PORTS,
        ), status

    def email_reconnect(self, account: SocialAccount):
        """Google/Microsoft: sign in again (the refresh token is replaced in place); IMAP: the form, pre-filled."""
        provider = (account.meta or {}).get("provider", "imap")
        if provider in ("google", "microsoft") and "email_oauth.start" in current_app.view_functions:
            return redirect(
                url_for(
                    "email_oauth.start",
                    provider=provider,
                    agent_id=str(account.agent_id),
                    location_id=str(account.location_id) if account.location_id else None,
                    login_hint=account.account_id,
                    next=url_for(".index", agent=str(account.agent_id)),
                )
            )
        return redirect(url_for(".email_imap", account=str(account.id)))


def _may_test_connection() -> bool:
    """Count one connection test against the limits per person and per organization (each test makes this server
    connect somewhere a tenant chose): False when over either (429)."""
    config = current_app.config
    user_ok = hit_limit(
        "mail-test-user", str(current_user.id), config.get("MAIL_TEST_RATE_LIMIT_USER", "10 per 10 minutes")
    )
    org_ok = hit_limit(
        "mail-test-org", str(current_user.organization_id), config.get("MAIL_TEST_RATE_LIMIT_ORG", "60 per hour")
    )
    return user_ok and org_ok


def _number(value: str, label: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a number, not {value!r}.") from None


def _refusal(message: str) -> str:
    """The email channel's refusal in this screen's words, never naming another customer."""
    if "another organization" in message:
        return (
            "This inbox is already connected to another ChatPad organization, and an inbox can belong to one "
            "organization at a time. Ask whoever connected it there to disconnect it first."
        )
    return message
