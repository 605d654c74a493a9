"""Shaping replies to Messenger's limits: 2000-character texts split at sentence boundaries, quick replies, button
templates and media by URL. Pure functions; the adapter calls them.

https://developers.facebook.com/docs/messenger-platform/reference/send-api/
https://developers.facebook.com/docs/messenger-platform/send-messages/quick-replies
https://developers.facebook.com/docs/messenger-platform/send-messages/template/button
"""

from __future__ import annotations

import logging
import re
from typing import Any

from chatpad.messages import Button, MessageMedia, QuickReply

log = logging.getLogger("chatpad.channels.facebook")

MAX_TEXT = 2000
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_PAYLOAD = 1000
MAX_BUTTON_TEXT = 640
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
ATTACHMENT_TYPES = {"image", "video", "audio", "file"}

# A sentence: anything up to terminal punctuation (plus closing quotes/brackets) followed by whitespace, or up to a
# blank line, or the end of the text.
_SENTENCE = re.compile(r".+?(?:[.!?…]+[\"'”’)\]]*(?:\s+|$)|\n\s*\n\s*|$)", re.S)
_WORD = re.compile(r"\S+\s*|\s+")


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split text into parts of at most `limit` characters: at sentence boundaries where possible, else between
    words; a single word longer than the limit (a huge URL) is the only thing ever cut."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""

    def flush() -> None:
        nonlocal current
        if current.strip():
            chunks.append(current.strip())
        current = ""

    for sentence in (m.group(0) for m in _SENTENCE.finditer(text)):
        if not sentence:
            continue
        if len((current + sentence).rstrip()) <= limit:
            current += sentence
            continue
        flush()
        if len(sentence.rstrip()) <= limit:
            current = sentence
            continue
        for word in (m.group(0) for m in _WORD.finditer(sentence)):
            if len((current + word).rstrip()) <= limit:
                current += word
                continue
            flush()
            current = word.lstrip()
            while len(current.rstrip()) > limit:
                chunks.append(current[:limit])
                current = current[limit:]
    flush()
    return chunks


def _clip(value: str, limit: int) -> str:
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def quick_replies(items: list[QuickReply]) -> list[dict[str, Any]]:
    """Messenger quick replies: at most 13, non-empty titles of at most 20 characters, payloads of at most 1000."""
    result = []
    for item in items:
        title = _clip(item.title or "", MAX_QUICK_REPLY_TITLE)
        if not title:
            continue
        payload = (item.payload or item.title)[:MAX_PAYLOAD]
        result.append({"content_type": "text", "title": title, "payload": payload})
    if len(result) > MAX_QUICK_REPLIES:
        log.info("dropping %d quick replies over Messenger's limit of 13", len(result) - MAX_QUICK_REPLIES)
    return result[:MAX_QUICK_REPLIES]


def button(item: Button) -> dict[str, Any] | None:
    """One template button, or None when it cannot be expressed (a web_url without a URL)."""
    title = _clip(item.title or "", MAX_BUTTON_TITLE)
    if not title:
        return None
    if item.type == "web_url":
        if not item.payload:
            return None
        return {"type": "web_url", "url": item.payload, "title": title}
    if item.type == "phone_number":
        if not item.payload:
            return None
        return {"type": "phone_number", "title": title, "payload": item.payload}
    return {"type": "postback", "title": title, "payload": (item.payload or item.title)[:MAX_PAYLOAD]}


def buttons(items: list[Button]) -> list[dict[str, Any]]:
    """Up to three valid buttons."""
    result = [b for b in (button(i) for i in items) if b]
    if len(result) > MAX_BUTTONS:
        log.info("dropping %d buttons over Messenger's limit of 3", len(result) - MAX_BUTTONS)
    return result[:MAX_BUTTONS]


def button_template(text: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "button", "text": text, "buttons": items},
        }
    }


def media_attachment(media: MessageMedia) -> dict[str, Any] | None:
    """An attachment message for media by URL (image, video, audio; anything else as a file)."""
    if not media.url:
        return None
    kind = media.type if media.type in ATTACHMENT_TYPES else "file"
    return {"attachment": {"type": kind, "payload": {"url": media.url, "is_reusable": True}}}
