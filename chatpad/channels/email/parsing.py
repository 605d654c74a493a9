"""Raw RFC 822 bytes → a ParsedEmail. Pure: no database, no network.

The standard library's email package (policy.default) decodes MIME and RFC 2047 headers; nh3 sanitises HTML for
display; inscriptis turns HTML into text for the AI; mail-parser-reply cuts quoted history and signatures from what
the AI reads. The full text and the sanitised HTML are always kept beside the stripped reply.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import nh3

from chatpad.html import html_to_text

from .loops import no_reply_reason
from .parsed import ParsedAttachment, ParsedEmail
from .quotes import reply_from_html, strip_reply

# Trace lines the sync job puts in front of the raw message it stores: which inbox received it, its IMAP UID and
# the server's INTERNALDATE. Only lines at the very top are ours; the same names further down came from outside.
TRACE_PREFIX = b"X-ChatPad-"
TRACE_INBOX = "X-ChatPad-Inbox"
TRACE_UID = "X-ChatPad-UID"
TRACE_RECEIVED = "X-ChatPad-Received"

MSGID_RE = re.compile(r"<([^<>\s]+)>")
MAX_TEXT = 200_000  # characters of body kept for display; a 5 MB text part is not a customer message


def split_trace(raw: bytes) -> tuple[dict[str, str], bytes]:
    """Separate the sync job's trace lines (only at the very top) from the message itself."""
    trace: dict[str, str] = {}
    rest = raw
    while rest.startswith(TRACE_PREFIX):
        line, sep, remainder = rest.partition(b"\n")
        name, _, value = line.decode("ascii", "replace").partition(":")
        trace.setdefault(name.strip(), value.strip())
        rest = remainder if sep else b""
    return trace, rest


def with_trace(
    raw: bytes, inbox: str, uid: str | None = None, received: datetime | None = None, backfill: bool = False
) -> bytes:
    """The raw message with trace lines in front, as the sync job stores it (backfill: history, not answered)."""
    lines = [f"{TRACE_INBOX}: {inbox}"]
    if backfill:
        lines.append("X-ChatPad-Backfill: 1")
    if uid:
        lines.append(f"{TRACE_UID}: {uid}")
    if received:
        lines.append(f"{TRACE_RECEIVED}: {received.astimezone(UTC).isoformat()}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii", "replace") + raw


def parse_email(raw: bytes, *, inbox: str | None = None) -> ParsedEmail:
    """Decode one message. Never raises on malformed mail: defects degrade to empty fields, not exceptions."""
    trace, body = split_trace(raw)
    inbox = (inbox or trace.get(TRACE_INBOX) or "").strip().lower() or None
    msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(body)

    message_id = first_msgid(_header(msg, "message-id"))
    generated = False
    if not message_id:
        # Stable across resyncs, so dedupe still works for the rare mail without a Message-ID.
        message_id = f"{hashlib.sha256(body).hexdigest()[:32]}@generated.chatpad.invalid"
        generated = True

    from_name, from_addr = _first_address(msg, "from")
    if not from_addr:
        from_name, from_addr = _first_address(msg, "sender")
    received_at = _parse_iso(trace.get(TRACE_RECEIVED))
    date = _parse_date(_header(msg, "date")) or received_at or datetime.now(UTC)

    text_part, html_part = _bodies(msg)
    text = _part_text(text_part) if text_part is not None else ""
    raw_html = _part_text(html_part) if html_part is not None else None
    html = sanitize_html(raw_html) if raw_html else None
    if not text and raw_html:
        text = html_to_text(raw_html)
    text = _normalize_newlines(text)[:MAX_TEXT]

    if text_part is not None and text.strip():
        reply_text = strip_reply(text)
    elif raw_html:
        reply_text = strip_reply(reply_from_html(raw_html))
    else:
        reply_text = ""

    headers = {
        name: _header(msg, name)
        for name in (
            "auto-submitted",
            "precedence",
            "list-id",
            "list-unsubscribe",
            "list-post",
            "return-path",
            "x-autoreply",
            "x-autorespond",
            "x-auto-response-suppress",
            "x-ms-exchange-generated-message-source",
            "x-loop",
            "thread-index",
            "thread-topic",
            "content-type",
            "x-failed-recipients",
            "feedback-id",
        )
        if _header(msg, name)
    }

    parsed = ParsedEmail(
        message_id=message_id,
        message_id_generated=generated,
        subject=_clean_subject(_header(msg, "subject")),
        date=date,
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        reply_to=_addresses(msg, "reply-to"),
        in_reply_to=all_msgids(_header(msg, "in-reply-to"))[:1],
        references=all_msgids(_header(msg, "references")),
        text=text,
        html=html,
        reply_text=reply_text.strip(),
        attachments=_attachments(msg, skip={id(text_part), id(html_part)}),
        headers=headers,
        inbox=inbox,
        imap_uid=trace.get(TRACE_UID),
        received_at=received_at,
    )
    parsed.no_reply_reason = no_reply_reason(parsed, msg)
    return parsed


# --- headers -------------------------------------------------------------------------------------------------------


def _header(msg: EmailMessage, name: str) -> str:
    """A header as text, RFC 2047 words decoded; "" when missing or undecodable."""
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse at all: fall back to its raw text
        value = next((v for k, v in msg.raw_items() if k.lower() == name), None)
    if value is None:
        return ""
    return re.sub(r"\s+", " ", str(value)).strip()


def _clean_subject(subject: str) -> str:
    return re.sub(r"[\r\n\t]+", " ", subject).strip()[:400]


def first_msgid(value: str) -> str:
    ids = all_msgids(value)
    if ids:
        return ids[0]
    bare = value.strip().strip("<>").strip()
    return bare if bare and " " not in bare and "@" in bare else ""


def all_msgids(value: str) -> list[str]:
    """Message-ids in a Message-ID/In-Reply-To/References value, in order, without brackets or duplicates."""
    seen: dict[str, None] = {}
    for mid in MSGID_RE.findall(value or ""):
        seen.setdefault(mid, None)
    if not seen and value and "@" in value:
        # Some clients (old Outlook among them) write References without brackets, separated by spaces or commas.
        for token in re.split(r"[\s,]+", value):
            if "@" in token:
                seen.setdefault(token.strip("<>"), None)
    return list(seen)


def clean_name(name: str) -> str:
    """A display name safe to put back in a header: RFC 2047 words can decode to CR/LF or other control
    characters, which would make every reply's From/To header invalid (a crafted name broke every reply)."""
    if "=?" in (name or ""):  # the lenient legacy path leaves encoded words undecoded
        try:
            name = str(make_header(decode_header(name)))
        except (HeaderParseError, LookupError, UnicodeDecodeError, ValueError):
            pass
    return re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", name or "")).strip()[:200]


_clean_name = clean_name


def _addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    try:
        header = msg.get(name)
        groups = getattr(header, "addresses", None)
    except Exception:
        header, groups = None, None
    if groups is not None:
        for addr in groups:
            if isinstance(addr, Address) and addr.addr_spec and "@" in addr.addr_spec:
                result.append((_clean_name(addr.display_name), addr.addr_spec.lower()))
        if result:
            return result
    # Malformed address lists: the lenient legacy parser still finds the addresses.
    raw = [v for k, v in msg.raw_items() if k.lower() == name]
    for display, address in getaddresses([str(v) for v in raw]):
        if "@" in address:
            result.append((_clean_name(display), address.lower()))
    return result


def _first_address(msg: EmailMessage, name: str) -> tuple[str, str]:
    found = _addresses(msg, name)
    if found:
        return found[0]
    display, address = parseaddr(_header(msg, name))
    return _clean_name(display), address.lower() if "@" in address else ""


def _parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:  # "-0000" means the zone is unknown (RFC 5322 §3.3): take it as UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --- bodies --------------------------------------------------------------------------------------------------------


def _bodies(msg: EmailMessage):
    """The text/plain and text/html parts a reader would see (multipart/alternative, related, mixed)."""
    text_part = html_part = None
    try:
        text_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
    except Exception:  # a broken MIME tree: treat the whole payload as text
        text_part = msg if not msg.is_multipart() else None
    if text_part is None and html_part is None and not msg.is_multipart():
        ctype = msg.get_content_type()
        if ctype.startswith("text/"):
            text_part = msg if ctype != "text/html" else None
            html_part = msg if ctype == "text/html" else None
    if msg.get_content_type() == "multipart/report" and text_part is None:
        # A DSN's human-readable part is its first one.
        for part in msg.iter_parts():
            if part.get_content_type() == "text/plain":
                text_part = part
                break
    return text_part, html_part


def _part_text(part: EmailMessage) -> str:
    """A text part decoded from any charset; unknown or lying charsets fall back rather than fail."""
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = (part.get_payload() or "").encode("utf-8", "replace") if isinstance(part.get_payload(), str) else b""
    charset = (part.get_content_charset() or "").lower() or None
    candidates = [c for c in (charset, "utf-8", "cp1252") if c]
    if charset in ("us-ascii", "ascii"):
        # Declared ASCII with 8-bit bytes is almost always UTF-8 in practice.
        candidates = ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", "replace")


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sanitize_html(html: str) -> str:
    """HTML safe to keep with the message: the app's allowlist (chatpad.html), scripts, styles and handlers gone.

    Images stay here (cid: and remote); pages render it through chatpad.html.sanitize again, which maps cid: to
    attachment URLs and drops remote images (tracking pixels) at display time."""
    from chatpad.html import SAFE_ATTRIBUTES, SAFE_TAGS, SAFE_URL_SCHEMES

    return nh3.clean(
        html[: MAX_TEXT * 5],
        tags=set(SAFE_TAGS),
        attributes={k: set(v) for k, v in SAFE_ATTRIBUTES.items()},
        url_schemes=set(SAFE_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _attachments(msg: EmailMessage, skip: set[int]) -> list[ParsedAttachment]:
    found: list[ParsedAttachment] = []
    if not msg.is_multipart():
        return found
    for part in msg.walk():
        if part.is_multipart() or id(part) in skip:
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            continue  # an alternative body we did not pick, not a file
        if ctype == "message/delivery-status":
            continue
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        if data is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner:  # message/rfc822: keep the attached mail as a .eml
                data = inner[0].as_bytes() if hasattr(inner[0], "as_bytes") else b""
            else:
                data = b""
        cid = (part.get("content-id") or "").strip().strip("<>") or None
        found.append(
            ParsedAttachment(
                filename=_safe_filename(filename, ctype, len(found) + 1),
                content_type=ctype,
                data=data,
                content_id=cid,
                inline=disposition == "inline" or (disposition is None and cid is not None),
            )
        )
    return found


def _safe_filename(name: str | None, ctype: str, n: int) -> str:
    """A filename for display and download: no paths, no control characters."""
    import mimetypes

    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip(" .")
    if not name:
        ext = ".eml" if ctype == "message/rfc822" else (mimetypes.guess_extension(ctype) or ".bin")
        name = f"attachment-{n}{ext}"
    return name[:200]
