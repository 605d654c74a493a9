"""The Facebook Messenger adapter: Meta webhooks in, the Send API out.

Webhook events: https://developers.facebook.com/docs/messenger-platform/webhooks
Send API:       https://developers.facebook.com/docs/messenger-platform/reference/send-api/
Windows:        https://developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from chatpad.channels.base import Channel, SendContext
from chatpad.channels.errors import AnomalousPayloadError, SendError
from chatpad.channels.meta import iter_messaging, load_payload, parse_timestamp, verify_handshake, verify_signature
from chatpad.channels.meta.envelope import MessagingItem, party_id, receipts_only
from chatpad.messages import (
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

log = logging.getLogger("chatpad.channels.facebook")

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
# "Send the user reminders or updates for an event they have registered for": a booked tour's reminder, outside the
# 24-hour window (ctx.extra["message_tag"]; kept in the stored payload so a retried send keeps it).
# https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags
EVENT_UPDATE_TAG = "CONFIRMED_EVENT_UPDATE"
WINDOW_CLOSED_AI = (
    "Outside Messenger's 24-hour window: the AI does not message customers who have not written in 24 hours"
)
WINDOW_CLOSED_HUMAN = (
    "Outside Messenger's 7-day window: Messenger refuses even human replies more than 7 days after the customer's "
    "last message"
)
WINDOW_NEVER_WROTE = "Messenger only allows replies to customers who have written to the Page"

# Messaging items we know but do not act on (handover protocol, opt-ins, account linking…): "unsupported".
_OTHER_ITEM_KEYS = (
    "optin",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "account_linking",
    "game_play",
)


class FacebookChannel(Channel):
    """Facebook Messenger for Pages. Parses every messaging event, formats to Messenger's limits, sends as the Page."""

    key: ClassVar[str] = "facebook"
    # Fixture prefixes under tests/fixtures/facebook/ (tests/test_fixture_coverage.py checks both ways).
    event_types: ClassVar[tuple[str, ...]] = (
        "message",
        "postback",
        "delivery",
        "read",
        "reaction",
        "referral",
        "standby",
        "message_edit",
        "optin",
        "batch",
        "unknown",
    )
    max_text: ClassVar[int | None] = formatting.MAX_TEXT
    max_text_unit: ClassVar[str] = "characters"

    # --- inbound ---

    def verify_request(
        self, body: bytes, headers: Mapping[str, str], config: Mapping[str, Any], url: str | None = None
    ) -> None:
        """X-Hub-Signature-256 over the raw body with META_APP_SECRET; SignatureError (403) otherwise."""
        verify_signature(body, headers, config.get("META_APP_SECRET"))

    def handshake(self, args: Mapping[str, str], config: Mapping[str, Any]) -> str:
        """The GET subscription check: hub.challenge to echo back, or SignatureError (403)."""
        return verify_handshake(args, config.get("META_VERIFY_TOKEN"))

    # The webhook's "object" (Instagram's differ).
    envelope_objects: ClassVar[tuple[str, ...]] = ("page",)

    def validate_envelope(self, body: bytes) -> None:
        """In the webhook request: a JSON object with object "page" and an entry list, else AnomalousPayloadError."""
        load_payload(body, self.envelope_objects)

    def receipts_only(self, body: bytes, config: Mapping[str, Any]) -> bool:
        """Only deliveries, reads and echoes of ChatPad's own sends (chatpad.channels.meta.envelope.receipts_only)."""
        if b'"delivery"' not in body and b'"read"' not in body and b'"is_echo"' not in body:
            return False  # a customer's message, the common case: no second parse in the request
        try:
            payload = load_payload(body, self.envelope_objects)
        except AnomalousPayloadError:
            return False
        return receipts_only(payload, config.get("META_APP_ID"))

    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """Every messaging/standby item of every entry as an InboundEvent; AnomalousPayloadError unless the body is
        JSON with object "page"."""
        payload = load_payload(body, ("page",))
        return [self._parse_item(item) for item in iter_messaging(payload)]

    def _parse_item(self, mi: MessagingItem) -> InboundEvent:
        item = mi.item
        sender = party_id(item.get("sender"))
        recipient = party_id(item.get("recipient"))
        default_time = mi.entry_time or datetime.now(UTC)
        timestamp = parse_timestamp(item.get("timestamp"), default_time) if "timestamp" in item else default_time

        def event(kind: str, customer: str | None, page: str | None, **kw) -> InboundEvent:
            return InboundEvent(
                kind=kind,
                channel=self.key,
                account_id=mi.entry_id or page or "",
                sender_id=customer,
                timestamp=timestamp,
                standby=mi.standby,
                **kw,
            )

        message = item.get("message")
        if isinstance(message, dict):
            if message.get("is_echo"):
                # The Page sent this: from our app (app_id = ours) or a person in the Page inbox / another app.
                app_id = message.get("app_id")
                return event(
                    "echo",
                    recipient,
                    sender,
                    message=self._message(message, sender or mi.entry_id, recipient, timestamp, "outbound"),
                    data={"app_id": str(app_id) if app_id is not None else None, "metadata": message.get("metadata")},
                )
            if message.get("is_deleted"):
                return event("delete", sender, recipient, target_external_id=message.get("mid"))
            return event(
                "message",
                sender,
                recipient,
                message=self._message(message, recipient or mi.entry_id, sender, timestamp, "inbound"),
            )

        postback = item.get("postback")
        if isinstance(postback, dict):
            return event("message", sender, recipient, message=self._postback(postback, mi, sender, timestamp))

        delivery = item.get("delivery")
        if isinstance(delivery, dict):
            watermark = parse_timestamp(delivery["watermark"]) if delivery.get("watermark") else None
            if "timestamp" not in item and watermark:
                timestamp = watermark
            return event(
                "delivery", sender, recipient, watermark=watermark, data={"mids": list(delivery.get("mids") or [])}
            )

        read = item.get("read")
        if isinstance(read, dict):
            watermark = parse_timestamp(read["watermark"]) if read.get("watermark") else None
            return event("read", sender, recipient, watermark=watermark, target_external_id=read.get("mid"))

        reaction = item.get("reaction")
        if isinstance(reaction, dict):
            return event(
                "reaction",
                sender,
                recipient,
                target_external_id=reaction.get("mid"),
                data={
                    "reaction": reaction.get("reaction"),
                    "emoji": reaction.get("emoji"),
                    "action": reaction.get("action", "react"),
                },
            )

        edit = item.get("message_edit")
        if isinstance(edit, dict):
            return event(
                "edit",
                sender,
                recipient,
                target_external_id=edit.get("mid"),
                data={"text": edit.get("text", ""), "num_edit": edit.get("num_edit")},
            )

        referral = item.get("referral")
        if isinstance(referral, dict):
            return event("referral", sender, recipient, data=dict(referral))

        known = next((key for key in _OTHER_ITEM_KEYS if key in item), None)
        kind = known or mi.field or next((k for k in item if k not in ("sender", "recipient", "timestamp")), None)
        return event("unsupported", sender, recipient, data={"type": kind, "item": item})

    def _message(
        self, message: dict[str, Any], page_id: str | None, customer: str | None, timestamp: datetime, direction: str
    ) -> UnifiedMessage:
        extra: dict[str, Any] = {}
        quick_reply = message.get("quick_reply")
        if isinstance(quick_reply, dict):
            extra["quick_reply"] = {"payload": quick_reply.get("payload")}
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict):
            extra["reply_to"] = {"mid": reply_to.get("mid"), "is_self_reply": bool(reply_to.get("is_self_reply"))}
        if isinstance(message.get("referral"), dict):
            extra["referral"] = dict(message["referral"])
        if message.get("sticker_id") is not None:
            extra["sticker_id"] = str(message["sticker_id"])
        if message.get("is_unsupported"):
            extra["is_unsupported"] = True
        content = message.get("text") or ""
        media = _media(message.get("attachments"))
        if not content and media and media[0].type == "fallback":
            content = media[0].name or media[0].url or ""
        return UnifiedMessage(
            channel=self.key,
            channel_account_id=page_id or "",
            direction=direction,  # type: ignore[arg-type]
            content=content,
            created_at=timestamp,
            media=media,
            metadata=MessageMetadata(
                external_id=message.get("mid"),
                thread_id=customer,
                sender_id=customer if direction == "inbound" else page_id,
                extra=extra,
            ),
        )

    def _postback(
        self, postback: dict[str, Any], mi: MessagingItem, sender: str | None, timestamp: datetime
    ) -> UnifiedMessage:
        title = postback.get("title") or ""
        payload = postback.get("payload")
        # Older postbacks carry no mid: a key from sender and time dedupes Meta's redeliveries of the same tap.
        mid = postback.get("mid") or f"postback:{sender}:{int(timestamp.timestamp() * 1000)}"
        info: dict[str, Any] = {"title": title, "payload": payload}
        if isinstance(postback.get("referral"), dict):
            info["referral"] = dict(postback["referral"])
        get_started = title.strip().lower() == "get started" or payload in {"GET_STARTED", "GET_STARTED_PAYLOAD"}
        return UnifiedMessage(
            channel=self.key,
            channel_account_id=mi.entry_id,
            direction="inbound",
            content=title or str(payload or ""),
            created_at=timestamp,
            metadata=MessageMetadata(
                external_id=mid,
                thread_id=sender,
                sender_id=sender,
                extra={"postback": info, "get_started": get_started},
            ),
        )

    # --- outbound ---

    def format(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """Text over 2000 characters split at sentence boundaries; buttons as a button template (text ≤ 640) on the
        last text part; media by URL after the text; quick replies on the very last part."""
        button_items = formatting.buttons(reply.buttons)
        texts = formatting.split_text(reply.text)
        if button_items:
            last = texts.pop() if texts else ""
            texts.extend(formatting.split_text(last, formatting.MAX_BUTTON_TEXT) or ["…"])
        parts: list[OutboundPart] = []
        for index, text in enumerate(texts):
            if button_items and index == len(texts) - 1:
                message = formatting.button_template(text, button_items)
            else:
                message = {"text": text}
            parts.append(OutboundPart(text=text, payload=self._body(message, ctx)))
        for media in reply.media:
            attachment = formatting.media_attachment(media)
            if attachment:
                parts.append(OutboundPart(text="", payload=self._body(attachment, ctx), media=[media]))
        quick = formatting.quick_replies(reply.quick_replies)
        if quick:
            if not parts:
                parts.append(OutboundPart(text="…", payload=self._body({"text": "…"}, ctx)))
            parts[-1].payload["message"]["quick_replies"] = quick
        return parts

    def _body(self, message: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
        return {"recipient": {"id": ctx.recipient_id}, **self.messaging_fields(ctx), "message": message}

    def messaging_fields(self, ctx: SendContext, now: datetime | None = None) -> dict[str, str]:
        """RESPONSE inside 24 h of the customer's last message; a person's reply later (≤ 7 days) is tagged
        HUMAN_AGENT, the only tag that allows it. https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags"""
        age = _age(ctx.last_inbound_at, now)
        if ctx.extra.get("message_tag") == EVENT_UPDATE_TAG and age is not None and STANDARD_WINDOW < age:
            return {"messaging_type": "MESSAGE_TAG", "tag": EVENT_UPDATE_TAG}
        if ctx.sender_type == "human" and age is not None and STANDARD_WINDOW < age:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        return {"messaging_type": "RESPONSE"}

    def check_window(self, ctx: SendContext) -> str | None:
        """None while Messenger allows this reply; otherwise the reason shown to the admin."""
        age = _age(ctx.last_inbound_at)
        if age is None:
            return WINDOW_NEVER_WROTE
        if age <= STANDARD_WINDOW:
            return None
        if ctx.extra.get("message_tag") == EVENT_UPDATE_TAG:
            return None  # a reminder or update of an event the customer booked: allowed after the window
        if ctx.sender_type == "human":
            return None if age <= HUMAN_AGENT_WINDOW else WINDOW_CLOSED_HUMAN
        return WINDOW_CLOSED_AI

    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """POST the payload to /<PAGE_ID>/messages with the Page token; the message id (the echo's mid).

        The recipient and messaging type are set again here: a retry may run after the window moved on."""
        body = {key: value for key, value in payload.items() if key not in ("messaging_type", "tag")}
        body["recipient"] = {"id": ctx.recipient_id}
        body.update(self.messaging_fields(ctx))
        message_id = ctx.extra.get("message_id")
        if message_id is not None and isinstance(body.get("message"), dict):
            # Returned in the echo, so the echo of our own send can be matched to its outbound message.
            body["message"] = {**body["message"], "metadata": f"chatpad:{message_id}"}
        answer = client.send_message(ctx.account, body)
        return answer.get("message_id")

    # "Typing indicators are automatically turned off after 20 seconds, or when the bot sends a message."
    # https://developers.facebook.com/docs/messenger-platform/send-messages/sender-actions
    typing_ends_with_reply = True

    def typing(self, ctx: SendContext, on: bool) -> None:
        """typing_on while the AI composes, typing_off after (best-effort; the job swallows failures)."""
        if on and self.check_window(ctx) is not None:
            return  # outside the window Messenger refuses sender actions too
        client.send_sender_action(ctx.account, ctx.recipient_id, "typing_on" if on else "typing_off")

    def typing_on(self, account: SocialAccount, recipient_id: str) -> None:
        """Show the typing bubble to the customer."""
        client.typing_on(account, recipient_id)

    def mark_seen(self, account: SocialAccount, recipient_id: str) -> None:
        """Mark the customer's last message as seen."""
        client.mark_seen(account, recipient_id)

    def fetch_profile(self, account: SocialAccount, sender_id: str) -> dict[str, Any] | None:
        """The customer's name and picture from GET /<PSID>; None if Meta refuses (never fatal)."""
        try:
            data = client.get_profile(account, sender_id)
        except SendError as exc:
            log.info("profile of %s on page %s unavailable: %s", sender_id, account.account_id, exc.reason)
            return None
        first, last = data.get("first_name") or "", data.get("last_name") or ""
        name = " ".join(part for part in (first, last) if part) or None
        return {
            "name": name,
            "first_name": first or None,
            "last_name": last or None,
            "profile_pic": data.get("profile_pic"),
        }


def _age(since: datetime | None, now: datetime | None = None) -> timedelta | None:
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) - since


def _media(attachments: Any) -> list[MessageMedia]:
    """Attachments as links (Meta's CDN URLs expire; the policy is to store links, not files)."""
    result: list[MessageMedia] = []
    seen_stickers: set[str] = set()
    for attachment in attachments or []:
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("type") or "file")
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        extra: dict[str, Any] = {}
        sticker_id = payload.get("sticker_id")
        if sticker_id is not None:
            # Until 2026-08-30 a sticker arrives both as type "sticker" and as an "image" with sticker_id: keep one.
            if str(sticker_id) in seen_stickers:
                continue
            seen_stickers.add(str(sticker_id))
            kind = "sticker"
            extra["sticker_id"] = str(sticker_id)
        for key in ("title", "reel_video_id", "attachment_id"):
            if payload.get(key) is not None:
                extra[key] = payload[key]
        url = payload.get("url") or attachment.get("url")
        name = attachment.get("title") or payload.get("title")
        result.append(MessageMedia(type=kind, url=url, name=name, extra=extra))
    return result
