"""Shaping replies for SMS: plain text of at most 1,600 characters per message, choices as numbered lines (SMS has no
buttons), links and phone numbers written out, media by public URL (MMS). Pure functions; the adapter calls them."""

from __future__ import annotations

import re
from typing import Any

from chatpad.channels.facebook.formatting import split_text
from chatpad.messages import Button, MessageMedia, QuickReply

from .segments import MAX_BODY, count_segments

MAX_CHOICES = 9  # one digit to type
MAX_MEDIA = 10  # Twilio: MediaUrl up to 10 times
CHOICES_INTRO = "Reply with a number:"
_NUMBER = re.compile(r"^\s*#?\s*(\d{1,2})\s*[.)]?\s*$")


def choices(quick_replies: list[QuickReply], buttons: list[Button]) -> list[dict[str, Any]]:
    """The numbered options of a reply: its quick replies, then its postback buttons (links and calls are written
    into the text instead); at most nine, numbered from 1."""
    items = [(q.title, q.payload or q.title) for q in quick_replies if (q.title or "").strip()]
    items += [(b.title, b.payload or b.title) for b in buttons if b.type == "postback" and (b.title or "").strip()]
    seen: set[str] = set()
    result = []
    for title, payload in items:
        key = title.strip().lower()
        if key in seen:
            continue
        seen.add(key)
        result.append({"number": len(result) + 1, "title": " ".join(title.split()), "payload": payload})
        if len(result) == MAX_CHOICES:
            break
    return result


def choices_block(items: list[dict[str, Any]]) -> str:
    return "\n".join([CHOICES_INTRO, *(f"{c['number']}. {c['title']}" for c in items)])


def link_lines(buttons: list[Button]) -> list[str]:
    """Buttons SMS cannot show, as text: "Book a tour: https://…", "Call the office: +1…"."""
    lines = []
    for button in buttons:
        if button.type in ("web_url", "phone_number") and button.payload:
            lines.append(f"{button.title.strip()}: {button.payload}" if button.title else button.payload)
    return lines


def public_media(media: list[MessageMedia]) -> list[MessageMedia]:
    """Media Twilio can fetch (an https or http URL), at most ten."""
    return [m for m in media if m.url and m.url.lower().startswith(("https://", "http://"))][:MAX_MEDIA]


def texts(text: str, extra_lines: list[str], block: str | None) -> list[str]:
    """The message bodies: the text split at sentence boundaries under 1,600 characters, the written-out links after
    it, the numbered choices last and never cut."""
    body = "\n".join(part for part in [text.strip(), *extra_lines] if part)
    parts = split_text(body, MAX_BODY) if body else []
    if block:
        if parts and len(parts[-1]) + 2 + len(block) <= MAX_BODY:
            parts[-1] = f"{parts[-1]}\n\n{block}"
        else:
            parts.append(block)
    return parts


def pick(text: str, offered: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The offered choice a reply like "2", "2." or "#2" picks; None for anything else (or a number not offered)."""
    match = _NUMBER.match(text or "")
    if not match:
        return None
    number = int(match.group(1))
    return next((c for c in offered if int(c.get("number", 0)) == number), None)


def segment_info(text: str) -> dict[str, Any]:
    count = count_segments(text)
    return {"segments": count.segments, "encoding": count.encoding}
