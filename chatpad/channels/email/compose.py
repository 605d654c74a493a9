"""Replies written for email: greeting by name, short paragraphs, the location's signature, the quoted original.

Built as multipart/alternative (text + HTML) with the threading headers a mail client expects (RFC 5322 §3.6.4):
our Message-ID, In-Reply-To, References and a single "Re:" subject. Pure: no database, no network.
"""

from __future__ import annotations

import html as htmlmod
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from .parsing import clean_name

GREETING_RE = re.compile(r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings)\b", re.IGNORECASE)
CLOSING_RE = re.compile(
    r"(?:regards|best|thanks|thank you|cheers|sincerely|warmly|take care|talk soon)[,!.]?\s*(?:\n.*)?\Z",
    re.IGNORECASE,
)
URL_RE = re.compile(r"https?://[^\s<>\"')\]]+")
MAX_PARAGRAPH = 420  # characters; longer paragraphs are split at sentence ends
MAX_QUOTE = 20_000


@dataclass
class QuotedOriginal:
    """The message being answered, as it is quoted below the reply."""

    from_name: str
    from_addr: str
    date: datetime | None
    text: str
    html: str | None = None


@dataclass
class ReplyDraft:
    """Everything a reply needs; build_reply turns it into a MIME message."""

    from_addr: str
    from_name: str
    to: list[tuple[str, str]]  # (name, address)
    subject: str
    body: str  # what the AI or the person wrote
    message_id: str  # without brackets
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    greeting_name: str | None = None
    signature: str | None = None
    original: QuotedOriginal | None = None
    cc: list[tuple[str, str]] = field(default_factory=list)
    automated: bool = True  # an AI reply: RFC 3834 Auto-Submitted, so autoresponders do not answer it
    date: datetime | None = None


def first_name(name: str | None) -> str | None:
    """The name to greet: "Mike" for "Mike Doe" and for "Doe, Mike"; None for an address or nothing."""
    if not name:
        return None
    name = name.strip().strip('"').strip()
    if not name or "@" in name:
        return None
    if "," in name:
        name = name.split(",", 1)[1].strip() or name.split(",", 1)[0]
    first = name.split()[0]
    return first[:1].upper() + first[1:] if first.islower() else first


def paragraphs(body: str) -> list[str]:
    """The body as short paragraphs: blank lines kept, long blocks split after a sentence."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", body.replace("\r\n", "\n")) if b.strip()]
    result: list[str] = []
    for block in blocks:
        if len(block) <= MAX_PARAGRAPH or "\n" in block:
            result.append(block)
            continue
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", block)
        current = ""
        for sentence in sentences:
            if current and len(current) + len(sentence) + 1 > MAX_PARAGRAPH:
                result.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
        if current:
            result.append(current)
    return result


def reply_text_parts(draft: ReplyDraft) -> list[str]:
    """Greeting, paragraphs and the sign-off with the signature, as the reader sees them (no quote)."""
    parts = paragraphs(draft.body)
    if not parts or not GREETING_RE.match(parts[0]):
        name = first_name(draft.greeting_name)
        parts.insert(0, f"Hi {name}," if name else "Hello,")
    if draft.signature:
        if not CLOSING_RE.search(parts[-1]):
            parts.append("Kind regards,\n" + draft.signature.strip())
        else:
            parts.append(draft.signature.strip())
    return parts


def quote_header(original: QuotedOriginal) -> str:
    who = formataddr((original.from_name, original.from_addr)) if original.from_name else original.from_addr
    if original.date:
        when = original.date.strftime("%a, %d %b %Y at %H:%M")
        return f"On {when}, {who} wrote:"
    return f"{who} wrote:"


def render_text(draft: ReplyDraft) -> str:
    text = "\n\n".join(reply_text_parts(draft))
    if draft.original and draft.original.text.strip():
        quoted = "\n".join(
            ">" if not line.strip() else f"> {line}" for line in draft.original.text[:MAX_QUOTE].splitlines()
        )
        text += f"\n\n{quote_header(draft.original)}\n{quoted}"
    return text + "\n"


def _html_paragraph(text: str) -> str:
    escaped = htmlmod.escape(text)
    escaped = URL_RE.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return "<p>" + escaped.replace("\n", "<br>\n") + "</p>"


def render_html(draft: ReplyDraft) -> str:
    body = "\n".join(_html_paragraph(p) for p in reply_text_parts(draft))
    quote = ""
    if draft.original and (draft.original.html or draft.original.text.strip()):
        inner = draft.original.html or (htmlmod.escape(draft.original.text[:MAX_QUOTE]).replace("\n", "<br>\n"))
        # gmail_quote + blockquote[type=cite]: the markers every client (and our own stripper) knows as "quoted".
        quote = (
            '<div class="gmail_quote"><div>'
            + htmlmod.escape(quote_header(draft.original))
            + '</div><blockquote type="cite" style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">'
            + inner
            + "</blockquote></div>"
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body><div dir="auto" style="font-family:Arial,sans-serif;font-size:14px">{body}</div>{quote}</body></html>'
    )


def _mailbox(name: str, address: str) -> str:
    """One address for a header, its display name made one plain line (names stored before parsing cleaned them,
    a contact's or an inbox's name typed with a line break). The address is used as it is: one that cannot go in a
    header makes the reply unsendable (ValueError), which the pipeline marks failed with the reason."""
    name = clean_name(name or "")
    return formataddr((name, address)) if name else address


def header_line(value: str | None) -> str:
    """A header value on one line: control characters (CR/LF) become spaces, runs of spaces one."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value or "").split())


def build_reply(draft: ReplyDraft) -> EmailMessage:
    """The reply as a MIME message: multipart/alternative text + HTML, with threading headers."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _mailbox(draft.from_name, draft.from_addr)
    msg["To"] = ", ".join(_mailbox(name, address) for name, address in draft.to)
    if draft.cc:
        msg["Cc"] = ", ".join(_mailbox(name, address) for name, address in draft.cc)
    msg["Subject"] = header_line(draft.subject)
    msg["Date"] = format_datetime(draft.date or datetime.now(UTC))
    msg["Message-ID"] = f"<{draft.message_id}>"
    if draft.in_reply_to:
        msg["In-Reply-To"] = f"<{draft.in_reply_to}>"
    if draft.references:
        msg["References"] = " ".join(f"<{mid}>" for mid in draft.references)
    if draft.automated:
        # RFC 3834 §5: automatic responses say so, and Exchange honours X-Auto-Response-Suppress, so an
        # out-of-office reply never answers our answer (no AI ↔ autoresponder ping-pong).
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(render_text(draft))
    msg.add_alternative(render_html(draft), subtype="html")
    return msg
