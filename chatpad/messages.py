"""The message shapes every layer shares: the seed's UnifiedMessage, the events adapters parse, the replies they
format. A shared leaf: it imports nothing of the project, so models, the AI, channels and pipeline all may use it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Direction = Literal["inbound", "outbound"]

# What an adapter's parse() can report. "message" is a customer's message; "echo" a message the account itself sent
# (from our app or the platform's own inbox); the rest change messages already stored.
EVENT_KINDS = (
    "message",  # a customer wrote (text, media, quick-reply tap, postback, story mention/reply…)
    "echo",  # the account sent something (ours, or a person in the platform's own inbox)
    "delivery",  # outbound delivered up to watermark / for mids
    "status",  # the platform's state of one outbound message (SMS, WhatsApp): sent, delivered, read, failed + reason
    "read",  # the customer read up to watermark / a mid
    "reaction",  # a reaction added to or removed from a message
    "edit",  # the customer edited a message
    "delete",  # the customer unsent a message
    "referral",  # the customer arrived from an ad, a link, a shortlink (no text)
    "template_status",  # WhatsApp reviewed a message template (approved, rejected, paused…): account_id is the WABA
    "unsupported",  # a known envelope with a payload we do not handle: logged and acknowledged
)


@dataclass
class MessageMedia:
    """One attachment of a message: a link for Meta media (never downloaded), a stored file for email."""

    type: str  # image, video, audio, file, sticker, story_mention, story, share, ig_reel, ig_post, fallback…
    url: str | None = None
    name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MessageMetadata:
    """The seed's metadata block, plus channel extras (quick_reply, postback, reply_to, story, edits…)."""

    external_id: str | None = None  # the platform's message id (Meta mid, email Message-ID)
    thread_id: str | None = None  # the email thread, the Meta conversation (PSID/IGSID)
    sender_id: str | None = None  # the platform user id of the sender
    sender_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnifiedMessage:
    """The seed's UnifiedMessage: the one message shape every channel produces and consumes.

    channel_account_id is the platform's id of the account (Page id, Instagram id, inbox address, widget key);
    routing maps it to the social_accounts row. id and conversation_id are set once the message is stored.
    """

    channel: str
    channel_account_id: str
    direction: Direction
    content: str
    created_at: datetime
    media: list[MessageMedia] = field(default_factory=list)
    metadata: MessageMetadata = field(default_factory=MessageMetadata)
    id: str | None = None
    conversation_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data

    @classmethod
    def from_model(cls, message) -> UnifiedMessage:
        """A stored chatpad.models.Message as a UnifiedMessage."""
        meta = dict(message.meta or {})
        account = message.conversation.social_account if message.conversation else None
        return cls(
            id=str(message.id),
            conversation_id=str(message.conversation_id),
            channel=message.channel,
            channel_account_id=account.account_id if account else "",
            direction=message.direction,
            content=message.content or "",
            created_at=message.created_at,
            media=[MessageMedia(**m) for m in (message.media or [])],
            metadata=MessageMetadata(
                external_id=message.external_id,
                thread_id=meta.pop("thread_id", None),
                sender_id=meta.pop("sender_id", None),
                sender_name=meta.pop("sender_name", None),
                extra=meta,
            ),
        )


@dataclass
class InboundEvent:
    """One thing a platform told us, parsed by an adapter with no I/O."""

    kind: str  # one of EVENT_KINDS
    channel: str
    account_id: str  # the platform account the event belongs to (Page id, IG id, inbox address, widget key)
    sender_id: str | None  # the customer's platform id (PSID, IGSID, email address, visitor id)
    timestamp: datetime
    message: UnifiedMessage | None = None  # for message and echo
    target_external_id: str | None = None  # the mid a reaction/edit/delete/read refers to
    watermark: datetime | None = None  # delivery/read: everything before this time
    data: dict[str, Any] = field(default_factory=dict)  # kind-specific: emoji, new text, referral ref, mids
    standby: bool = False  # delivered on the standby channel: another app owns the thread


@dataclass
class QuickReply:
    title: str
    payload: str


@dataclass
class Button:
    type: Literal["postback", "web_url", "phone_number"]
    title: str
    payload: str | None = None  # postback payload, URL or phone number


@dataclass
class OutboundReply:
    """What the AI or a person wants to say, before a channel shapes it to its limits."""

    text: str
    sender_type: Literal["ai", "human", "system"] = "ai"
    quick_replies: list[QuickReply] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    media: list[MessageMedia] = field(default_factory=list)
    handoff: bool = False  # the AI asks for a person: the conversation goes to takeover
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FollowUp:
    """A reply a channel asks for after a customer's message is stored (Instagram's story-mention thank-you): the
    pipeline decides whether it goes out (not during a takeover) and queues it under its idempotency key."""

    reply: OutboundReply
    idempotency_key: str
    # Sent even while a person has taken the conversation over: an answer carriers require (SMS HELP).
    during_takeover: bool = False


@dataclass
class OutboundPart:
    """One platform message a reply becomes: what the inbox shows (text, media) and what the client sends (payload).

    A long reply may become several parts; each is stored as its own outbound message with its own delivery state.
    """

    text: str
    payload: dict[str, Any]
    media: list[MessageMedia] = field(default_factory=list)
