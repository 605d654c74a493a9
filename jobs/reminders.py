"""Tour reminders, 24 hours and 1 hour before (issue 19; docs/booking.md "Reminders").

The scheduler runs send_due_reminders every REMINDER_TICK_SECONDS. Each reminder is claimed in the database before it
is sent (a conditional UPDATE of reminded_24h_at / reminded_1h_at), so however many schedulers, workers or retries
there are, a customer never gets the same reminder twice; rescheduling clears both marks (the service does), so the
new time gets its own. A reminder that is not needed any more is claimed and not sent: the 24-hour one once the tour is
less than REMINDER_24H_FLOOR away (the 1-hour one follows), and either one for a tour booked or moved in the last
REMINDER_QUIET (the confirmation just said it all).

It goes on the channel the tour was booked on, where the platform allows a message now (route()):
- Messenger: inside the 24-hour window as a normal message; outside it with the CONFIRMED_EVENT_UPDATE tag, which
  Meta allows for "reminders or updates for an event they have registered for";
- Instagram: inside its 24-hour window only; the web widget: only while the visitor wrote in the last
  WIDGET_WINDOW (later they have most likely left the page and would not see it); otherwise by email;
- email: always (a reply in the conversation's thread);
- SMS: unless the customer texted STOP; WhatsApp: inside its 24-hour window only (outside it takes a template, which
  ChatPad does not have for tours), otherwise by email.
By email means from the location's inbox to the address the customer gave, when there is one; with neither, the
reminder is not sent and the booking's history says why. Each reminder says when, where, and how to reschedule.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from chatpad.booking import service
from chatpad.booking.when import clock, day_name, zone_label
from chatpad.channels import CHANNELS, get_channel
from chatpad.channels.email.invitations import build_message, send_tour_email
from chatpad.channels.errors import SendError
from chatpad.channels.facebook.adapter import EVENT_UPDATE_TAG
from chatpad.extensions import db
from chatpad.messages import OutboundReply
from chatpad.models import Booking, Conversation, channel_label, utcnow
from jobs import app_context

log = logging.getLogger("chatpad.jobs.reminders")

# (kind, how long before the tour, the booking's column that marks it sent)
REMINDERS = (("24h", timedelta(hours=24), "reminded_24h_at"), ("1h", timedelta(hours=1), "reminded_1h_at"))
REMINDER_TICK_SECONDS = 120
REMINDER_24H_FLOOR = timedelta(hours=2)
REMINDER_QUIET = timedelta(minutes=30)
WIDGET_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Route:
    """How one reminder goes: "channel" (with a Messenger tag or not), "email", or "none"; `why` explains a
    fallback (shown in the booking's history)."""

    how: str
    tag: str | None = None
    why: str | None = None


def route(booking: Booking, conversation: Conversation | None, now: datetime | None = None) -> Route:
    """Where this tour's reminder may go now, by the rules of the channel it was booked on."""
    from chatpad.pipeline.replies import send_context

    email = Route("email") if booking.customer_email else None

    def fallback(why: str) -> Route:
        if email is not None:
            return Route("email", why=why)
        return Route("none", why=f"{why}, and no email address was given")

    if conversation is None or conversation.social_account is None or conversation.channel not in CHANNELS:
        return fallback("It was not booked in a conversation")
    if not conversation.social_account.is_active or conversation.social_account.status == "disconnected":
        return fallback(f"The {channel_label(conversation.channel)} account is disconnected")
    now = now or utcnow()
    channel = conversation.channel
    ctx = send_context(conversation, "system")
    last = conversation.last_inbound_at
    if channel == "facebook":
        if last is not None and now - last > timedelta(hours=24):
            ctx.extra["message_tag"] = EVENT_UPDATE_TAG
            reason = get_channel(channel).check_window(ctx)
            return Route("channel", tag=EVENT_UPDATE_TAG) if reason is None else fallback(reason)
    elif channel == "widget":
        if last is None or now - last > WIDGET_WINDOW:
            return fallback("The visitor has not written on the website for a day")
    reason = get_channel(channel).check_window(ctx)
    if reason:
        return fallback(reason)
    return Route("channel")


def reminder_text(booking: Booking, kind: str, *, by_email: bool = False, now: datetime | None = None) -> str:
    """The reminder: when (named day, time and zone), where, and how to reschedule or cancel."""
    location = booking.location
    zone = service.zone_of(location)
    local = booking.start_at.astimezone(zone)
    today = (now or utcnow()).astimezone(zone).date()
    title = (service.tour_type(location).title or "tour").lower()
    if kind == "1h":
        when = f"in about an hour, at {clock(local)} {zone_label(zone, booking.start_at)}"
    else:
        when = f"{day_name(local.date(), today)} at {clock(local)} {zone_label(zone, booking.start_at)}"
    name = f"Hi {booking.customer_name.split()[0]}, a" if booking.customer_name else "A"
    lines = [f"{name} reminder: your {title} of {location.name} is {when}."]
    if location.address:
        lines.append(f"Address: {location.address}.")
    how = "reply to this email" if by_email else "reply here"
    call = f" or call {location.phone}" if location.phone else ""
    lines.append(f"To reschedule or cancel, {how}{call}.")
    return " ".join(lines) if not by_email else "\n".join(lines)


def _claim(booking_id: uuid.UUID, column: str, now: datetime) -> bool:
    """Mark the reminder as ours to send; False when someone else did (never twice)."""
    attr = getattr(Booking, column)
    claimed = db.session.execute(
        update(Booking)
        .where(Booking.id == booking_id, attr.is_(None), Booking.status == "confirmed")
        .values({column: now})
        .returning(Booking.id)
    ).first()
    db.session.commit()
    return claimed is not None


def _recently_changed(booking: Booking, now: datetime) -> bool:
    for entry in reversed(booking.history or []):
        if entry.get("what") in ("confirmed", "rescheduled"):
            try:
                at = datetime.fromisoformat(entry["at"])
            except (KeyError, ValueError):
                return False
            return now - at < REMINDER_QUIET
    return False


def _by_email(booking: Booking, kind: str, why: str | None) -> str:
    from jobs.booking import sending_inbox

    inbox = sending_inbox(booking)
    if inbox is None:
        return "not sent: no email inbox is connected to send it from"
    location = booking.location
    local = booking.start_at.astimezone(service.zone_of(location))
    message = build_message(
        from_addr=inbox.account_id,
        from_name=location.name,
        to=booking.customer_email,
        subject=f"Reminder: tour of {location.name}, {local:%a %b} {local.day} at {clock(local)}",
        text=reminder_text(booking, kind, by_email=True) + f"\n\n{location.name}",
        ics=None,
        method=None,
    )
    try:
        send_tour_email(inbox, message)
    except SendError as exc:
        return f"not sent by email to {booking.customer_email}: {exc.reason}"
    return f"sent by email to {booking.customer_email}" + (f" ({why})" if why else "")


def send_reminder(booking: Booking, kind: str, now: datetime | None = None) -> str:
    """Send one (already claimed) reminder by route(); what happened, also noted on the booking."""
    from chatpad.pipeline import ReplyRefusedError, queue_reply
    from chatpad.pipeline.replies import send_context

    conversation = db.session.get(Conversation, booking.conversation_id) if booking.conversation_id else None
    way = route(booking, conversation, now)
    if way.how == "channel":
        label = channel_label(conversation.channel)
        ctx = send_context(conversation, "system")
        if way.tag:
            ctx.extra["message_tag"] = way.tag
        try:
            rows = queue_reply(
                conversation,
                OutboundReply(reminder_text(booking, kind, now=now), sender_type="system", extra={"reminder": kind}),
                idempotency_key=f"tour-reminder:{booking.id}:{kind}:{booking.sequence}",
                context=ctx,
            )
        except ReplyRefusedError as exc:
            way = Route("email", why=str(exc)) if booking.customer_email else Route("none", why=str(exc))
        else:
            skipped = next((r.error for r in rows if r.status == "skipped"), None)
            if skipped is None:
                outcome = f"queued on {label}" + (f" with the {way.tag} tag" if way.tag else "")
                booking.note(f"reminder {kind}", outcome=outcome)
                db.session.commit()
                return outcome
            way = Route("email", why=skipped) if booking.customer_email else Route("none", why=skipped)
    if way.how == "email":
        outcome = _by_email(booking, kind, way.why)
    else:
        outcome = f"not sent: {way.why}"
    booking.note(f"reminder {kind}", outcome=outcome)
    db.session.commit()
    return outcome


def send_due_reminders() -> int:
    """Scheduled: claim and send every reminder that has come due (24 h and 1 h before a booked tour)."""
    with app_context():
        now = utcnow()
        sent = 0
        for kind, lead, column in REMINDERS:
            due = db.session.scalars(
                select(Booking.id).where(
                    Booking.status == "confirmed",
                    Booking.start_at > now,
                    Booking.start_at <= now + lead,
                    getattr(Booking, column).is_(None),
                )
            ).all()
            for booking_id in due:
                if not _claim(booking_id, column, now):
                    continue
                booking = db.session.get(Booking, booking_id)
                if kind == "24h" and booking.start_at - now < REMINDER_24H_FLOOR:
                    booking.note("reminder 24h", outcome="not needed: the tour is less than 2 hours away")
                    db.session.commit()
                    continue
                if _recently_changed(booking, now):
                    booking.note(f"reminder {kind}", outcome="not needed: booked or moved just now")
                    db.session.commit()
                    continue
                try:
                    outcome = send_reminder(booking, kind, now)
                except Exception:  # one booking's failure must not stop the others' reminders
                    log.exception("reminder %s of tour %s failed", kind, booking_id)
                    db.session.rollback()
                    continue
                log.info("reminder %s of tour %s: %s", kind, booking_id, outcome)
                sent += outcome.startswith(("queued", "sent"))
        return sent
