"""The Instagram DM adapter: professional accounts linked to a Facebook Page, through the Messenger Platform.

Instagram messaging *is* the Messenger Platform with an Instagram account on the other end, so this adapter builds
on the Messenger one (signature, handshake, envelope, messages, echoes, postbacks, reactions, edits, unsends, reads)
and adds only what is Instagram's: object "instagram", story mentions and story replies, unsupported messages,
Instagram's attachment kinds, 1000-*byte* texts, no button templates, and the Page-linked send path (the Page's
token, /<PAGE_ID>/messages, the customer's IGSID).

Webhooks:  https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook
Send API:  https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message
Stories:   https://developers.facebook.com/docs/messenger-platform/instagram/features/story-mention
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from chatpad.channels.base import SendContext
from chatpad.channels.errors import PermanentSendError, SendError
from chatpad.channels.facebook.adapter import HUMAN_AGENT_WINDOW, STANDARD_WINDOW, FacebookChannel, _age
from chatpad.channels.meta import iter_messaging, load_payload
from chatpad.channels.meta.envelope import MessagingItem
from chatpad.messages import FollowUp, InboundEvent, OutboundPart, OutboundReply, UnifiedMessage

from . import client, formatting
from .stories import story_info

if TYPE_CHECKING:
    from chatpad.models import Conversation, Message, SocialAccount

log = logging.getLogger("chatpad.channels.instagram")

OBJECT = "instagram"
WINDOW_CLOSED_AI = (
    "Outside Instagram's 24-hour window: the AI does not message customers who have not written in 24 hours"
)
WINDOW_CLOSED_HUMAN = (
    "Outside Instagram's 7-day window: Instagram refuses even human replies more than 7 days after the customer's "
    "last message"
)
WINDOW_NEVER_WROTE = "Instagram only allows replies to customers who have written to the account"

# What the location says when a customer mentions the business in their story, unless it set its own text in
# Location.settings["story_mention_reply"] (an empty string there turns the thank-you off).
STORY_MENTION_SETTING = "story_mention_reply"
DEFAULT_STORY_MENTION_REPLY = "Thanks so much for the mention! 💙"
NO_REPLY_MENTION = "a story mention: thanked with the location's story-mention reply, not answered by the AI"
NO_REPLY_UNSUPPORTED = "an unsupported message: Instagram did not pass its content on; shown to the team"

# Attachment payload keys worth keeping beside the URL (post/reel ids, titles).
_MEDIA_KEYS = ("ig_post_media_id", "reel_video_id", "title", "id")


class InstagramChannel(FacebookChannel):
    """Instagram DMs for professional accounts linked to Pages; parses every messaging event, formats to
    Instagram's limits and sends as the linked Page."""

    key: ClassVar[str] = "instagram"
    # Fixture prefixes under tests/fixtures/instagram/ (tests/test_fixture_coverage.py checks both ways).
    event_types: ClassVar[tuple[str, ...]] = (
        "message",
        "story_mention",
        "story_reply",
        "postback",
        "seen",
        "reaction",
        "message_edit",
        "referral",
        "standby",
        "batch",
        "unknown",
    )
    max_text: ClassVar[int | None] = formatting.MAX_TEXT_BYTES
    max_text_unit: ClassVar[str] = "bytes"

    # --- inbound ---

    envelope_objects: ClassVar[tuple[str, ...]] = (OBJECT,)

    def validate_envelope(self, body: bytes) -> None:
        """400 unless the body is a JSON object with object "instagram" and a list of entries."""
        load_payload(body, self.envelope_objects)

    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """Every messaging/standby item of every entry as an InboundEvent; AnomalousPayloadError unless the body is
        JSON with object "instagram". Pure: no database, no network."""
        payload = load_payload(body, (OBJECT,))
        return [self._instagram_item(item) for item in iter_messaging(payload)]

    def _instagram_item(self, mi: MessagingItem) -> InboundEvent:
        event = self._parse_item(mi)
        if event.kind == "read" and event.target_external_id:
            # messaging_seen names the message seen, and Instagram sends no deliveries: seeing it means everything
            # sent before that moment was seen, so the event becomes a watermark at its own time.
            event.data["mid"] = event.target_external_id
            event.target_external_id = None
            event.watermark = event.timestamp
            return event
        if event.kind == "echo" and event.message is not None and _only_story_mention(event.message):
            # The business mentioned the customer in its own story: not a DM answer, so no human takeover.
            return InboundEvent(
                kind="unsupported",
                channel=self.key,
                account_id=event.account_id,
                sender_id=event.sender_id,
                timestamp=event.timestamp,
                data={"type": "story_mention_echo", "mid": event.message.metadata.external_id},
            )
        if event.kind != "message" or event.message is None:
            return event
        extra = event.message.metadata.extra
        text = (event.message.content or "").strip()
        if extra.get("is_unsupported"):
            event.data["no_reply_reason"] = NO_REPLY_UNSUPPORTED
        elif "story_mention" in extra and not text:
            # The thank-you (after_ingest) is the answer to a bare mention; the AI does not add a second one.
            event.data["no_reply_reason"] = NO_REPLY_MENTION
        return event

    def _message(
        self, message: dict[str, Any], page_id: str | None, customer: str | None, timestamp: datetime, direction: str
    ) -> UnifiedMessage:
        unified = super()._message(message, page_id, customer, timestamp, direction)
        extra = unified.metadata.extra
        raw_attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
        for media, raw in zip(unified.media, raw_attachments, strict=False):
            payload = raw.get("payload") if isinstance(raw.get("payload"), dict) else {}
            for key in _MEDIA_KEYS:
                if payload.get(key) is not None and key not in media.extra:
                    media.extra[key] = payload[key]
            if media.type == "story_mention":
                # Meta policy: keep the link, never the media. Its id comes later (after_ingest asks Graph).
                info = story_info(media.url, payload.get("id"), timestamp)
                media.extra["expires_at"] = info["expires_at"]
                extra["story_mention"] = info
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict) and isinstance(reply_to.get("story"), dict):
            story = reply_to["story"]
            replied = dict(extra.get("reply_to") or {})
            replied = {k: v for k, v in replied.items() if v not in (None, False)}
            replied["story"] = story_info(story.get("url"), story.get("id"), timestamp)
            extra["reply_to"] = replied
        return unified

    # --- after a customer's message is stored (worker, I/O allowed) ---

    def after_ingest(self, event: InboundEvent, conversation: Conversation, message: Message) -> list[FollowUp]:
        """A story mention: look up the story's id, then ask to thank the customer with the location's reply (unless
        the location turned the thank-you off; the pipeline skips it during a takeover). Idempotent."""
        mention = (message.meta or {}).get("story_mention")
        if not isinstance(mention, dict) or message.direction != "inbound":
            return []
        from chatpad.extensions import db

        account = conversation.social_account
        if account is not None and not mention.get("id") and message.external_id:
            try:
                story = client.get_story_mention(account, message.external_id)
            except SendError as exc:
                log.info("story of mention %s unavailable: %s", message.external_id, exc.reason)
                story = {}
            if story.get("id"):
                meta = dict(message.meta)
                meta["story_mention"] = {**mention, "id": str(story["id"])}
                message.meta = meta
                db.session.commit()
        text = story_mention_reply(conversation)
        if not text:
            return []
        reply = OutboundReply(text=text, sender_type="system", extra={"story_mention_of": message.id})
        return [FollowUp(reply, idempotency_key=f"story-mention:{message.id}")]

    # --- outbound ---

    def format(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """Text split under 1000 UTF-8 bytes at sentence/word/grapheme boundaries; buttons become text lines and
        quick replies; images, audio and video by URL (other files as links); quick replies on the last text."""
        lines, button_replies = formatting.buttons_as_text_and_replies(reply.buttons)
        text = reply.text.strip()
        links = [m.url for m in reply.media if m.url and formatting.media_attachment(m) is None]
        tail = "\n".join(lines + links)
        if tail:
            text = f"{text}\n\n{tail}" if text else tail
        text_parts = [
            OutboundPart(text=chunk, payload=self._body({"text": chunk}, ctx)) for chunk in formatting.split_text(text)
        ]
        media_parts = []
        for media in reply.media:
            attachment = formatting.media_attachment(media)
            if attachment:
                media_parts.append(OutboundPart(text="", payload=self._body(attachment, ctx), media=[media]))
        quick = formatting.quick_replies(list(reply.quick_replies) + button_replies)
        if quick:
            # A quick-reply bar vanishes when the next message arrives, so it rides on the last message: media go
            # first and the text that offers the choices last.
            if not text_parts:
                text_parts.append(OutboundPart(text="…", payload=self._body({"text": "…"}, ctx)))
            text_parts[-1].payload["message"]["quick_replies"] = quick
            return media_parts + text_parts
        return text_parts + media_parts

    def check_window(self, ctx: SendContext) -> str | None:
        """None while Instagram allows this reply (24 h; 7 days for a person's reply, tagged HUMAN_AGENT); otherwise
        the reason shown to the admin."""
        age = _age(ctx.last_inbound_at)
        if age is None:
            return WINDOW_NEVER_WROTE
        if age <= STANDARD_WINDOW:
            return None
        if ctx.sender_type == "human":
            return None if age <= HUMAN_AGENT_WINDOW else WINDOW_CLOSED_HUMAN
        return WINDOW_CLOSED_AI

    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """POST the payload to /<PAGE_ID>/messages with the linked Page's token; the message id (the echo's mid).

        The recipient and messaging type are set again here (a retry may run after the window moved on). Unlike
        Messenger, no `metadata` string is attached: Instagram's Send API does not document it."""
        body = {key: value for key, value in payload.items() if key not in ("messaging_type", "tag")}
        body["recipient"] = {"id": ctx.recipient_id}
        body.update(self.messaging_fields(ctx))
        text = (body.get("message") or {}).get("text")
        if isinstance(text, str) and formatting.utf8_len(text) > formatting.MAX_TEXT_BYTES:
            # format() never makes one; a payload edited by hand could. Meta would answer (#100) anyway.
            raise PermanentSendError(f"A text of {formatting.utf8_len(text)} bytes is over Instagram's 1000")
        answer = client.send_message(ctx.account, body)
        return answer.get("message_id")

    # "Typing indicators are automatically turned off after 20 seconds, or when the bot sends a message."
    # https://developers.facebook.com/docs/messenger-platform/send-messages/sender-actions
    typing_ends_with_reply = True

    def typing(self, ctx: SendContext, on: bool) -> None:
        """Show or hide the typing indicator in the customer's Instagram thread."""
        client.send_sender_action(ctx.account, ctx.recipient_id, "typing_on" if on else "typing_off")

    def typing_on(self, account: SocialAccount, recipient_id: str) -> None:
        """Show the typing indicator to the customer."""
        client.send_sender_action(account, recipient_id, "typing_on")

    def mark_seen(self, account: SocialAccount, recipient_id: str) -> None:
        """Mark the customer's last message as seen."""
        client.send_sender_action(account, recipient_id, "mark_seen")

    def fetch_profile(self, account: SocialAccount, sender_id: str) -> dict[str, Any] | None:
        """The customer's name, @username and picture from GET /<IGSID>; None if Meta refuses (never fatal)."""
        try:
            data = client.get_profile(account, sender_id)
        except SendError as exc:
            log.info("profile of %s on %s unavailable: %s", sender_id, account.account_id, exc.reason)
            return None
        username = data.get("username")
        return {
            "name": data.get("name") or (f"@{username}" if username else None),
            "username": username,
            "profile_pic": data.get("profile_pic"),
        }


def story_mention_reply(conversation: Conversation) -> str | None:
    """The thank-you for a story mention: the location's own text, the default when it set none, None when it
    turned it off (an empty string)."""
    location = conversation.location
    settings = (location.settings or {}) if location is not None else {}
    if STORY_MENTION_SETTING in settings:
        value = settings.get(STORY_MENTION_SETTING)
        return value.strip() if isinstance(value, str) and value.strip() else None
    return DEFAULT_STORY_MENTION_REPLY


def _only_story_mention(message: UnifiedMessage) -> bool:
    return (
        not (message.content or "").strip()
        and bool(message.media)
        and all(m.type == "story_mention" for m in message.media)
    )
