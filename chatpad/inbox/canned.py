"""Canned replies in the reply box (issue 21): the organization's and the conversation's location's replies, their
variables filled on the server from the conversation, shaped to the channel's limits before they are inserted.

Variables: {first_name} (the contact's first name), {location} (the conversation's location), {hours_today} (that
location's hours today, in its time zone), {booking_link} (the location's booking page). A variable with no value
here (no name on file, no location, no hours entered, no booking page) is never sent as "{first_name}" or as a blank:
the picker names what is missing and does not insert that reply.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sqlalchemy import case, select

from chatpad.ai.context import hours_info
from chatpad.channels.sms.segments import count_segments, is_gsm7
from chatpad.extensions import db
from chatpad.models import CannedReply, Conversation, Scope, utcnow

VARIABLES = {
    "first_name": "the contact's first name",
    "location": "the location's name",
    "hours_today": "the location's hours today",
    "booking_link": "the location's booking link",
}
# What the picker says is missing when a variable has no value in a conversation.
MISSING = {
    "first_name": "first name on file",
    "location": "location",
    "hours_today": "hours on file",
    "booking_link": "booking link",
}
_VARIABLE = re.compile(r"\{(" + "|".join(VARIABLES) + r")\}")

# Typographic characters that would turn an SMS into UCS-2 (70 characters a segment instead of 160) when a plain
# GSM-7 character says the same.
_GSM_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})
_GSM_PLAIN_MULTI = {"\u2026": "...", "\u00a0": " "}


@dataclass
class CannedChoice:
    """One reply as the picker offers it for this conversation."""

    id: int
    title: str
    scope_label: str  # "All locations" or the location's name
    text: str  # filled and shaped; empty when something is missing
    missing: list[str] = field(default_factory=list)
    fits: str = ""  # "1 segment (GSM-7)", "2 messages of up to 640 characters"


def variable_values(conversation: Conversation) -> dict[str, str | None]:
    """The values of the variables for this conversation (None: not known here)."""
    contact = conversation.contact
    name = (contact.name or "").strip() if contact is not None else ""
    location = conversation.location
    values: dict[str, str | None] = {
        "first_name": name.split()[0] if name else None,
        "location": location.name if location is not None else None,
        "hours_today": None,
        "booking_link": (location.booking_url or None) if location is not None else None,
    }
    if location is not None:
        info = hours_info(location.hours, location.timezone, utcnow())
        values["hours_today"] = info.today
    return values


def fill(body: str, values: dict[str, str | None]) -> tuple[str, list[str]]:
    """The body with its variables replaced, and the variables that have no value (left as written)."""
    missing: list[str] = []

    def one(match: re.Match) -> str:
        value = values.get(match.group(1))
        if not value:
            if match.group(1) not in missing:
                missing.append(match.group(1))
            return match.group(0)
        return value

    return _VARIABLE.sub(one, body), missing


def shape(text: str, channel: str, limit: int | None, unit: str = "characters") -> tuple[str, str]:
    """The text made to suit the channel, and what it costs there. SMS: typographic quotes and dashes become their
    GSM-7 twins when nothing else needs UCS-2, and the segment count is given; a channel with a message limit says
    how many messages a longer text goes out as (chatpad.pipeline splits it the same way)."""
    if channel == "sms":
        plain = text.translate(_GSM_PLAIN)
        for char, twin in _GSM_PLAIN_MULTI.items():
            plain = plain.replace(char, twin)
        if is_gsm7(plain):
            text = plain
        return text, count_segments(text).describe()
    if limit:
        size = len(text.encode()) if unit == "bytes" else len(text)
        parts = max(1, math.ceil(size / limit))
        if parts > 1:
            return text, f"{parts} messages of up to {limit} {unit}"
        return text, f"{size} of {limit} {unit}"
    return text, ""


def canned_for(conversation: Conversation, scope: Scope, *, limit: int | None, unit: str) -> list[CannedChoice]:
    """The replies this person may use in this conversation: the organization's and the conversation's location's
    (and, for a person limited to locations, only theirs: the scope decides), filled and shaped."""
    location_ok = CannedReply.location_id.is_(None)
    if conversation.location_id is not None:
        location_ok = location_ok | (CannedReply.location_id == conversation.location_id)
    rows = db.session.scalars(
        select(CannedReply)
        .where(scope.where(CannedReply), CannedReply.organization_id == conversation.organization_id, location_ok)
        .order_by(case((CannedReply.location_id.is_(None), 1), else_=0), CannedReply.title, CannedReply.id)
        .limit(200)
    ).all()
    values = variable_values(conversation)
    choices = []
    for row in rows:
        text, missing = fill(row.body, values)
        fits = ""
        if missing:
            text = ""
        else:
            text, fits = shape(text, conversation.channel, limit, unit)
        choices.append(
            CannedChoice(
                id=row.id,
                title=row.title,
                scope_label=row.location.name if row.location is not None else "All locations",
                text=text,
                missing=[MISSING[m] for m in missing],
                fits=fits,
            )
        )
    return choices
