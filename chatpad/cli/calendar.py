"""`flask --app app chatpad connect-calendar`: connect a location's CalDAV calendar (iCloud, Fastmail, Nextcloud, …)
from the command line. The same steps as Integrations → Calendars → CalDAV: the server lists the user's calendars,
one is chosen, its free/busy is read, and only then is it stored (the password encrypted)."""

from __future__ import annotations

import os
import uuid

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from chatpad.extensions import db
from chatpad.integrations.calendars import CalendarSetupError, connect_caldav
from chatpad.models import Agent, Calendar, Location, Organization


def _location(ref: str, org: str | None) -> Location:
    query = select(Location).join(Agent, Agent.id == Location.agent_id)
    if org:
        query = query.join(Organization, Organization.id == Agent.organization_id).where(Organization.name == org)
    try:
        found = db.session.scalars(query.where(Location.id == uuid.UUID(ref))).all()
    except ValueError:
        found = db.session.scalars(query.where(Location.name == ref)).all()
    if not found:
        raise click.ClickException(f"No location {ref!r}" + (f" in {org!r}" if org else "") + ".")
    if len(found) > 1:
        raise click.ClickException(f"Several locations are called {ref!r}: give its id or --org.")
    return found[0]


@click.command("connect-calendar")
@with_appcontext
@click.option("--location", "location_ref", required=True, help="Location name or id.")
@click.option("--org", default=None, help="Organization name, when location names repeat across organizations.")
@click.option("--caldav-url", required=True, help="The CalDAV server's address (or the calendar's own).")
@click.option("--username", required=True, help="The CalDAV user name.")
@click.option("--calendar", "calendar_name", default=None, help="Which of the user's calendars (its name).")
def connect_calendar(location_ref, org, caldav_url, username, calendar_name) -> None:
    """Connect a CalDAV calendar to a location (password from CHATPAD_CALENDAR_PASSWORD, or prompted)."""
    location = _location(location_ref, org)
    password = os.environ.get("CHATPAD_CALENDAR_PASSWORD") or click.prompt(f"Password for {username}", hide_input=True)
    try:
        calendar = connect_caldav(
            location, url=caldav_url, username=username, password=password, calendar=calendar_name
        )
    except CalendarSetupError as exc:
        if exc.choices:
            click.echo("Calendars of this user:", err=True)
            for choice in exc.choices:
                click.echo(f"  {choice.name}  ({choice.url})", err=True)
        raise click.ClickException(f"Not connected. {exc.reason}") from None
    count = db.session.scalar(
        select(func.count(Calendar.id)).where(Calendar.location_id == location.id, Calendar.is_active.is_(True))
    )
    shared = f" {count} calendars there share its tours, round robin." if count > 1 else ""
    click.echo(
        f"Connected {calendar.name} ({calendar.remote_id}) to {location.name}: free/busy answered, tours can be "
        f"booked into it.{shared}"
    )
