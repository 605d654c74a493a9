"""Shaping replies to Instagram's limits: texts under 1000 UTF-8 *bytes*, quick replies, media by URL. Pure.

Instagram counts bytes, not characters: "text … must be UTF-8 and 1000 bytes or less". An emoji is 4 bytes (a
family emoji 18, a flag 8), Cyrillic 2, Chinese 3, so a reply that Messenger takes whole may be three Instagram
messages. Splits fall at sentence boundaries, then between words, and only a single over-long word is cut — between
grapheme clusters (https://unicode.org/reports/tr29/), so a skin-tone modifier, a ZWJ sequence, a flag or a combining
accent is never torn from its base and a multi-byte character is never cut.
https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api
"""

from __future__ import annotations

import logging
from typing import Any

import regex

from chatpad.channels.facebook.formatting import quick_replies as messenger_quick_replies
from chatpad.messages import Button, MessageMedia, QuickReply

log = logging.getLogger("chatpad.channels.instagram")

MAX_TEXT_BYTES = 1000
MAX_QUICK_REPLIES = 13
# Instagram takes images, audio and video by URL (png/jpeg ≤ 8 MB, audio/video ≤ 25 MB); other files go as a link.
ATTACHMENT_TYPES = {"image", "video", "audio"}

# A sentence: up to terminal punctuation (plus closing quotes/brackets) and the whitespace after it; CJK full stops
# need no space after them; a blank line also ends one.
_SENTENCE = regex.compile(
    r".+?(?:[.!?…]+[\"'”’)\]]*(?:\s+|$)|[。！？]+[」』）”’]*\s*|\n\s*\n\s*|$)",
    regex.S,
)
_WORD = regex.compile(r"\S+\s*|\s+")
_GRAPHEME = regex.compile(r"\X", regex.S)


def utf8_len(text: str) -> int:
    """How many bytes Instagram counts for this text."""
    return len(text.encode("utf-8"))


def _fits(text: str, limit: int) -> bool:
    return utf8_len(text.rstrip()) <= limit


def _cut_word(word: str, limit: int) -> list[str]:
    """A word longer than the limit, in pieces of at most `limit` bytes cut between grapheme clusters. A single
    cluster over the limit (hundreds of stacked combining marks) is cut between code points, never inside one."""
    pieces: list[str] = []
    current, size = "", 0
    for cluster in _GRAPHEME.findall(word):
        cluster_size = utf8_len(cluster)
        if cluster_size > limit:
            if current:
                pieces.append(current)
                current, size = "", 0
            for char in cluster:
                char_size = utf8_len(char)
                if size + char_size > limit:
                    pieces.append(current)
                    current, size = "", 0
                current += char
                size += char_size
            continue
        if size + cluster_size > limit:
            pieces.append(current)
            current, size = "", 0
        current += cluster
        size += cluster_size
    if current:
        pieces.append(current)
    return pieces


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes: at sentence boundaries where possible, else between
    words, else between grapheme clusters. Whitespace at the cut is dropped; nothing else is lost."""
    text = text.strip()
    if not text:
        return []
    if utf8_len(text) <= limit:
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
        if _fits(current + sentence, limit):
            current += sentence
            continue
        flush()
        if _fits(sentence, limit):
            current = sentence
            continue
        for word in (m.group(0) for m in _WORD.finditer(sentence)):
            if _fits(current + word, limit):
                current += word
                continue
            flush()
            current = word.lstrip()
            if not _fits(current, limit):
                pieces = _cut_word(current.rstrip(), limit)
                chunks.extend(pieces[:-1])
                current = pieces[-1] + current[len(current.rstrip()) :]
    flush()
    return chunks


def quick_replies(items: list[QuickReply]) -> list[dict[str, Any]]:
    """Instagram quick replies are Messenger's: text only, at most 13, titles of at most 20 characters."""
    return messenger_quick_replies(items)[:MAX_QUICK_REPLIES]


def buttons_as_text_and_replies(items: list[Button]) -> tuple[list[str], list[QuickReply]]:
    """Instagram DMs have no Messenger button template: links and phone numbers become lines of text, postback
    buttons become quick replies (which do what a postback button does: send their payload back)."""
    lines: list[str] = []
    replies: list[QuickReply] = []
    for button in items:
        if button.type in ("web_url", "phone_number"):
            if button.payload:
                lines.append(f"{button.title}: {button.payload}" if button.title else button.payload)
        elif button.title:
            replies.append(QuickReply(title=button.title, payload=button.payload or button.title))
    return lines, replies


def media_attachment(media: MessageMedia) -> dict[str, Any] | None:
    """An attachment message for an image, video or audio by URL; None for what Instagram cannot take."""
    if not media.url or media.type not in ATTACHMENT_TYPES:
        return None
    return {"attachment": {"type": media.type, "payload": {"url": media.url}}}
