"""The one-line preview of a conversation's latest message, shown in the inbox list."""

from __future__ import annotations

import re

PREVIEW_CHARS = 200

# A line that is only a salutation ("Hi Mike,", "Hello!", "Dear Sarah,", "Good morning Ana,"): an email's first line
# says nothing about the message, so the preview shows the line after it.
# A name after the greeting needs the salutation's comma or "!", so "Hi do you have homes" is not taken for one.
_GREETING = re.compile(
    r"^(hi|hello|hey|hiya|dear|greetings|good (morning|afternoon|evening))"
    r"((\s+[\w'.-]+){1,3}\s*[,!]|\s*[,!.:]?)$",
    re.IGNORECASE,
)


def message_preview(content: str | None, media: list[dict] | None = None) -> str:
    """The first line that says something (a bare greeting is skipped when more follows), or the first attachment's
    kind in brackets, cut to PREVIEW_CHARS."""
    lines = [line.strip() for line in (content or "").splitlines() if line.strip()]
    if len(lines) > 1 and _GREETING.match(lines[0]):
        lines = lines[1:]
    if lines:
        return lines[0][:PREVIEW_CHARS]
    if media:
        return f"[{media[0].get('type', 'attachment')}]"[:PREVIEW_CHARS]
    return ""
