"""The Bookings page (issue 19): one location's tours, upcoming or past, with their status, calendar, invitation and
conversation; staff mark no-shows, and reschedule or cancel a tour for the customer.

Moving and cancelling go through the booking service (chatpad.booking.service: the calendar event moves or goes,
SEQUENCE goes up, the customer's email gets the updated .ics). When the tour came from a conversation, the customer is
also told there (chatpad.pipeline.queue_reply, a person's message, so the channel's window rules apply); when the
channel refuses (its window has closed), the page says the customer was not told there. Every query is scoped to the
signed-in person's organization and locations.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select

from chatpad.audit import record_audit
from chatpad.booking import service
from chatpad.booking.when import clock, zone_label
from chatpad.extensions import db
from chatpad.models import ACTIVE_BOOKING_STATUSES, Booking, Conversation, Location, User, channel_label, utcnow

from .views import SecureViewMixin, current_scope

SHOWS = {"upcoming": "Upcoming", "past": "Past 30 days", "cancelled": "Cancelled"}
STATUS_LABELS = {
    "holding": "Booking…",
    "confirmed": "Booked",
    "cancelled": "Cancelled",
    "failed": "Not booked",
    "no_show": "No-show",
}


def local_when(booking: Booking, at: datetime | None = None) -> str:
    """'Sat Dec 12, 11:00 AM Central Time (CST)': in the location's time zone, named."""
    zone = service.zone_of(booking.location)
    moment = (at or booking.start_at).astimezone(zone)
    return f"{moment:%a %b} {moment.day}, {clock(moment)} {zone_label(zone, moment)}"


def tell_customer(booking: Booking, text: str, *, user: User, key: str) -> str:
    """Tell the customer on the conversation's channel (a person's message, under the channel's rules); what happened,
    in the admin's words."""
    from chatpad.messages import OutboundReply
    from chatpad.pipeline import ReplyRefusedError, queue_reply

    conversation = db.session.get(Conversation, booking.conversation_id) if booking.conversation_id else None
    if conversation is None:
        return "It was booked outside a conversation, so the customer was not messaged."
    label = channel_label(conversation.channel)
    try:
        queue_reply(conversation, OutboundReply(text, sender_type="human"), user=user, idempotency_key=key)
    except ReplyRefusedError as exc:
        db.session.rollback()
        return f"Not told on {label}: {exc}"
    return f"The customer is being told on {label}."


def _invitation_note(booking: Booking) -> str:
    invitation = booking.invitation or {}
    if invitation.get("status") == "not_sent":
        return "No updated invitation was emailed: " + (invitation.get("reason") or "no email address.")
    if invitation.get("by"):
        return f"{invitation['by']} sends the attendee the update."
    if invitation.get("to"):
        return f"The updated invitation is being emailed to {invitation['to']}."
    return ""


def card_context() -> dict:
    """What templates/admin/_booking_card.html needs besides the booking."""
    users = db.session.scalars(select(User).where(User.organization_id == current_user.organization_id))
    return {
        "booking_status_labels": STATUS_LABELS,
        "local_when": local_when,
        "now": utcnow(),
        "users": {u.id: u for u in users},
        "channel_label": channel_label,
    }


def conversation_tours(conversation: Conversation) -> list[Booking]:
    """The tours booked in this conversation (the inbox shows them beside it), newest first."""
    return list(
        db.session.scalars(
            select(Booking)
            .where(current_scope().where(Booking), Booking.conversation_id == conversation.id)
            .where(Booking.status != "failed")
            .order_by(Booking.start_at.desc())
            .limit(10)
        )
    )


class BookingsView(SecureViewMixin, BaseView):
    """/admin/bookings/?location=…: a location's tours."""

    allowed_roles = ("owner", "admin", "agent")

    def _locations(self) -> list[Location]:
        return list(db.session.scalars(select(Location).where(current_scope().where(Location)).order_by(Location.name)))

    def _booking(self, booking_id: str) -> Booking:
        try:
            key = uuid.UUID(str(booking_id))
        except ValueError:
            abort(404)
        booking = db.session.scalar(select(Booking).where(Booking.id == key, current_scope().where(Booking)))
        if booking is None:
            abort(404)
        return booking

    def _back(self, booking: Booking):
        target = request.form.get("next") or ""
        if target.startswith("/admin/") and "\n" not in target and "//" not in target:
            return redirect(target)
        return redirect(url_for(".index", location=str(booking.location_id)))

    @expose("/")
    def index(self):
        locations = self._locations()
        chosen = None
        wanted = request.args.get("location")
        if wanted:
            chosen = next((loc for loc in locations if str(loc.id) == wanted), None)
            if chosen is None:
                abort(404)
        elif locations:
            chosen = locations[0]
        show = request.args.get("show", "upcoming")
        if show not in SHOWS:
            show = "upcoming"
        now = utcnow()
        bookings: list[Booking] = []
        if chosen is not None:
            query = select(Booking).where(current_scope().where(Booking), Booking.location_id == chosen.id)
            if show == "upcoming":
                query = query.where(Booking.status.in_(ACTIVE_BOOKING_STATUSES), Booking.end_at > now).order_by(
                    Booking.start_at
                )
            elif show == "past":
                query = query.where(
                    Booking.start_at <= now,
                    Booking.start_at > now - timedelta(days=30),
                    Booking.status.in_(("confirmed", "no_show")),
                ).order_by(Booking.start_at.desc())
            else:
                query = query.where(Booking.status.in_(("cancelled", "failed"))).order_by(Booking.start_at.desc())
            bookings = list(db.session.scalars(query.limit(200)))
        return self.render(
            "admin/bookings.html",
            locations=locations,
            location=chosen,
            show=show,
            shows=SHOWS,
            bookings=bookings,
            calendar_only=chosen is not None and not service.bookable(chosen),
            **card_context(),
        )

    @expose("/<booking_id>/no-show", methods=["POST"])
    def no_show(self, booking_id: str):
        booking = self._booking(booking_id)
        undo = request.form.get("undo") == "1"
        try:
            service.mark_no_show(booking, by_user_id=current_user.id, no_show=not undo)
        except service.BookingError as exc:
            flash(exc.reason, "error")
            return self._back(booking)
        self._audit("booking.no_show_undone" if undo else "booking.no_show", booking)
        who = booking.customer_name or "The customer"
        flash(f"{who}'s tour is {'booked again (no-show undone)' if undo else 'marked as a no-show'}.", "success")
        return self._back(booking)

    @expose("/<booking_id>/reschedule", methods=["POST"])
    def reschedule(self, booking_id: str):
        booking = self._booking(booking_id)
        zone = service.zone_of(booking.location)
        try:
            local = datetime.fromisoformat((request.form.get("start") or "").strip())
        except ValueError:
            flash("Give the new time as a date and a time.", "error")
            return self._back(booking)
        if local.tzinfo is not None:
            local = local.replace(tzinfo=None)
        start = local.replace(tzinfo=zone)
        before = local_when(booking)
        try:
            service.reschedule(booking, start, by_user_id=current_user.id)
        except service.SlotTaken as exc:
            others = ", ".join(local_when(booking, s.start) for s in exc.alternatives) or "none in the next days"
            flash(f"Not moved: {exc.reason} The nearest free times: {others}.", "error")
            return self._back(booking)
        except service.BookingError as exc:
            flash(f"Not moved: {exc.reason}", "error")
            return self._back(booking)
        after = local_when(booking)
        told = tell_customer(
            booking,
            f"Your tour of {booking.location.name} has been moved to {after}. Reply here if that doesn't suit you.",
            user=current_user._get_current_object(),
            key=f"tour-moved:{booking.id}:{booking.sequence}",
        )
        self._audit("booking.rescheduled", booking, before=before, after=after)
        flash(f"Moved to {after} in {booking.calendar.name if booking.calendar else 'the calendar'}. {told} "
              f"{_invitation_note(booking)}".strip(), "success")  # fmt: skip
        return self._back(booking)

    @expose("/<booking_id>/cancel", methods=["POST"])
    def cancel(self, booking_id: str):
        booking = self._booking(booking_id)
        if not booking.active:
            flash("This tour is not booked any more.", "warning")
            return self._back(booking)
        reason = (request.form.get("reason") or "").strip()[:500] or "Cancelled by staff"
        when = local_when(booking)
        service.cancel(booking, reason=reason, by_user_id=current_user.id)
        told = tell_customer(
            booking,
            f"Your tour of {booking.location.name} on {when} has been cancelled. Reply here to book another time.",
            user=current_user._get_current_object(),
            key=f"tour-cancelled:{booking.id}",
        )
        self._audit("booking.cancelled", booking, reason=reason)
        calendar = (
            f" It is still in {booking.calendar.name}: {booking.error}"
            if booking.error
            else " Removed from the calendar."
        )
        flash(f"Cancelled the tour of {when}.{calendar} {told} {_invitation_note(booking)}".strip(), "success")
        return self._back(booking)

    def _audit(self, action: str, booking: Booking, **detail) -> None:
        record_audit(
            action,
            organization_id=current_user.organization_id,
            user_id=current_user.id,
            detail={"booking_id": str(booking.id), **detail},
            ip=request.remote_addr,
        )
        db.session.commit()
