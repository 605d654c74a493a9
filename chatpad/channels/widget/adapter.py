"""WidgetChannel: the web widget on a business's own site, through the same pipeline as every other channel.

Inbound: the visitor API (chatpad/widget/api.py) checks the widget key, the Origin and the visitor token, then stores
an envelope it built from the visitor's POST in webhook_events; parse() turns that envelope into an InboundEvent.
Outbound: there is no platform to call. The stored message is what the visitor reads (history, event stream): send()
is the moment of delivery, and the pipeline's publish after it wakes the visitor's stream.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import select

from chatpad.channels.base import Channel, SendContext
from chatpad.channels.errors import AnomalousPayloadError, UnsupportedEventError
from chatpad.http import loads_json
from chatpad.messages import (
    InboundEvent,
    MessageMetadata,
    OutboundPart,
    OutboundReply,
    UnifiedMessage,
)

ENVELOPE_VERSION = 1
SAFE_URL_SCHEMES = ("https://", "http://")


def build_envelope(
    *,
    widget_key: str,
    visitor_id: str,
    client_id: str,
    text: str,
    name: str | None = None,
    email: str | None = None,
    page_url: str | None = None,
    page_title: str | None = None,
    origin: str | None = None,
    received_at: datetime | None = None,
) -> bytes:
    """The raw event the visitor API stores for one visitor message: everything parse() needs, nothing more."""
    envelope = {
        "v": ENVELOPE_VERSION,
        "type": "message",
        "widget_key": widget_key,
        "visitor_id": visitor_id,
        "client_id": client_id,
        "text": text,
        "received_at": (received_at or datetime.now(UTC)).isoformat(),
        "visitor": {k: v for k, v in (("name", name), ("email", email)) if v},
        "page": {k: v for k, v in (("url", page_url), ("title", page_title)) if v},
        "origin": origin,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def external_id_for(visitor_id: str, client_id: str) -> str:
    """The message's platform id: unique per widget, and the same when the browser retries a POST."""
    return f"{visitor_id}:{client_id}"


class WidgetChannel(Channel):
    """The web widget: visitor messages in from its HTTP API, replies out over its live stream."""

    key: ClassVar[str] = "widget"
    event_types: ClassVar[tuple[str, ...]] = ("message",)
    # Replies longer than this are split into several bubbles at paragraph or sentence breaks.
    max_text: ClassVar[int | None] = 4000

    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """The visitor API's envelope as one message event. Pure: no database, no network."""
        try:
            data = loads_json(body)
        except ValueError as exc:
            raise AnomalousPayloadError(f"widget envelope is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("v") != ENVELOPE_VERSION:
            raise AnomalousPayloadError("not a widget envelope")
        if data.get("type") != "message":
            raise UnsupportedEventError(f"widget event type {data.get('type')!r}")
        try:
            key = _required_str(data, "widget_key")
            visitor_id = _required_str(data, "visitor_id")
            client_id = _required_str(data, "client_id")
            text = data["text"]
            if not isinstance(text, str):
                raise TypeError("text")
            received_at = datetime.fromisoformat(data["received_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AnomalousPayloadError(f"widget envelope is missing or has a bad field: {exc}") from None
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        visitor = data.get("visitor") or {}
        page = data.get("page") or {}
        if not isinstance(visitor, dict) or not isinstance(page, dict):
            raise AnomalousPayloadError("widget envelope: visitor and page must be objects")
        extra: dict[str, Any] = {"client_id": client_id}
        for source, key_in, key_out in (
            (page, "url", "page_url"),
            (page, "title", "page_title"),
            (data, "origin", "origin"),
        ):
            if isinstance(source.get(key_in), str) and source[key_in]:
                extra[key_out] = source[key_in]
        message = UnifiedMessage(
            channel=self.key,
            channel_account_id=key,
            direction="inbound",
            content=text,
            created_at=received_at,
            metadata=MessageMetadata(
                external_id=external_id_for(visitor_id, client_id),
                thread_id=visitor_id,
                sender_id=visitor_id,
                sender_name=visitor["name"] if isinstance(visitor.get("name"), str) else None,
                extra=extra,
            ),
        )
        profile = {k: visitor[k] for k in ("name", "email") if isinstance(visitor.get(k), str) and visitor[k]}
        return [
            InboundEvent(
                kind="message",
                channel=self.key,
                account_id=key,
                sender_id=visitor_id,
                timestamp=received_at,
                message=message,
                # The visitor typed these; nobody verified the email.
                data={"contact": profile, "email_verified": False} if profile else {},
            )
        ]

    def format(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """One bubble per part; quick replies and link buttons ride on the last one. Pure."""
        texts = split_text(reply.text, self.max_text or 4000) or [""]
        parts = []
        for index, text in enumerate(texts):
            payload: dict[str, Any] = {"text": text, "sender_type": reply.sender_type}
            if index == len(texts) - 1:
                if reply.quick_replies:
                    payload["quick_replies"] = [
                        {"title": q.title[:80], "payload": q.payload} for q in reply.quick_replies[:13]
                    ]
                buttons = [_button(b) for b in reply.buttons]
                if any(buttons):
                    payload["buttons"] = [b for b in buttons if b]
            parts.append(OutboundPart(text=text, payload=payload, media=list(reply.media) if index == 0 else []))
        return parts

    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """Deliver to the visitor. There is no platform to call: the stored message is what the visitor reads, and
        it becomes visible to them once the send job commits it as sent. The job then publishes message.updated on
        the conversation's live channel (chatpad.realtime), which wakes the visitor's stream or long poll. Returns
        the message's id on the widget channel."""
        return "wo_" + uuid.uuid4().hex

    def resolve_conversation(self, account, contact, event: InboundEvent):
        """The visitor's open conversation on this widget (by visitor id, not contact: two visitors that typed the
        same email must not read each other's chats). A conversation the visitor ended (resolved) is not reopened:
        the next message starts a new one."""
        from chatpad.extensions import db
        from chatpad.models import Conversation

        latest = db.session.scalar(
            select(Conversation)
            .where(Conversation.social_account_id == account.id, Conversation.thread_key == event.sender_id)
            .order_by(Conversation.last_message_at.desc(), Conversation.created_at.desc())
            .limit(1)
        )
        if latest is None or latest.status == "resolved":
            return None
        return latest


def _required_str(data: dict, name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise ValueError(name)
    return value


def _button(button) -> dict[str, str] | None:
    """A reply button the widget can show: links (http/https only) and phone numbers; postbacks become chips."""
    if button.type == "web_url" and button.payload and button.payload.startswith(SAFE_URL_SCHEMES):
        return {"type": "link", "title": button.title[:80], "url": button.payload}
    if button.type == "phone_number" and button.payload:
        return {"type": "phone", "title": button.title[:80], "phone": button.payload}
    if button.type == "postback":
        return {"type": "reply", "title": button.title[:80], "payload": button.payload or button.title}
    return None


def split_text(text: str, limit: int) -> list[str]:
    """Split text into chunks of at most limit characters, at paragraph, then line, then sentence, then word
    breaks; a single word longer than the limit is cut."""
    text = (text or "").strip()
    if not text:
        return []
    chunks: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = limit
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep, 0, limit)
            if at > limit // 3:
                cut = at + (1 if sep == ". " else 0)
                break
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks
