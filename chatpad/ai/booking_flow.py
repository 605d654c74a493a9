"""Booking a tour inside the conversation, by rules (the offline provider's flow; docs/booking.md).

compose_reply calls run_flow() before the provider, with the database at hand: it reads the customer's latest message
and the conversation's booking state (Conversation.booking_state: the slots offered, the one picked, the details
given), does what the message asks through the booking service (chatpad.booking.service: availability, book,
reschedule, cancel) and leaves a BookingTurn on the context. The offline responder, which never touches the database,
only says what the turn holds: a reply of its own (a pick, the details, a booking, a move, a cancel), or an offer of
slots in place of the booking link beside its other answers.

The steps:

- asked to visit ("Can I see it Saturday at 11?"): that slot when it is free, else the nearest ones (three at most),
  the time zone named; as quick replies (Messenger, Instagram, the widget, WhatsApp's buttons), numbered choices
  where there are no buttons (SMS: "2" picks the second), a short list in email;
- a slot picked: what is still missing is asked (a name, and an email or phone; a typed one goes on the booking
  only, never on the contact, so it merges nothing), then the service re-checks free/busy and creates the event
  idempotently; the customer is told, and emailed the .ics when an email is known;
- "move it to 3" / "cancel my tour": the customer's next tour is moved (SEQUENCE goes up) or cancelled (CANCEL);
- a calendar that is down: "I couldn't book that just now", the booking link, and the team is told;
- no calendar connected (or no office hours): nothing here, the responder gives the booking link as before.

A job that runs again for the same message (a retry) gets the turn stored for that message back, so nothing is booked
twice and the customer reads the same answer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chatpad.booking import service
from chatpad.booking.service import BookingError, CalendarDown, Customer, SlotTaken
from chatpad.booking.slots import Slot
from chatpad.booking.when import (
    Wanted,
    nearest_slots,
    parse_wanted,
    pick_offered,
    slot_label,
    slot_title,
    zone_label,
)
from chatpad.extensions import db
from chatpad.messages import Button
from chatpad.models import Booking, Conversation, Location, Message, latest_customer_message

from .booking_tools import BookingTools, wants_move
from .context import ReplyContext
from .text import STOPWORDS, any_phrase, normalize

log = logging.getLogger("chatpad.ai.booking")

OFFER_TTL = timedelta(days=3)  # an offer older than this is forgotten (its slots are likely gone)
MAX_OFFERED = 3

VISIT_PHRASES = (
    "tour",
    "visit",
    "showing",
    "schedule",
    "appointment",
    "book",
    "booking",
    "come by",
    "stop by",
    "come see",
    "come out",
    "see the home",
    "see the house",
    "see it",
    "see the place",
    "see the community",
    "viewing",
    "walk through",
    "walkthrough",
)
CANCEL_RE = re.compile(
    r"\bcancel+(?:l?ed|l?ing)?\b.*\b(tour|visit|appointment|booking|showing|it|that|reservation)\b"
    r"|\b(tour|visit|appointment|booking|showing)\b.*\bcancel"
    r"|^\s*cancel(?:\s+it)?\s*[.!]?\s*$"
    r"|\bcan'?t make it\b"
)
YES_RE = re.compile(
    r"^\s*(yes|yeah|yep|yup|sure|ok|okay|please|perfect|great|sounds good|that works|works for me|book it|"
    r"let'?s do it|do it)\b"
)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"(?<!\d)(\+?1[\s.\-]?)?\(?(\d{3})\)?[\s.\-]?(\d{3})[\s.\-]?(\d{4})(?!\d)")
NAME_RE = re.compile(
    r"\b(?:my name is|my name's|name is|name's|i am|i'm|im|this is|it's|it is|under|for)\s+"
    r"([A-Za-z][A-Za-z'\-]+(?:\s+[A-Za-z][A-Za-z'\-]+){0,3})",
    re.IGNORECASE,
)
NOT_NAMES = frozenset(
    "yes no ok okay sure thanks thank you hi hello hey please the a an tour visit saturday sunday monday tuesday "
    "wednesday thursday friday tomorrow today morning afternoon evening interested looking free available sounds "
    "good great fine works number email phone name call text cool awesome nope yep yeah sorry maybe".split()
)


def _not_a_name(token: str) -> bool:
    word = token.lower().strip("'")
    return word in STOPWORDS or word in NOT_NAMES


@dataclass
class BookingTurn:
    """What the booking flow did for this message, for the responder to say (plain data: no ORM, no I/O)."""

    kind: str  # offer | ask | booked | taken | down | rescheduled | cancelled | none_left | nothing_booked | full
    text: str
    quick_replies: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    own_reply: bool = True  # the whole reply; False: an offer said beside the responder's other answers
    handoff: bool = False
    handoff_reason: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> BookingTurn:
        data = dict(data)
        data["buttons"] = [Button(**b) for b in data.get("buttons") or []]
        return cls(**data)


# --- state ----------------------------------------------------------------------------------------------------------


def _state(conversation: Conversation, now: datetime) -> dict:
    state = dict(conversation.booking_state or {})
    updated = state.get("updated")
    if state.get("stage") and updated:
        try:
            if datetime.fromisoformat(updated) < now - OFFER_TTL:
                state = {k: v for k, v in state.items() if k in ("name", "email", "phone")}
        except ValueError:
            state = {}
    return state


def _save(conversation: Conversation, state: dict, now: datetime) -> None:
    state["updated"] = now.isoformat()
    conversation.booking_state = state
    db.session.commit()


def _starts(state: dict) -> list[datetime]:
    out = []
    for value in state.get("offered") or []:
        try:
            out.append(datetime.fromisoformat(value).astimezone(UTC))
        except (TypeError, ValueError):
            continue
    return out


# --- reading the message ------------------------------------------------------------------------------------------


def _latest(conversation: Conversation) -> Message | None:
    return db.session.scalar(latest_customer_message(conversation.id))


def _picked_title(message: Message) -> str | None:
    """The title of the quick reply or numbered choice the message picked (Messenger's tap, SMS "2")."""
    meta = message.meta or {}
    for key in ("choice", "quick_reply"):
        value = meta.get(key)
        if isinstance(value, dict) and value.get("title"):
            return str(value["title"])
    return None


SEE_RE = re.compile(r"\b(see|view|look at|check out|come (?:by|in|out|over))\b")


def wants_visit(text: str, wanted: Wanted | None = None) -> bool:
    """Asking to visit: "a tour", "can I come by", or seeing something on a day ("see a home Thursday at 11")."""
    q = normalize(text)
    return any_phrase(q, VISIT_PHRASES) or (wanted is not None and wanted.day is not None and bool(SEE_RE.search(q)))


def wants_cancel(text: str) -> bool:
    return CANCEL_RE.search(normalize(text)) is not None


def parse_details(text: str, need_name: bool) -> dict[str, str]:
    """The name, email and phone a message gives ("Ada Lovelace, ada@example.com", "I'm Ada, 512-555-0199")."""
    found: dict[str, str] = {}
    email = EMAIL_RE.search(text)
    if email:
        found["email"] = email.group(0).strip(".").lower()
    rest = EMAIL_RE.sub(" ", text)
    phone = PHONE_RE.search(rest)
    if phone:
        found["phone"] = "+1" + "".join(phone.groups()[1:])
        rest = PHONE_RE.sub(" ", rest)
    if need_name:
        match = NAME_RE.search(rest)
        tokens: list[str] = []
        if match:
            for token in match.group(1).split():  # "I'm Ada and my number is …": the name ends at "and"
                if _not_a_name(token):
                    break
                tokens.append(token)
        elif "?" not in rest:
            # A bare "Ada Lovelace": letters only, no word a sentence would have ("what's", "your", "sounds").
            bare = re.sub(r"[,;:.!]+", " ", rest).strip().split()
            if 1 <= len(bare) <= 4 and all(re.fullmatch(r"[A-Za-z][A-Za-z'\-]*", t) for t in bare):
                tokens = [] if any(_not_a_name(t) for t in bare) else bare
        if tokens:
            found["name"] = " ".join(t[:1].upper() + t[1:] for t in tokens[:4])
    return found


# --- saying it ----------------------------------------------------------------------------------------------------


class _Words:
    """Slot wording for one location and channel."""

    def __init__(self, location: Location, ctx: ReplyContext):
        self.location = location
        self.ctx = ctx
        self.zone = service.zone_of(location)
        self.today = ctx.now.astimezone(self.zone).date()

    def when(self, start: datetime) -> str:
        return slot_label(start, self.zone, self.today)

    def zone_name(self, start: datetime) -> str:
        return zone_label(self.zone, start)

    def offer(self, slots: list[Slot], lead: str) -> tuple[str, list[str]]:
        """The offer's text and its quick replies, in the channel's way."""
        titles = [slot_title(s.start, self.zone) for s in slots]
        channel = self.ctx.channel
        zone = self.zone_name(slots[0].start).replace(" (", ", ").rstrip(")")  # "Central Time, CST"
        if channel.email or not channel.quick_replies:
            lines = "\n".join(f"• {self.when(s.start)}" for s in slots)
            return f"{lead} ({zone}):\n{lines}\nReply with the time that suits you and I'll book it.", []
        if channel.numbered_choices:
            return f"{lead} ({zone}).", titles
        times = _join([self.when(s.start) for s in slots])
        return f"{lead} ({zone}): {times}. Tap one to book it.", titles

    def tour(self) -> str:
        return (service.tour_type(self.location).title or "Tour").lower()


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _link(location: Location) -> tuple[str, list[Button]]:
    if location.booking_url:
        return f"You can book here: {location.booking_url}", [
            Button(type="web_url", title="Book a tour", payload=location.booking_url)
        ]
    phone = f" or call {location.phone}" if location.phone else ""
    return f"A member of the team will confirm a time with you here{phone}.", []


# --- the flow -------------------------------------------------------------------------------------------------------


BURST_MAX = 5  # at most this many of the customer's latest messages are read as one burst
BURST_AGE = timedelta(days=1)


def _burst(conversation: Conversation, now: datetime) -> list[Message]:
    """The customer's messages this reply answers, oldest first: those after the last message the AI or a person
    sent (a burst such as "jane@example.com" then "thanks!" is read in order, and a reply that was dropped because
    the customer wrote again is not lost: its message is part of the next one's burst)."""
    from sqlalchemy import func, select

    said = db.session.scalar(
        select(func.max(Message.id)).where(
            Message.conversation_id == conversation.id,
            Message.direction == "outbound",
            Message.sender_type.in_(("ai", "human")),
        )
    )
    query = (
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == "inbound",
            Message.sender_type == "contact",
            Message.deleted_at.is_(None),
            Message.created_at > now - BURST_AGE,
        )
        .order_by(Message.id.desc())
        .limit(BURST_MAX)
    )
    if said is not None:
        query = query.where(Message.id > said)
    burst = list(reversed(db.session.scalars(query).all()))
    if not burst:
        latest = _latest(conversation)
        burst = [latest] if latest is not None else []
    return burst


def _combine(turns: list[BookingTurn]) -> BookingTurn:
    """Several messages' turns as one reply: every text in order, the last one's choices."""
    if len(turns) == 1:
        return turns[0]
    last = turns[-1]
    return BookingTurn(
        last.kind,
        "\n\n".join(dict.fromkeys(t.text for t in turns)),
        quick_replies=last.quick_replies,
        buttons=[b for t in turns for b in t.buttons][:3],
        own_reply=any(t.own_reply for t in turns),
        handoff=any(t.handoff for t in turns),
        handoff_reason=next((t.handoff_reason for t in turns if t.handoff_reason), None),
    )


def run_flow(conversation: Conversation, ctx: ReplyContext) -> BookingTurn | None:
    """Do what the customer's latest messages ask of the booking flow, if anything, and say what to answer. None:
    not about booking, or no calendar to book with (the responder answers as usual, with the booking link).

    Each message's turn is kept in booking_state["turns"] under its id, so a job that runs again (a retry, or the
    next message's job after this reply was dropped) reuses it: nothing is booked twice. Commits."""
    location = conversation.location
    if location is None or location.agent_id != conversation.agent_id or not service.bookable(location):
        return None
    now = ctx.now
    burst = _burst(conversation, now)
    if not burst:
        return None
    state = _state(conversation, now)
    done: dict = dict(state.get("turns") or {})
    turns: list[BookingTurn] = []
    changed = False
    for message in burst:
        key = str(message.id)
        if key in done:
            if done[key]:
                turns.append(BookingTurn.from_json(done[key]))
            continue
        flow = _Flow(conversation, location, ctx, state, message)
        try:
            turn = flow.run()
        except BookingError as exc:  # the service refused (not booked any more, …): said plainly
            db.session.rollback()
            turn = BookingTurn("refused", exc.reason)
        done[key] = turn.to_json() if turn is not None else None
        changed = True
        if turn is not None:
            turns.append(turn)
    if changed:
        keep = {str(m.id) for m in burst}
        state["turns"] = {k: v for k, v in done.items() if k in keep}
        _save(conversation, state, now)
    return _combine(turns) if turns else None


def attach(conversation: Conversation, ctx: ReplyContext, provider: str) -> None:
    """Before the provider runs: the offline provider gets this message's booking turn (ctx.booking); a language
    model gets the booking tools (ctx.booking_tools, chatpad/ai/booking_tools.py). A failure here never costs the
    customer an answer: it is logged and the reply goes on without booking (the booking link)."""
    try:
        if provider == "offline":
            ctx.booking = run_flow(conversation, ctx)
        else:
            ctx.booking_tools = BookingTools.for_conversation(conversation, ctx)
    except Exception:
        db.session.rollback()
        log.exception("the booking flow failed for conversation %s", conversation.id)


class _Flow:
    def __init__(self, conversation: Conversation, location: Location, ctx: ReplyContext, state: dict, message):
        self.conversation = conversation
        self.location = location
        self.ctx = ctx
        self.state = state
        self.message = message
        self.text = (message.content or "").strip()
        self.words = _Words(location, ctx)
        self.zone = self.words.zone
        self.local_now = ctx.now.astimezone(self.zone)

    # --- routing ---

    def run(self) -> BookingTurn | None:
        text = self.text
        if not text:
            return None
        upcoming = service.upcoming_for(self.conversation)
        if upcoming is not None and wants_cancel(text):
            return self.cancel(upcoming)
        stage = self.state.get("stage")
        if stage == "offered":
            picked = self.pick()
            if picked is not None:
                return self.picked(picked)
        if stage == "details":
            turn = self.details()
            if turn is not None:
                return turn
        if upcoming is not None and (wants_move(text) or (stage == "offered" and self.state.get("mode") == "move")):
            return self.move(upcoming)
        if wants_cancel(text) and upcoming is None and wants_visit(text):
            return BookingTurn("nothing_booked", "I don't see an upcoming tour booked for you here.")
        wanted = parse_wanted(text, self.local_now)
        if wants_visit(text, wanted) or (stage in ("offered", "details") and wanted.day is not None):
            return self.offer(wanted, mode="book")
        return None

    # --- offering ---

    def offer(self, wanted: Wanted, *, mode: str, exclude: Booking | None = None) -> BookingTurn:
        free = service.availability(self.location, exclude=exclude, now=self.ctx.now)
        if free.down:
            return self.down("; ".join(e.reason for e in free.unreadable.values()))
        chosen, exact = nearest_slots(free.slots, wanted, self.zone, limit=MAX_OFFERED)
        if not chosen:
            text, buttons = _link(self.location)
            return BookingTurn(
                "full",
                f"I don't see an open time for a {self.words.tour()} in the next {free.rules.horizon_days} days. "
                + text,
                buttons=buttons,
            )
        if exact:
            slot = chosen[0]
            ask = "Shall I move your tour there?" if mode == "move" else "Shall I book it?"
            lead = f"{self.words.when(slot.start)} is open"
            text, quick = self.words.offer([slot], lead)
            zone = self.words.zone_name(slot.start)
            channel = self.ctx.channel
            if channel.email or not channel.quick_replies:
                text = f'{lead} ({zone}). {ask} Just reply "yes".'
            elif channel.numbered_choices:
                text = f"{lead} ({zone}). {ask}"  # the adapter adds "Reply with a number: 1. …"
            else:
                text = f"{lead} ({zone}). {ask} Tap the time to confirm."
        else:
            if wanted.day is not None and wanted.at is not None:
                asked = slot_label(
                    datetime.combine(wanted.day, wanted.at, tzinfo=self.zone), self.zone, self.words.today
                )
                lead = f"{asked} isn't available. The nearest open times"
            elif wanted.any:
                lead = "Here are the open times closest to that"
            else:
                lead = f"Happy to set up a {self.words.tour()} of {self.location.name}! The next open times"
            text, quick = self.words.offer(chosen, lead)
        self.state.update(
            stage="offered",
            mode=mode,
            offered=[s.start.isoformat() for s in chosen],
            booking_id=str(exclude.id) if exclude is not None else None,
        )
        return BookingTurn("offer", text, quick_replies=quick, own_reply=mode == "move")

    def pick(self) -> datetime | None:
        offered = _starts(self.state)
        if not offered:
            return None
        title = _picked_title(self.message)
        if title:  # a tap or a numbered choice: its title says which (a "2" that picked another option is not a slot)
            return pick_offered(title, offered, self.zone, self.local_now)
        picked = pick_offered(self.text, offered, self.zone, self.local_now)
        if picked is not None:
            return picked
        if len(offered) == 1 and YES_RE.search(normalize(self.text)):
            return offered[0]
        return None

    def picked(self, start: datetime) -> BookingTurn:
        if self.state.get("mode") == "move":
            booking = self._booking(self.state.get("booking_id")) or service.upcoming_for(self.conversation)
            if booking is None:
                self.state.update(stage=None, offered=[])
                return BookingTurn("nothing_booked", "I don't see an upcoming tour booked for you here any more.")
            return self.reschedule(booking, start)
        self.state.update(stage="details", picked=start.isoformat(), offered=[])
        return self.details(asking=True) or self.book(start)

    # --- details ---

    def _known(self) -> dict[str, str | None]:
        contact = self.conversation.contact
        profile_name = contact.name if contact and contact.name and "@" not in contact.name else None
        name = self.state.get("name") or profile_name
        email = self.state.get("email") or (contact.email if contact else None)
        phone = self.state.get("phone") or (contact.phone if contact else None)
        return {"name": name, "email": email, "phone": phone}

    def details(self, *, asking: bool = False) -> BookingTurn | None:
        """Take the details this message gives; book when nothing is missing, else ask for what is. None when the
        message is about something else (the responder answers it; the flow waits)."""
        known = self._known()
        if not asking:
            given = parse_details(self.text, need_name=not known["name"])
            if not given:
                return None
            self.state.update(given)  # on the booking only: never on the contact (a claim merges nothing)
            known = self._known()
        start = datetime.fromisoformat(self.state["picked"]).astimezone(UTC)
        missing = []
        if not known["name"]:
            missing.append("the name to put the tour under")
        if not (known["email"] or known["phone"]):
            missing.append("an email or phone number for the confirmation")
        if not missing:
            return self.book(start) if not asking else None
        when = f"{self.words.when(start)} ({self.words.zone_name(start)})"
        ask = " and ".join(missing)
        if self.ctx.channel.email or not known["email"] and known["phone"] and "the name" in ask:
            ask += " (and an email if you'd like a calendar invitation)" if not known["email"] else ""
        return BookingTurn("ask", f"Great — {when}. To book it, what's {ask}?")

    # --- booking, moving, cancelling ---

    def book(self, start: datetime) -> BookingTurn:
        known = self._known()
        customer = Customer(name=known["name"], email=known["email"], phone=known["phone"])
        try:
            booking = service.book(
                self.location,
                start,
                customer=customer,
                channel=self.conversation.channel,
                conversation=self.conversation,
                now=self.ctx.now,
            )
        except SlotTaken as taken:
            return self._taken(start, taken, mode="book")
        except CalendarDown as down:
            return self.down(down.reason)
        self.state.update(stage="booked", offered=[], picked=None, booking_id=str(booking.id))
        return BookingTurn("booked", self._confirmation(booking, "You're booked"))

    def _confirmation(self, booking: Booking, head: str) -> str:
        start = booking.start_at
        where = f" at {self.location.address}" if self.location.address else ""
        text = (
            f"{head}: a {self.words.tour()} of {self.location.name} on {self.words.when(start)} "
            f"{self.words.zone_name(start)}{where}."
        )
        invitation = booking.invitation or {}
        if invitation.get("status") in ("queued", "sent") and invitation.get("to"):
            text += f" A calendar invitation is on its way to {invitation['to']}."
        if self.ctx.channel.numbered_choices:
            # A lone CANCEL is a carrier opt-out keyword (chatpad/channels/sms/keywords.py): it would stop every text.
            text += ' To change it, reply "move it to 3" or "cancel my tour".'

        else:
            text += ' To change it, just reply here ("move it to 3" or "cancel my tour").'
        return text

    def _taken(self, start: datetime, taken: SlotTaken, *, mode: str) -> BookingTurn:
        alternatives = taken.alternatives[:MAX_OFFERED]
        when = self.words.when(start)
        if not alternatives:
            text, buttons = _link(self.location)
            self.state.update(stage=None, offered=[])
            return BookingTurn(
                "taken", f"Sorry — {when} was just taken, and I don't see another open time. {text}", buttons=buttons
            )
        text, quick = self.words.offer(alternatives, f"Sorry — {when} was just taken. The nearest open times")
        self.state.update(stage="offered", mode=mode, offered=[s.start.isoformat() for s in alternatives])
        return BookingTurn("taken", text, quick_replies=quick)

    def down(self, reason: str) -> BookingTurn:
        """The calendar did not answer: the booking link, and the team told (notify, once per conversation)."""
        service.outage(self.location, self.conversation, reason or "no calendar answered.")
        db.session.commit()
        text, buttons = _link(self.location)
        self.state.update(stage=None, offered=[])
        return BookingTurn(
            "down",
            f"I couldn't book that just now — our calendar isn't answering. {text} I've let the team know, so "
            "someone will follow up with you.",
            buttons=buttons,
        )

    def move(self, booking: Booking) -> BookingTurn:
        local = booking.start_at.astimezone(self.zone)
        wanted = parse_wanted(self.text, self.local_now)
        if wanted.at is not None and wanted.day is None:
            wanted = Wanted(day=local.date(), at=wanted.at, part=wanted.part, explicit_hour=True)
        elif wanted.day is not None and wanted.at is None and wanted.part is None:
            wanted = Wanted(day=wanted.day, at=local.time(), explicit_hour=False)
        if wanted.day is not None and wanted.at is not None:
            target = datetime.combine(wanted.day, wanted.at, tzinfo=self.zone)
            if target.astimezone(UTC) == booking.start_at:
                return BookingTurn("unchanged", f"Your tour is already {self.words.when(booking.start_at)}.")
            free = service.availability(self.location, exclude=booking, now=self.ctx.now)
            if free.down:
                return self.down("; ".join(e.reason for e in free.unreadable.values()))
            if any(s.start == target.astimezone(UTC) for s in free.slots):
                return self.reschedule(booking, target.astimezone(UTC))
        if not wanted.any:
            wanted = Wanted(day=local.date(), at=local.time(), explicit_hour=False)
        turn = self.offer(wanted, mode="move", exclude=booking)
        if turn.kind == "offer":
            turn.text = f"Your tour is {self.words.when(booking.start_at)}. " + turn.text
        return turn

    def reschedule(self, booking: Booking, start: datetime) -> BookingTurn:
        try:
            moved = service.reschedule(booking, start, now=self.ctx.now)
        except SlotTaken as taken:
            self.state["booking_id"] = str(booking.id)
            return self._taken(start, taken, mode="move")
        except CalendarDown as down:
            return self.down(down.reason)
        self.state.update(stage="booked", offered=[], mode=None, booking_id=str(moved.id))
        return BookingTurn("rescheduled", self._confirmation(moved, "Done — your tour is moved"))

    def cancel(self, booking: Booking) -> BookingTurn:
        when = self.words.when(booking.start_at)
        service.cancel(booking, reason="Cancelled by the customer in the conversation")
        self.state.update(stage=None, offered=[], booking_id=None, mode=None)
        invitation = booking.invitation or {}
        mailed = (
            f" I've sent the cancellation to {invitation['to']}."
            if invitation.get("status") in ("queued", "sent") and invitation.get("to")
            else ""
        )
        return BookingTurn(
            "cancelled",
            f"Your {self.words.tour()} on {when} is cancelled.{mailed} Whenever you'd like another time, just ask.",
        )

    def _booking(self, booking_id: Any) -> Booking | None:
        if not booking_id:
            return None
        import uuid as _uuid

        try:
            booking = db.session.get(Booking, _uuid.UUID(str(booking_id)))
        except ValueError:
            return None
        if booking is None or booking.location_id != self.location.id or not booking.active:
            return None
        return booking
