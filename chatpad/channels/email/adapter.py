"""EmailChannel: the email adapter (docs/channels/email.md).

parse() turns the raw RFC 822 bytes the IMAP sync stored into one InboundEvent (pure); format() writes the reply as
a complete MIME message (greeting, paragraphs, signature, quoted original, threading headers); send() hands it to the
inbox's SMTP server and files a copy in its Sent folder; resolve_conversation() applies the threading rules.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from chatpad.channels.base import Channel, SendContext
from chatpad.channels.errors import AnomalousPayloadError, PermanentSendError, SignatureError
from chatpad.messages import (
    InboundEvent,
    MessageMedia,
    MessageMetadata,
    OutboundPart,
    OutboundReply,
    UnifiedMessage,
)

from . import threads
from .compose import QuotedOriginal, ReplyDraft, build_reply, reply_text_parts
from .parsing import ParsedEmail, parse_email, split_trace

if TYPE_CHECKING:
    from chatpad.models import Contact, Conversation, SocialAccount

log = logging.getLogger("chatpad.email")

MAX_META_HTML = 200_000  # characters of sanitised HTML kept with a message for display


def attachment_key(sha256: str) -> str:
    """Where an attachment's bytes live under ATTACHMENT_DIR: content-addressed, so a resync stores nothing twice."""
    return f"email/{sha256[:2]}/{sha256}"


class EmailChannel(Channel):
    """Email over IMAP (receive) and SMTP (send), for Google Workspace, Microsoft 365 and any other provider."""

    key: ClassVar[str] = "email"
    event_types: ClassVar[tuple[str, ...]] = ("message",)
    max_text: ClassVar[int | None] = None

    def verify_request(
        self, body: bytes, headers: Mapping[str, str], config: Mapping[str, Any], url: str | None = None
    ) -> None:
        """Mail is only ever read from the inbox over IMAP: anything posted to a webhook URL is forged."""
        raise SignatureError("email is synced over IMAP; it is never accepted by webhook")

    def validate_envelope(self, body: bytes) -> None:
        """Mail arrives by IMAP sync, never by webhook; a stored event must at least look like a message."""
        _, message = split_trace(body)
        if b":" not in message[:2000]:
            raise AnomalousPayloadError("not an RFC 822 message")

    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """One stored message (with the sync job's trace lines naming the inbox) → one "message" event."""
        inbox = (headers or {}).get("X-ChatPad-Inbox")
        trace, message = split_trace(body)
        if not message.strip() or b":" not in message[:2000]:
            raise AnomalousPayloadError("not an RFC 822 message")
        parsed = parse_email(body, inbox=inbox)
        if not parsed.inbox:
            raise AnomalousPayloadError("the stored message does not say which inbox received it")
        return [event_from_parsed(parsed, backfill=trace.get("X-ChatPad-Backfill") == "1")]

    def format(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """The reply as one email: text + HTML, quoted original, Re: subject, In-Reply-To/References."""
        account, conversation = ctx.account, ctx.conversation
        original = ctx.reply_to
        email_meta: dict[str, Any] = ((original.meta or {}).get("email") or {}) if original is not None else {}
        contact = conversation.contact
        to_addr = email_meta.get("reply_address") or ctx.recipient_id
        to_name = email_meta.get("reply_name") or (contact.name if contact else "") or ""
        location = account.location
        signature = (location.settings or {}).get("email_signature") if location is not None else None
        parent_id = original.external_id if original is not None else None
        references = (
            threads.reply_references(parent_id, email_meta.get("references") or [], email_meta.get("in_reply_to") or [])
            if parent_id
            else []
        )
        message_id = threads.make_message_id(conversation.id, account.account_id.rpartition("@")[2] or "localhost")
        quoted = None
        if original is not None:
            quoted = QuotedOriginal(
                from_name=email_meta.get("from_name") or "",
                from_addr=email_meta.get("from") or to_addr,
                date=_parse_iso(email_meta.get("date")) or original.created_at,
                text=email_meta.get("text") or original.content or "",
                html=email_meta.get("html"),
            )
        # The sender's display name: the inbox's own name, else its location's (never the bare address twice).
        from_name = account.account_name if account.account_name != account.account_id else ""
        if not from_name and location is not None:
            from_name = location.name
        draft = ReplyDraft(
            from_addr=account.account_id,
            from_name=from_name,
            to=[(to_name, to_addr)],
            subject=threads.reply_subject(email_meta.get("subject") or conversation.subject),
            body=reply.text,
            message_id=message_id,
            in_reply_to=parent_id,
            references=references,
            greeting_name=to_name or (contact.name if contact else None),
            signature=signature,
            original=quoted,
            automated=reply.sender_type != "human",
        )
        mime = build_reply(draft)
        payload = {
            "mime": base64.b64encode(mime.as_bytes()).decode("ascii"),
            "message_id": message_id,
            "from": account.account_id,
            "to": [to_addr],
            "subject": draft.subject,
        }
        return [OutboundPart(text="\n\n".join(reply_text_parts(draft)), payload=payload, media=list(reply.media))]

    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """SMTP from the inbox's own server, then a copy in its Sent folder; returns our Message-ID."""
        from .mailer import send_reply

        if not payload.get("mime"):
            raise PermanentSendError("nothing to send: the reply was stored without its message")
        return send_reply(ctx.account, payload)

    def resolve_conversation(
        self, account: SocialAccount, contact: Contact, event: InboundEvent
    ) -> Conversation | None:
        """The threading rules (threads module doc): references, our token, then subject + participants."""
        return threads.resolve_conversation(account, contact, event)


def event_from_parsed(parsed: ParsedEmail, *, backfill: bool = False) -> InboundEvent:
    """A parsed email as the pipeline's InboundEvent (what ingest stores and the AI reads)."""
    media = [
        MessageMedia(
            type="image" if a.content_type.startswith("image/") else "file",
            url=None,
            name=a.filename,
            mime_type=a.content_type,
            size=a.size,
            extra={
                "sha256": a.sha256,
                "storage_key": attachment_key(a.sha256),
                "content_id": a.content_id,
                "inline": a.inline,
            },
        )
        for a in parsed.attachments
    ]
    token_id = threads.token_conversation_id(" ".join(parsed.in_reply_to), " ".join(parsed.references))
    email_meta = {
        "subject": parsed.subject,
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references,
        "from": parsed.from_addr,
        "from_name": parsed.from_name,
        "reply_address": parsed.reply_address,
        "reply_name": parsed.reply_name,
        "to": [list(pair) for pair in parsed.to],
        "cc": [list(pair) for pair in parsed.cc],
        "date": parsed.date.isoformat(),
        "text": parsed.text,
        "html": parsed.html[:MAX_META_HTML] if parsed.html else None,
        "imap_uid": parsed.imap_uid,
    }
    reason = parsed.no_reply_reason or ("backfill" if backfill else None)
    # When the server received it (IMAP INTERNALDATE) orders the inbox; a sender's clock may be wrong.
    when = parsed.received_at or parsed.date
    message = UnifiedMessage(
        channel="email",
        channel_account_id=parsed.inbox or "",
        direction="inbound",
        content=parsed.reply_text or parsed.text or ("(no text)" if not media else ""),
        created_at=when,
        media=media,
        metadata=MessageMetadata(
            external_id=parsed.message_id,
            thread_id=threads.thread_root(parsed.message_id, parsed.references, parsed.in_reply_to),
            sender_id=parsed.reply_address,
            sender_name=parsed.reply_name or None,
            extra={"email": email_meta},
        ),
    )
    data: dict[str, Any] = {
        "subject": parsed.subject,
        "contact": {"email": parsed.reply_address, **({"name": parsed.reply_name} if parsed.reply_name else {})},
        "email": {
            "message_id": parsed.message_id,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references,
            "subject": parsed.subject,
            "token_conversation_id": str(token_id) if token_id else None,
        },
    }
    if reason:
        data["no_reply_reason"] = reason
    return InboundEvent(
        kind="message",
        channel="email",
        account_id=parsed.inbox or "",
        sender_id=parsed.reply_address or None,
        timestamp=when,
        message=message,
        data=data,
    )


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
