"""A conversation as the inbox shows it: the thread (messages and internal notes in order), the person's history on
other channels, and what the reply box needs to know about the channel (limits, messaging windows, threading)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from chatpad.extensions import db
from chatpad.models import Conversation, ConversationNote, Message, Scope, User, utcnow

THREAD_LIMIT = 200
# Meta's messaging windows (docs/platform-reference.md B.3): 24 h for any reply, 7 days for a person's reply sent
# with the HUMAN_AGENT tag. https://developers.facebook.com/docs/messenger-platform/policy/policy-overview
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
META_CHANNELS = ("facebook", "instagram")
SAFE_URL_SCHEMES = ("https://", "http://")


@dataclass
class ThreadItem:
    """One line of the thread: a message (customer, AI, person, system) or an internal note."""

    kind: str  # message | note
    id: int
    created_at: datetime
    conversation_id: uuid.UUID
    channel: str
    sender_type: str  # contact | ai | human | system | note
    content: str
    direction: str = "inbound"
    status: str | None = None
    error: str | None = None
    author: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    attachments: list = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    other_conversation: Conversation | None = None  # set when the line belongs to another of the person's threads
    deleted: bool = False
    language: str | None = None  # ISO 639-1, detected when the AI answered (Message.language)

    @property
    def language_name(self) -> str | None:
        """'Spanish' for a message written (or answered) in Spanish."""
        from chatpad.ai.language import language_name

        return language_name(self.language) if self.language else None

    @property
    def handoff_topic(self) -> str | None:
        """The handoff topic that caused a handoff (on its system note and the AI's reply)."""
        topic = self.meta.get("handoff_topic")
        return topic if isinstance(topic, str) and topic else None

    @property
    def sort_key(self):
        return (self.created_at, 0 if self.kind == "message" else 1, self.id)


def safe_media(items: list[dict] | None) -> list[dict[str, Any]]:
    """Media entries with a link the page may render: http(s) only, never javascript: or data: URLs."""
    safe = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        url = item.get("url")
        entry = dict(item)
        entry["url"] = url if isinstance(url, str) and url.lower().startswith(SAFE_URL_SCHEMES) else None
        safe.append(entry)
    return safe


def _message_item(message: Message, authors: dict[int, str], current: Conversation, others: dict) -> ThreadItem:
    return ThreadItem(
        kind="message",
        id=message.id,
        created_at=message.created_at,
        conversation_id=message.conversation_id,
        channel=message.channel,
        sender_type=message.sender_type,
        content="" if message.deleted_at else (message.content or ""),
        direction=message.direction,
        status=message.status,
        error=message.error,
        author=authors.get(message.user_id) if message.user_id else (message.meta or {}).get("sender_name"),
        media=[] if message.deleted_at else safe_media(message.media),
        attachments=[] if message.deleted_at else list(message.attachments),
        meta=dict(message.meta or {}),
        other_conversation=others.get(message.conversation_id) if message.conversation_id != current.id else None,
        deleted=message.deleted_at is not None,
        language=message.language,
    )


def build_thread(
    conversation: Conversation,
    *,
    across_channels: bool = True,
    limit: int = THREAD_LIMIT,
    scope: Scope | None = None,
) -> tuple[list[ThreadItem], bool]:
    """The latest `limit` lines of this conversation, or of every conversation the person has had (on any channel
    and account, within scope: a person limited to locations sees the customer's history at their locations only)
    when across_channels; oldest first. The flag says whether older lines were left out."""
    if across_channels:
        scope = scope or Scope(conversation.organization_id)
        conversations = db.session.scalars(
            select(Conversation)
            .options(joinedload(Conversation.social_account), joinedload(Conversation.location))
            .where(
                Conversation.contact_id == conversation.contact_id,
                Conversation.organization_id == conversation.organization_id,
                scope.where(Conversation),
            )
        ).all()
        if conversation not in conversations:
            conversations = [conversation, *conversations]
    else:
        conversations = [conversation]
    by_id = {c.id: c for c in conversations}
    ids = list(by_id)
    messages = db.session.scalars(
        select(Message)
        .options(selectinload(Message.attachments))
        .where(Message.conversation_id.in_(ids))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit + 1)
    ).all()
    notes = db.session.scalars(
        select(ConversationNote)
        .where(ConversationNote.conversation_id.in_(ids))
        .order_by(ConversationNote.created_at.desc(), ConversationNote.id.desc())
        .limit(limit + 1)
    ).all()
    user_ids = {m.user_id for m in messages if m.user_id} | {n.user_id for n in notes if n.user_id}
    authors = {}
    if user_ids:
        authors = {u.id: (u.name or u.email) for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    items = [_message_item(m, authors, conversation, by_id) for m in messages]
    for note in notes:
        items.append(
            ThreadItem(
                kind="note",
                id=note.id,
                created_at=note.created_at,
                conversation_id=note.conversation_id,
                channel=by_id[note.conversation_id].channel,
                sender_type="note",
                content=note.body,
                author=authors.get(note.user_id, "Someone"),
                other_conversation=by_id[note.conversation_id] if note.conversation_id != conversation.id else None,
            )
        )
    items.sort(key=lambda i: i.sort_key)
    truncated = len(items) > limit
    return items[-limit:], truncated


@dataclass
class ReplyGuide:
    """What the reply box tells a person before they send."""

    can_send: bool
    limit: int | None = None
    limit_unit: str = "characters"
    level: str = "info"  # info | warning | danger: how the window note is shown
    notes: list[str] = field(default_factory=list)
    window_closes_at: datetime | None = None
    segments: bool = False  # SMS: the counter shows the segments the text costs (GSM-7 / UCS-2)


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(1, int(delta.total_seconds() // 60))} min"
    if hours < 48:
        return f"{int(hours)} h"
    return f"{int(hours // 24)} days"


def meta_window_notes(conversation: Conversation, now: datetime | None = None) -> ReplyGuide:
    """Messenger's and Instagram's rules for this conversation right now, explained for the person about to reply."""
    now = now or utcnow()
    name = "Messenger" if conversation.channel == "facebook" else "Instagram"
    last = conversation.last_inbound_at
    if last is None:
        return ReplyGuide(
            can_send=False,
            level="danger",
            notes=[f"The customer has not written yet: {name} only lets a business answer someone who wrote first."],
        )
    since = now - last
    if since < STANDARD_WINDOW:
        closes = last + STANDARD_WINDOW
        return ReplyGuide(
            can_send=True,
            level="info",
            window_closes_at=closes,
            notes=[
                f"{name}'s 24-hour window is open for {_ago(closes - now)} more (it restarts whenever the customer "
                "writes). Within it, the AI and people may both reply.",
                "After 24 hours only a person can answer, for up to 7 days after the customer's last message "
                "(sent with Meta's HUMAN_AGENT tag).",
            ],
        )
    if since < HUMAN_AGENT_WINDOW:
        closes = last + HUMAN_AGENT_WINDOW
        return ReplyGuide(
            can_send=True,
            level="warning",
            window_closes_at=closes,
            notes=[
                f"The customer last wrote {_ago(since)} ago, so {name}'s 24-hour window is closed. Your reply goes out "
                f"with Meta's HUMAN_AGENT tag, allowed for {_ago(closes - now)} more.",
                "Meta's rules for that tag: written by a person (no automated text), about the customer's request, "
                "no promotions. The AI cannot reply now.",
            ],
        )
    return ReplyGuide(
        can_send=False,
        level="danger",
        notes=[
            f"The customer last wrote {_ago(since)} ago: more than 7 days, so {name} will not deliver a reply. "
            "It can be sent once the customer writes again."
        ],
    )


def reply_guide(conversation: Conversation, *, window_reason: str | None = None, adapter=None) -> ReplyGuide:
    """Limits and rules of the conversation's channel for a person's reply. window_reason is the adapter's own
    check_window() answer, when the channel has one; it wins over the explanation when they disagree."""
    if conversation.channel in META_CHANNELS:
        guide = meta_window_notes(conversation)
    elif conversation.channel == "email":
        subject = conversation.subject or "(no subject)"
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        guide = ReplyGuide(
            can_send=True,
            notes=[
                f'Sent as an email reply "{subject}" from the inbox the customer wrote to, threaded under their '
                "message (In-Reply-To and References), with the location's signature."
            ],
        )
    elif conversation.channel == "sms":
        account = conversation.social_account
        number = f" from {account.account_name} ({account.account_id})" if account is not None else ""
        guide = ReplyGuide(
            can_send=True,
            segments=True,
            notes=[
                f"Sent as a text message{number}. Carriers bill per segment: 160 characters (153 each when split), "
                "or 70 (67) as soon as one character is outside GSM-7, such as an emoji. Over 1,600 characters goes "
                "out as several texts; choices are sent as numbered lines the customer answers with the number."
            ],
        )
    elif conversation.channel == "widget":
        guide = ReplyGuide(
            can_send=True,
            notes=["Shown in the visitor's chat window at once if it is open, otherwise when they come back."],
        )
    else:
        guide = ReplyGuide(can_send=True)
    if adapter is not None:
        guide.limit = getattr(adapter, "max_text", None)
        guide.limit_unit = getattr(adapter, "max_text_unit", "characters")
    else:
        guide.can_send = False
        guide.level = "warning"
        guide.notes = [
            f"Replies on {conversation.channel} are not available on this server yet; answer from the platform itself."
        ]
    if window_reason:
        guide.can_send = False
        guide.level = "danger"
        guide.notes.insert(0, window_reason)
    return guide
