"""`flask --app app chatpad connect-email`: connect an IMAP/SMTP inbox from the command line (operators, scripts).

Runs the same checks as the "Test connection" button and connects the inbox only when both servers accept it.
"""

from __future__ import annotations

import os
import uuid

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from chatpad.channels.email.connection import test_connection
from chatpad.channels.email.settings import SECURITY, MailSettings, SettingsError, default_security
from chatpad.extensions import db
from chatpad.integrations.email_accounts import ConnectError, connect_inbox
from chatpad.models import Agent, Location, Organization


def _agent(ref: str, org: str | None) -> Agent:
    query = select(Agent)
    if org:
        query = query.join(Organization).where(Organization.name == org)
    try:
        found = db.session.scalars(query.where(Agent.id == uuid.UUID(ref))).all()
    except ValueError:
        found = db.session.scalars(query.where(Agent.name == ref)).all()
    if not found:
        raise click.ClickException(f"No agent {ref!r}" + (f" in {org!r}" if org else "") + ".")
    if len(found) > 1:
        raise click.ClickException(f"Several agents are called {ref!r}: give its id or --org.")
    return found[0]


def _location(agent: Agent, ref: str | None) -> Location | None:
    if not ref or ref.strip().lower() in ("general", "none", "-"):
        return None
    query = select(Location).where(Location.agent_id == agent.id)
    try:
        location = db.session.scalar(query.where(Location.id == uuid.UUID(ref)))
    except ValueError:
        location = db.session.scalar(query.where(Location.name == ref))
    if location is None:
        names = ", ".join(db.session.scalars(select(Location.name).where(Location.agent_id == agent.id))) or "none"
        raise click.ClickException(f"Agent {agent.name!r} has no location {ref!r} (it has: {names}; or General).")
    return location


@click.command("connect-email")
@with_appcontext
@click.option("--agent", "agent_ref", required=True, help="Agent name or id.")
@click.option("--org", default=None, help="Organization name, when agent names repeat across organizations.")
@click.option("--location", "location_ref", default=None, help="Location name or id; 'General' (default) for none.")
@click.option("--address", required=True, help="The inbox's email address.")
@click.option("--imap-host", required=True)
@click.option("--imap-port", type=int, default=993, show_default=True)
@click.option("--smtp-host", required=True)
@click.option("--smtp-port", type=int, default=587, show_default=True)
@click.option(
    "--security",
    type=click.Choice(("auto", *SECURITY)),
    default="auto",
    show_default=True,
    help="ssl = implicit TLS, starttls, none (loopback only); auto: ssl on 993/465, STARTTLS elsewhere.",
)
@click.option("--smtp-security", type=click.Choice(SECURITY), default=None, help="Override --security for SMTP.")
@click.option("--username", default=None, help="Sign-in name (default: the address).")
@click.option("--folder", default="INBOX", show_default=True, help="The folder to sync.")
@click.option("--sent-folder", default=None, help="Where replies are filed (default: the \\Sent folder).")
@click.option(
    "--backfill-days", type=int, default=None, help="How far back the first sync reaches (MAIL_BACKFILL_DAYS)."
)
@click.option("--name", default=None, help="Display name (default: the address).")
@click.option("--check-only", is_flag=True, help="Only test the connection; change nothing.")
def connect_email(
    agent_ref, org, location_ref, address, imap_host, imap_port, smtp_host, smtp_port, security, smtp_security,
    username, folder, sent_folder, backfill_days, name, check_only,
) -> None:  # fmt: skip
    """Connect an inbox by IMAP/SMTP and app password (from CHATPAD_MAIL_PASSWORD, or prompted)."""
    agent = _agent(agent_ref, org)
    location = _location(agent, location_ref)
    imap_security = default_security(imap_port, "imap") if security == "auto" else security
    smtp_sec = smtp_security or (default_security(smtp_port, "smtp") if security == "auto" else security)
    backfill = backfill_days if backfill_days is not None else int(current_app.config.get("MAIL_BACKFILL_DAYS", 7))
    try:
        settings = MailSettings(
            address=address,
            imap_host=imap_host,
            imap_port=imap_port,
            imap_security=imap_security,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_security=smtp_sec,
            username=username or address,
            folder=folder,
            sent_folder=sent_folder,
            backfill_days=backfill,
        )
        settings.validate(allow_insecure=bool(current_app.config.get("MAIL_ALLOW_INSECURE")))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    password = os.environ.get("CHATPAD_MAIL_PASSWORD") or click.prompt(
        f"Password for {settings.username}", hide_input=True
    )
    report = test_connection(settings, password, allow_insecure=bool(current_app.config.get("MAIL_ALLOW_INSECURE")))
    for step in report.steps:
        mark = "ok  " if step.ok else "FAIL"
        click.echo(f"  [{mark}] {step.server}: {step.detail}")
    if not report.ok:
        raise click.ClickException(report.summary)
    if check_only:
        click.echo("Connection OK (nothing changed: --check-only).")
        return
    try:
        account = connect_inbox(agent, location, settings, password=password, name=name)
    except ConnectError as exc:
        raise click.ClickException(str(exc)) from None
    where = location.name if location is not None else "General"
    click.echo(
        f"Connected {account.account_id} to {agent.name} / {where}; the first sync reaches back {backfill} days."
    )
