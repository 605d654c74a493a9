"""Tour jobs: the .ics invitation email, removing a cancelled tour's event from a calendar that was down, and keeping
calendars usable (tokens refreshed before they expire, a health check each CALENDAR_HEALTH_INTERVAL). The logic is in
chatpad.booking; docs/booking.md."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from chatpad.booking import service
from chatpad.booking.calendars import check_calendar, needs_refresh, refresh_calendar
from chatpad.booking.ics import build_calendar
from chatpad.booking.providers import CalendarError
from chatpad.booking.when import clock, zone_label
from chatpad.channels.email.invitations import build_message, send_tour_email
from chatpad.channels.errors import AuthExpiredError, SendError, TransientSendError
from chatpad.extensions import db
from chatpad.models import Booking, Calendar, SocialAccount, utcnow
from chatpad.notify import account_needs_reauth
from chatpad.queue import enqueue_after, job_id
from jobs import app_context

log = logging.getLogger("chatpad.jobs.booking")

INVITATION_RETRIES = (30, 120, 600, 1800)


def sending_inbox(booking: Booking) -> SocialAccount | None:
    """The inbox tour emails go out from: the location's own, else the agent's general inbox (no location)."""
    inboxes = db.session.scalars(
        select(SocialAccount)
        .where(
            SocialAccount.agent_id == booking.agent_id,
            SocialAccount.channel == "email",
            SocialAccount.is_active.is_(True),
            (SocialAccount.location_id == booking.location_id) | SocialAccount.location_id.is_(None),
        )
        .order_by(SocialAccount.location_id.is_(None), SocialAccount.created_at)
    ).all()
    return next((a for a in inboxes if a.status != "needs_reauth"), inboxes[0] if inboxes else None)


def invitation_text(booking: Booking, method: str) -> tuple[str, str]:
    """(subject, body) of a tour's invitation or cancellation."""
    location = booking.location
    zone = service.zone_of(location)
    local = booking.start_at.astimezone(zone)
    title = service.tour_type(location).title or "Tour"
    when = f"{local:%A, %B} {local.day} at {clock(local)} {zone_label(zone, booking.start_at)}"
    greeting = f"Hi {booking.customer_name.split()[0]}," if booking.customer_name else "Hello,"
    if method == "CANCEL":
        subject = f"Cancelled: {title} at {location.name}, {local:%a %b} {local.day}"
        lines = [greeting, "", f"Your {title.lower()} of {location.name} on {when} is cancelled."]
        lines.append("Reply to this email or message us any time to book another one.")
    else:
        subject = f"{title} at {location.name}: {local:%a %b} {local.day}, {clock(local)}"
        lines = [greeting, "", f"You're booked for a {title.lower()} of {location.name} on {when}."]
        if location.address:
            lines.append(f"Address: {location.address}")
        lines.append("The invitation is attached: add it to your calendar.")
        lines.append("To reschedule or cancel, reply to this email or write to us where you booked.")
    if location.phone:
        lines.append(f"Phone: {location.phone}")
    lines += ["", location.name]
    return subject, "\n".join(lines)


def send_invitation(booking_id: str, method: str, sequence: int) -> str:
    """Email the customer the tour's .ics (REQUEST or CANCEL) from the location's inbox; the booking records what
    happened (the Bookings page shows it). A newer change (a higher SEQUENCE) supersedes this one."""
    with app_context():
        booking = db.session.get(Booking, uuid.UUID(str(booking_id)))
        if booking is None or not booking.customer_email:
            return "skipped: no booking or no email"
        if booking.sequence != sequence:
            return "skipped: superseded by a newer change"
        inbox = sending_inbox(booking)
        if inbox is None:
            booking.invitation = {
                "status": "not_sent",
                "method": method,
                "to": booking.customer_email,
                "reason": "No email inbox is connected to send it from (Integrations → Email).",
                "at": utcnow().isoformat(),
            }
            db.session.commit()
            return "not sent: no inbox"
        spec = service.event_spec(booking, organizer_email=inbox.account_id)
        subject, text = invitation_text(booking, method)
        message = build_message(
            from_addr=inbox.account_id,
            from_name=booking.location.name,
            to=booking.customer_email,
            subject=subject,
            text=text,
            ics=build_calendar(spec, method=method),
            method=method,
        )
        attempts = int((booking.invitation or {}).get("attempts", 0)) + 1
        record = {"method": method, "to": booking.customer_email, "from": inbox.account_id, "attempts": attempts}
        try:
            message_id = send_tour_email(inbox, message)
        except AuthExpiredError as exc:
            account_needs_reauth(inbox, exc.reason)
            booking.invitation = {**record, "status": "failed", "reason": exc.reason, "at": utcnow().isoformat()}
            db.session.commit()
            return "failed: the inbox must be reconnected"
        except TransientSendError as exc:
            retry = attempts <= len(INVITATION_RETRIES)
            booking.invitation = {
                **record,
                "status": "queued" if retry else "failed",
                "reason": exc.reason,
                "at": utcnow().isoformat(),
            }
            db.session.commit()
            if retry:
                enqueue_after(
                    "mail",
                    INVITATION_RETRIES[attempts - 1],
                    "jobs.booking.send_invitation",
                    str(booking.id),
                    method,
                    sequence,
                    job_id=job_id("tour-invite", booking.id, sequence, method, attempts),
                )
            return f"deferred: {exc.reason}"
        except SendError as exc:
            booking.invitation = {**record, "status": "failed", "reason": exc.reason, "at": utcnow().isoformat()}
            db.session.commit()
            return f"failed: {exc.reason}"
        booking.invitation = {**record, "status": "sent", "message_id": message_id, "at": utcnow().isoformat()}
        db.session.commit()
        return "sent"


def remove_event(booking_id: str, attempt: int) -> str:
    """Try again to delete a cancelled tour's event from its calendar."""
    with app_context():
        booking = db.session.get(Booking, uuid.UUID(str(booking_id)))
        if booking is None or booking.status != "cancelled":
            return "skipped"
        return "removed" if service.remove_event(booking, attempt) else "still there"


def refresh_calendar_tokens() -> int:
    """Refresh every OAuth calendar token that expires within CALENDAR_TOKEN_REFRESH_MARGIN (before a tour needs it)."""
    with app_context():
        refreshed = 0
        calendars = db.session.scalars(
            select(Calendar).where(
                Calendar.provider.in_(("google", "microsoft")),
                Calendar.is_active.is_(True),
                Calendar.status.in_(("connected", "error")),
            )
        ).all()
        for calendar in calendars:
            # The scheduler runs this every 5 minutes: look that far ahead too.
            if not needs_refresh(calendar, float(current_app.config["CALENDAR_TOKEN_REFRESH_MARGIN"]) + 300):
                continue
            try:
                if refresh_calendar(calendar) == "refreshed":
                    refreshed += 1
            except CalendarError as exc:
                log.warning("calendar %s: token refresh failed for now: %s", calendar.id, exc.reason)
                db.session.rollback()
        return refreshed


def check_calendars() -> int:
    """Health-check each calendar not checked within CALENDAR_HEALTH_INTERVAL (a free/busy read of a day)."""
    with app_context():
        cutoff = utcnow() - timedelta(seconds=int(current_app.config["CALENDAR_HEALTH_INTERVAL"]) * 0.9)
        calendars = db.session.scalars(
            select(Calendar).where(
                Calendar.is_active.is_(True),
                Calendar.status != "disconnected",
                (Calendar.checked_at.is_(None)) | (Calendar.checked_at < cutoff),
            )
        ).all()
        for calendar in calendars:
            check_calendar(calendar)
        return len(calendars)
