"""Email threading: which conversation an inbound mail belongs to (docs/channels/email.md, "Threading").

Rules, in order; the first that finds a conversation on the same inbox wins:
1. Message-ID references: In-Reply-To, then References from newest to oldest, matched against the Message-IDs of
   every message stored for this inbox (what customers sent and what we sent).
2. Our token: every Message-ID we send embeds the conversation (chatpad.<token>.<random>@domain). A token found in
   In-Reply-To or References (even when the ids around it are mangled) names the conversation.
3. Subject and participants: a mail that looks like a reply ("Re:"-style subject or unknown references) from the
   same sender, whose normalised subject equals a conversation's, within MAIL_THREAD_WINDOW_DAYS of its last message.
   This keeps Outlook replies whose In-Reply-To points at an id Exchange rewrote; a "Re:" from another sender, or a
   reply to a newsletter we never stored, finds nothing and starts a new conversation.
Otherwise: a new conversation, its thread_key the root Message-ID.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatpad.messages import InboundEvent
    from chatpad.models import Contact, Conversation, SocialAccount

# Reply and forward prefixes in the languages our customers' clients use: Re, Fwd/Fw, AW/WG (de), SV/VS (nordic),
# Antw (nl), RV/RE (es), TR (fr), Odp/PD (pl), Ref, Réf, 回复/转发 (zh), 답장 (ko). Counters like "Re[2]:" too.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw|antwort|rv|tr|odp|pd|ref|réf|enc|res|回复|回覆|答复|转发|答覆|답장|전달)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*|\[(?:external|extern|ext|spam|suspected spam|caution)\]\s*)",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|antw|antwort|rv|res|odp|回复|回覆|答复|답장)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]", re.IGNORECASE
)
_TOKEN_RE = re.compile(r"chatpad\.([a-z2-7]{26})\.[0-9a-z]+@", re.IGNORECASE)


def normalize_subject(subject: str | None) -> str:
    """The subject without Re:/Fwd:/AW:/[EXTERNAL] prefixes, whitespace collapsed, case-folded."""
    text = (subject or "").strip()
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return re.sub(r"\s+", " ", text).strip().casefold()


def looks_like_reply(subject: str | None) -> bool:
    return bool(_REPLY_PREFIX.match(subject or ""))


def reply_subject(subject: str | None) -> str:
    """The subject of our answer: one "Re: " in front, never stacked ("RE: AW: x" becomes "Re: x")."""
    text = (subject or "").strip()
    while True:
        stripped = re.sub(_REPLY_PREFIX.pattern + r"\s*", "", text, count=1, flags=re.IGNORECASE)
        if stripped == text:
            break
        text = stripped
    return f"Re: {text}" if text else "Re: your message"


def conversation_token(conversation_id: uuid.UUID) -> str:
    return base64.b32encode(conversation_id.bytes).decode().rstrip("=").lower()


def make_message_id(conversation_id: uuid.UUID, domain: str) -> str:
    """A Message-ID of ours (without brackets) carrying the conversation token: rule 2 of the threading rules."""
    return f"chatpad.{conversation_token(conversation_id)}.{secrets.token_hex(8)}@{domain}"


def token_conversation_id(*values: str) -> uuid.UUID | None:
    """The conversation named by a token in our Message-ID format, searched in raw header text."""
    for value in values:
        for match in _TOKEN_RE.finditer(value or ""):
            raw = match.group(1).upper() + "======"
            try:
                return uuid.UUID(bytes=base64.b32decode(raw))
            except (ValueError, TypeError):
                continue
    return None


def reply_references(parent_message_id: str, parent_references: list[str], parent_in_reply_to: list[str]) -> list[str]:
    """References for a reply (RFC 5322 §3.6.4): the parent's References (or its single In-Reply-To) plus its id.

    Long chains keep the first id (the thread root) and the newest ones, as mail clients do."""
    chain = list(parent_references) or list(parent_in_reply_to[:1])
    chain = [mid for mid in chain if mid != parent_message_id] + [parent_message_id]
    if len(chain) > 20:
        chain = chain[:1] + chain[-19:]
    return chain


def thread_root(message_id: str, references: list[str], in_reply_to: list[str]) -> str:
    """The root Message-ID of the thread a mail belongs to: the conversation's thread_key."""
    if references:
        return references[0]
    if in_reply_to:
        return in_reply_to[0]
    return message_id


def resolve_conversation(account: SocialAccount, contact: Contact, event: InboundEvent) -> Conversation | None:
    """Apply the threading rules with database lookups; None starts a new conversation."""
    from flask import current_app
    from sqlalchemy import select

    from chatpad.extensions import db
    from chatpad.models import Conversation, Message

    info: dict[str, Any] = event.data.get("email") or {}
    in_reply_to: list[str] = info.get("in_reply_to") or []
    references: list[str] = info.get("references") or []

    # Rule 1: ids we know, newest first.
    candidates = in_reply_to + list(reversed(references))
    candidates = [mid for mid in dict.fromkeys(candidates) if mid and mid != info.get("message_id")]
    if candidates:
        rows = db.session.execute(
            select(Message.external_id, Message.conversation_id).where(
                Message.channel_account_id == account.id, Message.external_id.in_(candidates)
            )
        ).all()
        by_id = {external_id: conversation_id for external_id, conversation_id in rows}
        for mid in candidates:
            if mid in by_id:
                conversation = db.session.get(Conversation, by_id[mid])
                if conversation is not None:
                    return conversation

    # Rule 2: our token, wherever it survived.
    token_id = info.get("token_conversation_id")
    if token_id:
        conversation = db.session.get(Conversation, uuid.UUID(str(token_id)))
        if conversation is not None and conversation.social_account_id == account.id:
            return conversation

    # Rule 3: same sender, same normalised subject, recent, and the mail looks like a reply.
    subject = info.get("subject") or ""
    if not (looks_like_reply(subject) or candidates):
        return None
    normalized = normalize_subject(subject)
    if not normalized:
        return None
    window = timedelta(days=float(current_app.config.get("MAIL_THREAD_WINDOW_DAYS", 30)))
    when: datetime = event.timestamp
    recent = db.session.scalars(
        select(Conversation)
        .where(
            Conversation.social_account_id == account.id,
            Conversation.contact_id == contact.id,
            Conversation.last_message_at >= when - window,
        )
        .order_by(Conversation.last_message_at.desc())
        .limit(50)
    ).all()
    for conversation in recent:
        if normalize_subject(conversation.subject) == normalized:
            return conversation
    return None
