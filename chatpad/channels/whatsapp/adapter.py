"""The WhatsApp adapter: the Cloud API's webhooks in, POST /{phone-number-id}/messages out.

- Inbound: POST /api/webhooks/whatsapp, object "whatsapp_business_account", signed with X-Hub-Signature-256 (the
  app secret, like Messenger); the GET handshake echoes hub.challenge. One POST may batch several entries, changes,
  messages and statuses: every one is parsed (pywa #229 dispatched only the first). A message is routed by
  value.metadata.phone_number_id, the business number it was sent to.
- The customer is their WhatsApp number in E.164 (wa_id is digits without "+"): the same number on SMS is the same
  contact.
- Statuses (sent, delivered, read, failed with Meta's error code) update the message; a failure can come late, after
  "sent" (131047: outside the 24-hour window).
- Outbound: only inside the 24-hour customer-service window (the customer's last message); choices become reply
  buttons (at most 3) or a list (at most 10 rows). Received messages are marked read.
Wire facts: /work/shared/docs/sms-whatsapp-reference.md §A. docs/channels/whatsapp.md
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from chatpad.channels.base import Channel, SendContext
from chatpad.channels.errors import AnomalousPayloadError, SendError
from chatpad.channels.meta import load_payload, parse_timestamp, verify_handshake, verify_signature
from chatpad.channels.phone import maybe_e164, wa_digits
from chatpad.messages import (
    FollowUp,
    InboundEvent,
    MessageMedia,
    MessageMetadata,
    OutboundPart,
    OutboundReply,
    UnifiedMessage,
)

from . import client, formatting

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

log = logging.getLogger("chatpad.channels.whatsapp")

OBJECT = "whatsapp_business_account"
WINDOW = timedelta(hours=24)
WINDOW_CLOSED = (
    "Outside WhatsApp's 24-hour window: the customer last wrote more than 24 hours ago, and WhatsApp then accepts "
    "only an approved message template"
)
WINDOW_NEVER_WROTE = "WhatsApp only allows free-form messages to customers who have written in the last 24 hours"

MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file", "sticker": "sticker"}
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}

# Meta's error codes as the admin reads them (sms-whatsapp-reference.md §A8, from pywa/errors.py).
ERROR_REASONS = {
    131047: "Outside WhatsApp's 24-hour window: more than 24 hours since the customer last wrote; only a template "
    "may be sent",
    131026: "Undeliverable: not a WhatsApp number, or the customer has not accepted WhatsApp's terms",
    130429: "WhatsApp's throughput limit for this number was reached",
    131056: "Too many messages to this customer in a short time",
    131048: "Held back by WhatsApp's spam rate limit",
    131051: "WhatsApp does not support this message type",
    131052: "WhatsApp could not download the media",
    131053: "WhatsApp could not upload the media",
    131031: "The WhatsApp Business Account is locked",
    132000: "The template's variables do not match its placeholders",
    132001: "The template does not exist in this language or is not approved",
    132015: "The template is paused",
    132016: "The template is disabled",
    368: "The account is temporarily blocked for a policy violation",
}


def error_reason(error: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """(code, what the admin reads) for one of Meta's error objects."""
    error = error or {}
    code = error.get("code")
    try:
        known = ERROR_REASONS.get(int(code)) if code is not None else None
    except (TypeError, ValueError):
        known = None
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    text = known or str(error.get("message") or error.get("title") or "WhatsApp reported that it was not delivered")
    if details and details not in text:
        text = f"{text} ({details})"
    return (str(code) if code is not None else None), f"{text} (code {code})" if code is not None else text


def customer_number(wa_id: Any) -> str | None:
    """A wa_id ("16505551234") in E.164 ("+16505551234"); None when it is missing."""
    if not wa_id:
        return None
    raw = str(wa_id)
    return maybe_e164(raw if raw.startswith("+") else "+" + raw) or "+" + raw.lstrip("+")


class WhatsAppChannel(Channel):
    """WhatsApp Cloud API numbers, one per location, in the business's WhatsApp Business Account."""

    key: ClassVar[str] = "whatsapp"
    # Fixture prefixes under tests/fixtures/whatsapp/ (tests/test_fixture_coverage.py checks both ways).
    event_types: ClassVar[tuple[str, ...]] = (
        "message",
        "media",
        "location",
        "contacts",
        "interactive",
        "button",
        "reaction",
        "referral",
        "unsupported",
        "status",
        "batch",
        "template",
        "unknown",
    )
    max_text: ClassVar[int | None] = formatting.MAX_TEXT
    max_text_unit: ClassVar[str] = "characters"
    identity_is_phone: ClassVar[bool] = True

    # --- inbound ---

    def verify_request(
        self, body: bytes, headers: Mapping[str, str], config: Mapping[str, Any], url: str | None = None
    ) -> None:
        """X-Hub-Signature-256 over the raw body with META_APP_SECRET; SignatureError (403) otherwise."""
        verify_signature(body, headers, config.get("META_APP_SECRET"))

    def handshake(self, args: Mapping[str, str], config: Mapping[str, Any]) -> str:
        """The GET subscription check: hub.challenge to echo back, or SignatureError (403)."""
        return verify_handshake(args, config.get("META_VERIFY_TOKEN"))

    def validate_envelope(self, body: bytes) -> None:
        """A JSON object with object "whatsapp_business_account" and an entry list, else AnomalousPayloadError."""
        load_payload(body, (OBJECT,))

    def receipts_only(self, body: bytes, config: Mapping[str, Any]) -> bool:
        """Only statuses of what the business sent, no customer's message: the receipts lane."""
        if b'"statuses"' not in body:
            return False  # a customer's message, the common case: no second parse in the request
        try:
            payload = load_payload(body, (OBJECT,))
        except AnomalousPayloadError:
            return False
        values = [value for _, value, _ in _changes(payload)]
        return bool(values) and all(v.get("statuses") and not v.get("messages") for v in values)

    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """Every message and status of every change of every entry as an InboundEvent. Pure."""
        payload = load_payload(body, (OBJECT,))
        events: list[InboundEvent] = []
        for field_name, value, waba_id in _changes(payload):
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            number_id = str(metadata.get("phone_number_id") or "")
            if field_name == "message_template_status_update" and value.get("message_template_name"):
                events.append(self._template_status(waba_id, value))
                continue
            if field_name != "messages":
                events.append(self._unsupported(number_id, {"field": field_name}))
                continue
            names = {
                str(c.get("wa_id")): ((c.get("profile") or {}).get("name") if isinstance(c, dict) else None)
                for c in value.get("contacts") or []
                if isinstance(c, dict)
            }
            for message in value.get("messages") or []:
                if isinstance(message, dict):
                    events.append(self._message(number_id, message, names))
            for status in value.get("statuses") or []:
                if isinstance(status, dict):
                    events.append(self._status(number_id, status))
            for error in value.get("errors") or []:
                events.append(self._unsupported(number_id, {"field": field_name, "error": error}))
        return events

    def _template_status(self, waba_id: str, value: dict[str, Any]) -> InboundEvent:
        """WhatsApp reviewed a template (field message_template_status_update): APPROVED, REJECTED, PAUSED …"""
        return InboundEvent(
            kind="template_status",
            channel=self.key,
            account_id=waba_id,
            sender_id=None,
            timestamp=datetime.now(UTC),
            data={
                "name": str(value.get("message_template_name") or ""),
                "language": str(value.get("message_template_language") or ""),
                "status": str(value.get("event") or "").upper(),
                "reason": value.get("reason"),
                "template_id": str(value.get("message_template_id") or "") or None,
            },
        )

    def _unsupported(self, number_id: str, data: dict[str, Any]) -> InboundEvent:
        return InboundEvent(
            kind="unsupported",
            channel=self.key,
            account_id=number_id,
            sender_id=None,
            timestamp=datetime.now(UTC),
            data=data,
        )

    def _message(self, number_id: str, m: dict[str, Any], names: dict[str, str | None]) -> InboundEvent:
        sender = customer_number(m.get("from"))
        timestamp = parse_timestamp(m.get("timestamp"))
        kind = str(m.get("type") or "")
        wamid = m.get("id")

        def event(event_kind: str, **kw: Any) -> InboundEvent:
            return InboundEvent(
                kind=event_kind, channel=self.key, account_id=number_id, sender_id=sender, timestamp=timestamp, **kw
            )

        if kind == "reaction":
            reaction = m.get("reaction") or {}
            emoji = reaction.get("emoji") or None
            return event(
                "reaction",
                target_external_id=reaction.get("message_id"),
                data={"emoji": emoji, "reaction": emoji, "action": "react" if emoji else "unreact"},
            )
        if kind in ("unsupported", "order", "system", "ephemeral", "request_welcome") or not sender:
            return event("unsupported", data={"type": kind, "id": wamid, "errors": m.get("errors") or []})

        content, media, extra = _content(kind, m)
        if content is None:
            return event("unsupported", data={"type": kind, "id": wamid})
        context = m.get("context")
        if isinstance(context, dict) and context.get("id"):
            extra["reply_to"] = context.get("id")
            if context.get("forwarded") or context.get("frequently_forwarded"):
                extra["forwarded"] = True
        if isinstance(m.get("referral"), dict):
            extra["referral"] = dict(m["referral"])  # arrived from a Click-to-WhatsApp ad
        message = UnifiedMessage(
            channel=self.key,
            channel_account_id=number_id,
            direction="inbound",
            content=content,
            created_at=timestamp,
            media=media,
            metadata=MessageMetadata(
                external_id=wamid,
                thread_id=sender,
                sender_id=sender,
                sender_name=names.get(str(m.get("from"))),
                extra=extra,
            ),
        )
        return event("message", message=message, data={"verified_phone": sender})

    def _status(self, number_id: str, s: dict[str, Any]) -> InboundEvent:
        platform_status = str(s.get("status") or "").lower()
        data: dict[str, Any] = {"status": STATUS_MAP.get(platform_status), "platform_status": platform_status}
        errors = [e for e in s.get("errors") or [] if isinstance(e, dict)]
        if errors:
            code, reason = error_reason(errors[0])
            data["error_code"] = code
            data["error"] = reason
        if platform_status == "failed" and not errors:
            data["error"] = "WhatsApp reported that the message was not delivered"
        return InboundEvent(
            kind="status",
            channel=self.key,
            account_id=number_id,
            sender_id=customer_number(s.get("recipient_id")),
            timestamp=parse_timestamp(s.get("timestamp")),
            target_external_id=s.get("id"),
            data=data,
        )

    def after_ingest(self, event: InboundEvent, conversation, message) -> list[FollowUp]:
        """Mark the customer's message read (the blue ticks), best-effort: ChatPad has received it."""
        if event.kind == "message" and message.external_id:
            try:
                client.mark_read(conversation.social_account, message.external_id)
            except SendError as exc:
                log.info("could not mark %s read: %s", message.external_id, exc)
        return []

    def download_media(self, account: SocialAccount, media: dict[str, Any]) -> tuple[bytes, str]:
        """A media id from a webhook: its 5-minute URL from GET /{media-id}, then the file, both with the token."""
        media_id = str((media.get("extra") or {}).get("media_id") or "")
        if not media_id:
            raise AnomalousPayloadError("the media entry has no WhatsApp media id")
        return client.download_media(account, media_id)

    def webhook_needles(self, external_id: str) -> list[bytes]:
        """WhatsApp bodies write the number as digits without "+" (wa_id, from, recipient_id)."""
        return [f'"{wa_digits(external_id)}"'.encode(), f'"{external_id}"'.encode()]

    # --- outbound ---

    def format(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """Text of at most 4,096 characters per message; links written out; choices as reply buttons or a list on
        the last part; media by link, the first carrying the text as its caption when it fits."""
        template = reply.extra.get("template") if reply.sender_type == "human" else None
        if template:
            # A person's pick from the reply box: one type=template message, shown as the customer reads it.
            return [OutboundPart(text=reply.text, payload={"type": "template", "template": template})]
        offered = formatting.choices(reply.quick_replies, reply.buttons)
        text = "\n\n".join(v for v in (reply.text.strip(), formatting.link_lines(reply.buttons)) if v)
        pieces = formatting.split_text(text) if text else []
        parts: list[OutboundPart] = []
        media_parts = []
        for item in reply.media:
            body = formatting.media_message(item)
            if body is not None:
                media_parts.append((item, body))
        if offered:
            last = pieces.pop() if pieces else ""
            if len(last) > formatting.MAX_INTERACTIVE_BODY:
                pieces.append(last)
                last = ""
        for piece in pieces:
            parts.append(OutboundPart(text=piece, payload={"type": "text", "text": {"body": piece}}))
        for item, body in media_parts:
            parts.append(OutboundPart(text="", payload=body, media=[item]))
        if offered:
            shown = last or "Please choose:"
            payload = {"type": "interactive", "interactive": formatting.interactive(shown, offered), "choices": offered}
            parts.append(OutboundPart(text=shown, payload=payload))
        return parts

    def check_window(self, ctx: SendContext) -> str | None:
        """None inside the 24-hour window since the customer's last message; otherwise why not (WhatsApp takes only
        templates then: a person's template (ctx.extra["template"]) goes out at any time; the AI never sends one, so
        it is always held to the window)."""
        if ctx.extra.get("template") and ctx.sender_type == "human":
            return None
        last = ctx.last_inbound_at
        if last is None:
            return WINDOW_NEVER_WROTE
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        if datetime.now(UTC) - last > WINDOW:
            return WINDOW_CLOSED
        return None

    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """POST /{phone-number-id}/messages with the WABA's token; the wamid Meta answers with."""
        body = {key: value for key, value in payload.items() if key != "choices"}
        body.update(
            {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_digits(ctx.recipient_id)}
        )
        answer = client.send_message(ctx.account, body)
        messages = answer.get("messages") or []
        return str(messages[0].get("id")) if messages and isinstance(messages[0], dict) else None

    def typing(self, ctx: SendContext, on: bool) -> None:
        """WhatsApp's typing indicator rides on a read receipt of the customer's last message (dismissed by the
        reply or after 25 s): shown when on, nothing to do when off."""
        if not on:
            return
        wamid = ctx.reply_to.external_id if ctx.reply_to is not None else client.last_inbound_id(ctx.conversation)
        if wamid:
            client.mark_read(ctx.account, wamid, typing=True)


def _changes(payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(field, value, the entry's WABA id) of every change of every entry."""
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                yield str(change.get("field") or ""), change["value"], str(entry.get("id") or "")


def _content(kind: str, m: dict[str, Any]) -> tuple[str | None, list[MessageMedia], dict[str, Any]]:
    """(text, media, metadata extras) of one customer's message; text None for a type ChatPad does not read."""
    extra: dict[str, Any] = {"type": kind}
    body = m.get(kind) if isinstance(m.get(kind), dict) else {}
    if kind == "text":
        return str(body.get("body") or ""), [], extra
    if kind in MEDIA_TYPES:
        media = MessageMedia(
            type=MEDIA_TYPES[kind],
            name=body.get("filename"),
            mime_type=body.get("mime_type"),
            extra={"download": True, "media_id": body.get("id"), "sha256": body.get("sha256")},
        )
        if kind == "audio" and body.get("voice"):
            media.extra["voice"] = True
        return str(body.get("caption") or ""), [media], extra
    if kind == "location":
        lat, lng = body.get("latitude"), body.get("longitude")
        extra["location"] = {k: body.get(k) for k in ("latitude", "longitude", "name", "address", "url")}
        label = ", ".join(str(v) for v in (body.get("name"), body.get("address")) if v)
        return f"📍 {label} ({lat}, {lng})" if label else f"📍 {lat}, {lng}", [], extra
    if kind == "contacts":
        cards = [c for c in m.get("contacts") or [] if isinstance(c, dict)]
        extra["contacts"] = cards
        lines = []
        for card in cards:
            name = (card.get("name") or {}).get("formatted_name") or "A contact"
            phones = ", ".join(str(p.get("phone")) for p in card.get("phones") or [] if p.get("phone"))
            lines.append(f"{name}: {phones}" if phones else name)
        return "Shared contact: " + "; ".join(lines), [], extra
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or body.get("nfm_reply")
        if not isinstance(reply, dict):
            return None, [], extra
        title = str(reply.get("title") or reply.get("body") or "")
        extra["quick_reply"] = {"payload": reply.get("id"), "title": title}
        return title, [], extra
    if kind == "button":
        text = str(body.get("text") or body.get("payload") or "")
        extra["quick_reply"] = {"payload": body.get("payload"), "title": text}
        return text, [], extra
    return None, [], extra
