"""Shaping replies to the Cloud API's limits: 4,096 characters of text, reply buttons (at most 3, titles of 20
characters) or a list (at most 10 rows, titles of 24), media by public link with a caption of 1,024 characters.
https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages
https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-list-messages
"""

from __future__ import annotations

from typing import Any

from chatpad.messages import Button, MessageMedia, QuickReply

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_CAPTION = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ID = 256
LIST_BUTTON = "Choose"

_MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio", "file": "document", "document": "document"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Text in pieces of at most `limit` characters, broken at a paragraph, line or word where possible."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def link_lines(buttons: list[Button]) -> str:
    """Link and call buttons written out (WhatsApp's reply buttons carry no URL)."""
    lines = [f"{b.title}: {b.payload}" for b in buttons if b.type in ("web_url", "phone_number") and b.payload]
    return "\n".join(lines)


def choices(quick_replies: list[QuickReply], buttons: list[Button]) -> list[dict[str, str]]:
    """The choices a reply offers (quick replies and postback buttons), at most a list's 10 rows."""
    offered = [{"title": q.title, "payload": q.payload or q.title} for q in quick_replies]
    offered += [{"title": b.title, "payload": b.payload or b.title} for b in buttons if b.type == "postback"]
    return offered[:MAX_ROWS]


def interactive(body: str, offered: list[dict[str, str]]) -> dict[str, Any]:
    """Reply buttons when there are at most 3 choices whose titles fit 20 characters; otherwise a list."""
    body = _cut(body or "Please choose:", MAX_INTERACTIVE_BODY)
    if len(offered) <= MAX_BUTTONS and all(len(c["title"]) <= MAX_BUTTON_TITLE for c in offered):
        buttons = [{"type": "reply", "reply": {"id": c["payload"][:MAX_ID], "title": c["title"]}} for c in offered]
        return {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}}
    rows = []
    for c in offered[:MAX_ROWS]:
        row = {"id": c["payload"][:MAX_ID], "title": _cut(c["title"], MAX_ROW_TITLE)}
        if len(c["title"]) > MAX_ROW_TITLE:
            row["description"] = _cut(c["title"], MAX_ROW_DESCRIPTION)
        rows.append(row)
    return {
        "type": "list",
        "body": {"text": body},
        "action": {"button": LIST_BUTTON, "sections": [{"title": "Options", "rows": rows}]},
    }


def media_message(media: MessageMedia, caption: str | None = None) -> dict[str, Any] | None:
    """One media message by public link, or None for media WhatsApp cannot take by link."""
    kind = _MEDIA_TYPES.get(media.type)
    if kind is None or not media.url or not media.url.startswith(("https://", "http://")):
        return None
    body: dict[str, Any] = {"link": media.url}
    if caption and kind != "audio":
        body["caption"] = _cut(caption, MAX_CAPTION)
    if kind == "document" and media.name:
        body["filename"] = media.name
    return {"type": kind, kind: body}
