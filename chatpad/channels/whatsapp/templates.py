"""Message templates, the only thing WhatsApp delivers outside the 24-hour window: reading a template's components
as GET /{waba-id}/message_templates lists them, and the type=template send that fills its body's positional
placeholders ({{1}}, {{2}} …). sms-whatsapp-reference.md §A5, §A7.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
MAX_PARAMETER = 1024  # characters of one body parameter Meta takes


def component(components: Sequence[dict[str, Any]] | None, kind: str) -> dict[str, Any] | None:
    """The template's HEADER, BODY, FOOTER or BUTTONS component, or None."""
    for c in components or []:
        if isinstance(c, dict) and str(c.get("type") or "").upper() == kind:
            return c
    return None


def body_text(components: Sequence[dict[str, Any]] | None) -> str:
    """The body as written, with its placeholders."""
    return str((component(components, "BODY") or {}).get("text") or "")


def variables(components: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The body's placeholders in order, each {"index": n, "example": Meta's example value or None}."""
    body = component(components, "BODY") or {}
    numbers = sorted({int(n) for n in PLACEHOLDER.findall(str(body.get("text") or ""))})
    examples = ((body.get("example") or {}).get("body_text") or [[]])[0] or []
    return [{"index": n, "example": examples[n - 1] if n - 1 < len(examples) else None} for n in numbers]


def unsupported(components: Sequence[dict[str, Any]] | None) -> str | None:
    """Why ChatPad cannot fill this template from the reply box (a header with a variable or media, named or
    URL-button parameters), or None when it can."""
    header = component(components, "HEADER")
    if header is not None:
        if str(header.get("format") or "TEXT").upper() != "TEXT":
            return "its header is an image, video or document"
        if PLACEHOLDER.search(str(header.get("text") or "")):
            return "its header has a variable"
    for button in (component(components, "BUTTONS") or {}).get("buttons") or []:
        if isinstance(button, dict) and PLACEHOLDER.search(str(button.get("url") or "")):
            return "a button's link has a variable"
    if re.search(r"\{\{\s*[A-Za-z_]", body_text(components)):
        return "it uses named variables"
    return None


def render(components: Sequence[dict[str, Any]] | None, values: Sequence[str]) -> str:
    """What the customer reads: header, body with the values in place, footer."""

    def fill(match: re.Match) -> str:
        n = int(match.group(1))
        return values[n - 1] if 0 < n <= len(values) else match.group(0)

    parts = [
        str((component(components, "HEADER") or {}).get("text") or ""),
        PLACEHOLDER.sub(fill, body_text(components)),
        str((component(components, "FOOTER") or {}).get("text") or ""),
    ]
    return "\n\n".join(p for p in parts if p)


def send_block(name: str, language: str, values: Sequence[str]) -> dict[str, Any]:
    """The "template" object of a type=template send: the name, the language and the body's parameters."""
    block: dict[str, Any] = {"name": name, "language": {"code": language}}
    if values:
        block["components"] = [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}]
    return block
