"""Booking for a language model: find_slots, book, reschedule and cancel as Chat Completions tools (function calling),
each mapped onto the booking service (chatpad.booking.service) the offline flow uses (docs/booking.md).

The provider runs the model; when it asks for a tool, BookingTools.call() runs it here, in the job's thread, with the
database (each call commits before the model is asked again, so no connection waits idle in a transaction while the
model thinks). Results are small JSON objects with a "say" line a model can repeat. The customer's details are what
they gave in the conversation (the channel's own phone or email when the model passes none); a typed email goes on
the booking only. The slots found are kept in the conversation's booking_state like the offline flow's offers, and
become the reply's quick replies (numbered on SMS).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime, time
from typing import Any

from chatpad.booking import service
from chatpad.booking.service import BookingError, CalendarDown, Customer, SlotTaken
from chatpad.booking.slots import Slot
from chatpad.booking.when import Wanted, nearest_slots, parse_wanted, slot_label, slot_title, zone_label
from chatpad.extensions import db
from chatpad.models import Conversation, Location

from .context import ReplyContext
from .errors import AIError
from .prompt import build_messages
from .providers import ProviderReply
from .settings import AISettings
from .text import normalize

log = logging.getLogger("chatpad.ai.booking_tools")

MAX_TOOL_ROUNDS = 5

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "find_slots",
            "description": "Open tour times near what the customer asked (at most 3). Call it before offering times.",
            "parameters": {
                "type": "object",
                "properties": {
                    "date": {"type": "string", "description": "YYYY-MM-DD, the location's local date (optional)"},
                    "time": {"type": "string", "description": "HH:MM, 24-hour local time (optional)"},
                    "part_of_day": {"type": "string", "enum": ["morning", "afternoon", "evening"]},
                    "request": {"type": "string", "description": "the customer's words, e.g. 'Saturday at 11'"},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book",
            "description": "Book a tour at a start time find_slots returned. Needs the customer's name and an email "
            "or phone (ask for what is missing first).",
            "parameters": {
                "type": "object",
                "properties": {
                    "start": {"type": "string", "description": "the slot's start, as find_slots returned it"},
                    "name": {"type": "string"},
                    "email": {"type": "string"},
                    "phone": {"type": "string"},
                },
                "required": ["start", "name"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "reschedule",
            "description": "Move the customer's upcoming tour to another start time (from find_slots).",
            "parameters": {
                "type": "object",
                "properties": {"start": {"type": "string"}},
                "required": ["start"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cancel",
            "description": "Cancel the customer's upcoming tour.",
            "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
        },
    },
]


class BookingTools:
    """The booking tools of one conversation (its location must be bookable)."""

    def __init__(self, conversation_id: uuid.UUID, ctx: ReplyContext):
        self.conversation_id = conversation_id
        self.ctx = ctx
        self.offered: list[str] = []  # quick-reply titles of the last slots found this turn
        self.calls: list[dict[str, Any]] = []

    @classmethod
    def for_conversation(cls, conversation: Conversation, ctx: ReplyContext) -> BookingTools | None:
        location = conversation.location
        if location is None or location.agent_id != conversation.agent_id or not service.bookable(location):
            return None
        return cls(conversation.id, ctx)

    # --- the database side ---

    def _conversation(self) -> Conversation:
        conversation = db.session.get(Conversation, self.conversation_id)
        if conversation is None:
            raise BookingError("The conversation is gone.")
        return conversation

    def _location(self, conversation: Conversation) -> Location:
        return conversation.location

    def prompt(self) -> str:
        """What the system prompt adds: how to use the tools, the zone, what is known of the customer."""
        conversation = self._conversation()
        location = self._location(conversation)
        zone = service.zone_of(location)
        contact = conversation.contact
        known = [
            f"{label}: {value}"
            for label, value in (
                ("name", contact.name if contact and contact.name and "@" not in contact.name else None),
                ("email", contact.email if contact else None),
                ("phone", contact.phone if contact else None),
            )
            if value
        ]
        upcoming = service.upcoming_for(conversation)
        lines = [
            "",
            f"Tours of {location.name} can be booked in this conversation with the tools find_slots, book, "
            "reschedule and cancel. Times are local to the location: "
            f"{zone_label(zone, self.ctx.now)} ({zone.key}); always name the time zone.",
            "Call find_slots before offering times and offer only what it returns (at most 3). To book, you need the "
            "customer's name and an email or phone: ask for what is missing, then call book. Never say a tour is "
            "booked, moved or cancelled unless the tool said so. If a tool says calendar_down, give the booking link "
            "and say a team member will follow up.",
            "Known about the customer from the channel: " + (", ".join(known) if known else "nothing") + ".",
        ]
        if upcoming is not None:
            when = slot_label(upcoming.start_at, zone, self.ctx.now.astimezone(zone).date())
            lines.append(
                f"The customer's upcoming tour: {when} (start {upcoming.start_at.astimezone(zone).isoformat()})."
            )
        return "\n".join(lines)

    def call(self, name: str, arguments: str | dict | None) -> dict[str, Any]:
        """Run one tool; its JSON result (errors included: the model reads them and tells the customer)."""
        try:
            args = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else (arguments or {})
        except ValueError:
            return {"status": "error", "say": "The tool's arguments were not valid JSON."}
        if not isinstance(args, dict):
            args = {}
        handler = getattr(self, f"_tool_{name}", None)
        if handler is None:
            return {"status": "error", "say": f"There is no tool named {name}."}
        try:
            result = handler(self._conversation(), args)
        except BookingError as exc:
            db.session.rollback()
            result = {"status": "error", "say": exc.reason}
        self.calls.append({"name": name, "status": result.get("status")})
        return result

    def _slot_json(self, slot: Slot, zone) -> dict[str, str]:
        today = self.ctx.now.astimezone(zone).date()
        return {
            "start": slot.start.astimezone(zone).isoformat(),
            "label": slot_label(slot.start, zone, today),
            "title": slot_title(slot.start, zone),
        }

    def _remember(self, conversation: Conversation, slots: list[Slot], mode: str, booking_id=None) -> None:
        zone = service.zone_of(conversation.location)
        self.offered = [slot_title(s.start, zone) for s in slots]
        state = dict(conversation.booking_state or {})
        state.update(
            stage="offered" if slots else None,
            mode=mode,
            offered=[s.start.isoformat() for s in slots],
            booking_id=str(booking_id) if booking_id else state.get("booking_id"),
            updated=self.ctx.now.isoformat(),
        )
        conversation.booking_state = state
        db.session.commit()

    def _down(self, conversation: Conversation, reason: str) -> dict[str, Any]:
        location = conversation.location
        service.outage(location, conversation, reason or "no calendar answered.")
        db.session.commit()
        self.offered = []
        return {
            "status": "calendar_down",
            "booking_url": location.booking_url,
            "say": "I couldn't book that just now"
            + (f"; the customer can book at {location.booking_url}" if location.booking_url else "")
            + ". The team has been told.",
        }

    def _start(self, conversation: Conversation, value: Any) -> datetime:
        zone = service.zone_of(conversation.location)
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise BookingError(f"{value!r} is not a start time from find_slots.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)

    def _tool_find_slots(self, conversation: Conversation, args: dict) -> dict[str, Any]:
        location = conversation.location
        zone = service.zone_of(location)
        local_now = self.ctx.now.astimezone(zone)
        wanted = parse_wanted(str(args.get("request") or ""), local_now)
        day, at, part = wanted.day, wanted.at, wanted.part
        try:
            if args.get("date"):
                day = datetime.fromisoformat(str(args["date"])).date()
            if args.get("time"):
                at = time.fromisoformat(str(args["time"]))
        except ValueError:
            return {"status": "error", "say": "date must be YYYY-MM-DD and time HH:MM."}
        if args.get("part_of_day") in ("morning", "afternoon", "evening"):
            part = args["part_of_day"]
        upcoming = service.upcoming_for(conversation)
        moving = upcoming is not None and _mentions_move(self.ctx.question)
        free = service.availability(location, now=self.ctx.now, exclude=upcoming if moving else None)
        if free.down:
            return self._down(conversation, "; ".join(e.reason for e in free.unreadable.values()))
        chosen, exact = nearest_slots(
            free.slots, Wanted(day=day, at=at, part=part, explicit_hour=at is not None), zone, limit=3
        )
        self._remember(conversation, chosen, "move" if moving else "book", upcoming.id if moving else None)
        slots = [self._slot_json(s, zone) for s in chosen]
        if not slots:
            return {"status": "none", "booking_url": location.booking_url, "say": "No open tour times were found."}
        zone_name = zone_label(zone, chosen[0].start)
        head = (
            f"{slots[0]['label']} is open"
            if exact
            else "The nearest open times are " + ", ".join(s["label"] for s in slots)
        )
        return {
            "status": "ok",
            "timezone": zone.key,
            "zone": zone_name,
            "exact": exact,
            "slots": slots,
            "say": f"{head} ({zone_name}).",
        }

    def _tool_book(self, conversation: Conversation, args: dict) -> dict[str, Any]:
        start = self._start(conversation, args.get("start"))
        contact = conversation.contact
        customer = Customer(
            name=str(args.get("name") or "").strip() or (contact.name if contact else None),
            email=str(args.get("email") or "").strip() or (contact.email if contact else None),
            phone=str(args.get("phone") or "").strip() or (contact.phone if contact else None),
        )
        if not customer.name or not (customer.email or customer.phone):
            return {"status": "missing", "say": "Ask the customer for their name and an email or phone first."}
        location = conversation.location
        zone = service.zone_of(location)
        try:
            booking = service.book(
                location, start, customer=customer, channel=conversation.channel, conversation=conversation
            )
        except SlotTaken as taken:
            self._remember(conversation, taken.alternatives[:3], "book")
            return {
                "status": "taken",
                "alternatives": [self._slot_json(s, zone) for s in taken.alternatives[:3]],
                "say": "That time was just taken. Offer these instead: "
                + ", ".join(
                    slot_label(s.start, zone, self.ctx.now.astimezone(zone).date()) for s in taken.alternatives[:3]
                ),
            }
        except CalendarDown as down:
            return self._down(conversation, down.reason)
        self.offered = []
        state = dict(conversation.booking_state or {})
        state.update(stage="booked", offered=[], booking_id=str(booking.id), updated=self.ctx.now.isoformat())
        conversation.booking_state = state
        db.session.commit()
        invitation = booking.invitation or {}
        when = slot_label(booking.start_at, zone, self.ctx.now.astimezone(zone).date())
        mailed = invitation.get("to") if invitation.get("status") in ("queued", "sent") else None
        return {
            "status": "booked",
            "booking_id": str(booking.id),
            "start": booking.start_at.astimezone(zone).isoformat(),
            "invitation_emailed_to": mailed,
            "say": f"Booked: {when} {zone_label(zone, booking.start_at)}."
            + (f" A calendar invitation is on its way to {mailed}." if mailed else ""),
        }

    def _tool_reschedule(self, conversation: Conversation, args: dict) -> dict[str, Any]:
        booking = service.upcoming_for(conversation)
        if booking is None:
            return {"status": "none", "say": "The customer has no upcoming tour."}
        start = self._start(conversation, args.get("start"))
        zone = service.zone_of(conversation.location)
        try:
            moved = service.reschedule(booking, start)
        except SlotTaken as taken:
            self._remember(conversation, taken.alternatives[:3], "move", booking.id)
            return {
                "status": "taken",
                "alternatives": [self._slot_json(s, zone) for s in taken.alternatives[:3]],
                "say": "That time is not available; offer the alternatives.",
            }
        except CalendarDown as down:
            return self._down(conversation, down.reason)
        self.offered = []
        when = slot_label(moved.start_at, zone, self.ctx.now.astimezone(zone).date())
        return {
            "status": "rescheduled",
            "start": moved.start_at.astimezone(zone).isoformat(),
            "say": f"Moved: the tour is now {when} {zone_label(zone, moved.start_at)}.",
        }

    def _tool_cancel(self, conversation: Conversation, args: dict) -> dict[str, Any]:
        booking = service.upcoming_for(conversation)
        if booking is None:
            return {"status": "none", "say": "The customer has no upcoming tour."}
        zone = service.zone_of(conversation.location)
        when = slot_label(booking.start_at, zone, self.ctx.now.astimezone(zone).date())
        service.cancel(booking, reason=str(args.get("reason") or "Cancelled by the customer in the conversation"))
        self.offered = []
        return {"status": "cancelled", "say": f"Cancelled: the tour on {when}."}


MOVE_RE = re.compile(
    r"\b(move|moving|reschedule|rescheduling|change|push|switch|shift)\b(?!\s+(?:in|out)\b)"
    r"|\b(instead|another time|different time|later time|earlier time)\b"
)


def wants_move(text: str) -> bool:
    """Does the message ask to move a tour ("can we move it to 3?", "reschedule", "another time")?"""
    return MOVE_RE.search(normalize(text or "")) is not None


def _mentions_move(text: str) -> bool:
    return wants_move(text)


def generate_with_tools(client, context: ReplyContext, settings: AISettings, parse_answer) -> ProviderReply:
    """The model's answer when it may call the booking tools: each round's tool calls are run and their results
    given back, until it answers (at most MAX_TOOL_ROUNDS rounds). parse_answer reads the final content (the
    provider's own)."""

    tools: BookingTools = context.booking_tools
    messages: list[dict[str, Any]] = build_messages(context)
    messages[0] = {**messages[0], "content": messages[0]["content"] + "\n" + tools.prompt()}
    db.session.commit()  # nothing held while the model thinks
    trace: dict[str, Any] = {}
    for _ in range(MAX_TOOL_ROUNDS):
        message, trace = client.complete(messages, json_mode=settings.json_mode, tools=TOOLS, raw=True)
        calls = message.get("tool_calls") or []
        if not calls:
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            reply = parse_answer(content or "", trace)
            if tools.offered:  # the slots found become the quick replies (numbered on SMS)
                reply.quick_replies = list(tools.offered)
            reply.trace["booking_tools"] = tools.calls
            return reply
        messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
        for call in calls:
            function = call.get("function") or {}
            result = tools.call(str(function.get("name") or ""), function.get("arguments"))
            log.info(
                "booking tool %s for conversation %s: %s",
                function.get("name"),
                context.conversation_id,
                result.get("status"),
            )
            messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": json.dumps(result)})
    raise AIError("the model kept calling tools without answering")
