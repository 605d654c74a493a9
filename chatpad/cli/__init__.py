"""`flask --app app chatpad …`: operator commands."""

from __future__ import annotations

import os

import click
from flask import Blueprint, current_app
from sqlalchemy import func, select, text

from chatpad.crypto import get_cipher
from chatpad.extensions import db
from chatpad.models import ROLES, Organization, User
from chatpad.users import UserChangeRefused, check_user_change

from .calendar import connect_calendar
from .email import connect_email

bp = Blueprint("chatpad", __name__, cli_group="chatpad")
bp.cli.add_command(connect_email)
bp.cli.add_command(connect_calendar)


@bp.cli.command("create-user")
@click.argument("email")
@click.option("--org", "org_name", required=True, help="Organization name (created if it does not exist).")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@click.option("--name", default=None, help="Display name.")
@click.option(
    "--location",
    "locations",
    multiple=True,
    help="Limit an agent to this location (by name; repeat for several): an on-site manager sees only those "
    "locations' conversations, contacts, notifications and analytics.",
)
def create_user(email: str, org_name: str, role: str, name: str | None, locations: tuple[str, ...]) -> None:
    """Create a user (password from CHATPAD_PASSWORD, or prompted)."""
    from chatpad.team import locations_named, set_locations

    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise click.ClickException(f"A user with email {email} already exists.")
    if locations and role != "agent":
        raise click.ClickException(
            f"Only agents can be limited to locations; an {role} manages the whole organization. Use --role agent."
        )
    org = db.session.scalar(select(Organization).where(Organization.name == org_name))
    found = []
    if locations:
        if org is None:
            raise click.ClickException(f"No organization named {org_name!r}, so none of its locations either.")
        found, missing = locations_named(org.id, locations)
        if missing:
            raise click.ClickException(f"{org_name!r} has no location named {', '.join(map(repr, missing))}.")
    password = os.environ.get("CHATPAD_PASSWORD") or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise click.ClickException("The password must be at least 10 characters.")
    if org is None:
        org = Organization(name=org_name)
        db.session.add(org)
        db.session.flush()
        click.echo(f"Created organization {org_name!r}.")
    user = User(organization_id=org.id, email=email, name=name, role=role)
    user.set_password(password)
    if found:
        set_locations(user, [location.id for location in found])
    try:
        check_user_change(None, user)  # the operator counts as an owner; the same rules as the admin's Users form
    except UserChangeRefused as refused:
        raise click.ClickException(str(refused)) from None
    db.session.add(user)
    db.session.commit()
    where = f", limited to {', '.join(location.name for location in found)}" if found else ""
    click.echo(f"Created {role} {email} in {org_name!r}{where}.")


@bp.cli.command("demo")
def demo() -> None:
    """Seed the demo business (MHP Communities: 20 locations, their Pages, Instagram accounts and inboxes)."""
    from chatpad.demo import seed_demo

    result = seed_demo()
    if result.created:
        click.echo(f"Seeded {result.organization.name}: {result.created} rows created.")
    else:
        click.echo(f"{result.organization.name} is already seeded; nothing changed.")
    port = current_app.config.get("PORT", 5000)
    click.echo(f"Sign in at http://127.0.0.1:{port}/login as {result.admin_email}", nl=False)
    click.echo(f" with password {result.admin_password}" if result.admin_password else " (existing password)")


# Tables and columns that hold encrypted secrets.
ENCRYPTED_COLUMNS = {
    "social_accounts": ("access_token", "refresh_token"),
    "calendars": ("access_token", "refresh_token"),
}


@bp.cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored token under the newest TOKEN_ENCRYPTION_KEYS key.

    Put the new key first in TOKEN_ENCRYPTION_KEYS (keep the old ones after it), run this, then drop the old keys.
    """
    cipher = get_cipher()
    rotated = 0
    for table, columns in ENCRYPTED_COLUMNS.items():
        cols = ", ".join(columns)
        rows = db.session.execute(text(f"SELECT id, {cols} FROM {table}")).all()  # noqa: S608 (fixed names)
        for row in rows:
            updates = {}
            for column, value in zip(columns, row[1:], strict=True):
                if value and not cipher.is_current(value):
                    updates[column] = cipher.rotate(value)
            if updates:
                assignments = ", ".join(f"{c} = :{c}" for c in updates)
                db.session.execute(
                    text(f"UPDATE {table} SET {assignments} WHERE id = :id"),  # noqa: S608
                    {**updates, "id": row[0]},
                )
                rotated += 1
    db.session.commit()
    click.echo(f"Re-encrypted {rotated} row(s) under the newest key.")


@bp.cli.command("events")
@click.option("--status", type=click.Choice(["pending", "processed", "ignored", "failed"]), default=None)
@click.option("--channel", default=None)
@click.option("--limit", default=20, show_default=True)
def list_events(status: str | None, channel: str | None, limit: int) -> None:
    """List recent webhook events (the durable inbound log), newest first."""
    from chatpad.models import WebhookEvent

    query = select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)
    if status:
        query = query.where(WebhookEvent.status == status)
    if channel:
        query = query.where(WebhookEvent.channel == channel)
    for event in db.session.scalars(query):
        error = f"  {event.error}" if event.error else ""
        click.echo(
            f"{event.id:>8}  {event.received_at:%Y-%m-%d %H:%M:%S}  {event.channel:<10} {event.status:<9} "
            f"attempts={event.attempts} {len(event.body)}B{error}"
        )


@bp.cli.command("replay-event")
@click.argument("event_ids", nargs=-1, type=int, required=True)
def replay_event(event_ids: tuple[int, ...]) -> None:
    """Process stored webhook events again (after a fix, or to recover failed ones). Safe: ingest is idempotent."""
    from chatpad.lanes import enqueue_events
    from chatpad.models import WebhookEvent

    found = list(db.session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(event_ids))))
    for event in found:
        event.status, event.error, event.attempts = "pending", None, 0
    db.session.commit()
    redis_keys = [f"rq:job:event-{event.id}" for event in found]
    if redis_keys:
        from chatpad.queue import get_redis

        get_redis().delete(*redis_keys)  # finished jobs of those ids would block new ones
    queued = enqueue_events([event.id for event in found])
    missing = sorted(set(event_ids) - {event.id for event in found})
    click.echo(f"Queued {queued} event(s) for processing." + (f" Not found: {missing}" if missing else ""))
