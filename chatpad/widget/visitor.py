"""What a visitor may see: their widget, their conversations and the messages in them, as JSON for the browser.

A visitor's conversations are found by (widget account, visitor id) — the conversation's thread_key — never by
contact: contacts are merged across channels by an email nobody verified, and one visitor must not read another's
chat because they typed the same address.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from chatpad.extensions import db
from chatpad.models import Conversation, Message, Rating, SocialAccount, User, utcnow

# Outbound messages the visitor sees: delivered ones. Pending ones appear when the send job delivers them.
VISIBLE_OUTBOUND = ("sent", "delivered", "read")
HISTORY_LIMIT = 100


def conversations_clause(account: SocialAccount, visitor_id: str):
    return and_(Conversation.social_account_id == account.id, Conversation.thread_key == visitor_id)


def current_conversation(account: SocialAccount, visitor_id: str) -> Conversation | None:
    """The visitor's latest conversation on this widget (resolved or not)."""
    return db.session.scalar(
        select(Conversation)
        .where(conversations_clause(account, visitor_id))
        .order_by(Conversation.last_message_at.desc(), Conversation.created_at.desc())
        .limit(1)
    )


def visitor_channel(account_id: Any, visitor_id: str) -> str:
    """The Redis channel of one visitor: their stream learns here that their first message opened a conversation."""
    return f"chatpad:widget:{account_id}:{visitor_id}"


def visible_clause():
    """The visitor's own messages and the replies delivered to them; never internal notes or system events."""
    return and_(
        Message.deleted_at.is_(None),
        or_(
            and_(Message.direction == "inbound", Message.sender_type == "contact"),
            and_(Message.direction == "outbound", Message.status.in_(VISIBLE_OUTBOUND)),
        ),
    )


def visible_messages(
    account: SocialAccount, visitor_id: str, *, after_id: int | None = None, limit: int = HISTORY_LIMIT
) -> list[Message]:
    """The visitor's messages on this widget, oldest first: the last `limit`, or those after `after_id`."""
    query = (
        select(Message)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(conversations_clause(account, visitor_id), visible_clause())
    )
    if after_id is not None:
        rows = db.session.scalars(query.where(Message.id > after_id).order_by(Message.id).limit(limit)).all()
        return list(rows)
    rows = db.session.scalars(query.order_by(Message.id.desc()).limit(limit)).all()
    return list(reversed(rows))


def new_messages(
    account: SocialAccount, visitor_id: str, after_id: int, since: datetime | None, *, recent_inbound: bool = True
) -> list[Message]:
    """Messages the visitor may not have yet: newer ids than they have, plus replies delivered since the cursor's
    time (a reply stored before the visitor's last message but delivered after it has a smaller id) and, with
    recent_inbound, messages stored since then (a row committed a moment after a higher id was read)."""
    newer = [Message.id > after_id]
    if since is not None:
        newer.append(Message.sent_at >= since)
        if recent_inbound:
            newer.append(Message.created_at >= since)
    rows = db.session.scalars(
        select(Message)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(conversations_clause(account, visitor_id), visible_clause(), or_(*newer))
        .order_by(Message.id)
        .limit(HISTORY_LIMIT)
    ).all()
    return list(rows)


# Commits land a little after the row's timestamps; a cursor looks back this far so none slips through.
CURSOR_SLACK = timedelta(seconds=5)


def make_cursor(messages: list[Message], *, after_id: int = 0, at: datetime | None = None) -> str:
    """An opaque position in the visitor's messages: the highest id seen and the time of the read."""
    top = max([after_id, *(m.id for m in messages)])
    at = at or utcnow()
    return f"{top}.{int(at.timestamp() * 1000)}"


def parse_cursor(value: str | None) -> tuple[int, datetime | None]:
    """(after_id, read_at) from a cursor. A bare id (Last-Event-ID) has no time. Callers look back CURSOR_SLACK
    from read_at for rows committed late."""
    if not value:
        return 0, None
    head, _, tail = str(value).partition(".")
    try:
        after_id = max(0, int(head))
    except ValueError:
        return 0, None
    read_at = None
    if tail:
        try:
            read_at = datetime.fromtimestamp(int(tail) / 1000, UTC)
        except (ValueError, OverflowError, OSError):
            read_at = None
    return after_id, read_at


def _first_name(user: User | None) -> str:
    if user is None or not (user.name or "").strip():
        return "Team member"
    return user.name.strip().split()[0]


def serialize_messages(messages: list[Message], *, assistant_name: str) -> list[dict[str, Any]]:
    """Messages as the widget shows them. Text only: the browser renders every field with textContent."""
    user_ids = {m.user_id for m in messages if m.user_id}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    out = []
    for m in messages:
        meta = m.meta or {}
        if m.direction == "inbound":
            sender, author = "visitor", "You"
        elif m.sender_type == "human":
            sender, author = "human", _first_name(users.get(m.user_id))
        elif m.sender_type == "system":
            sender, author = "system", ""
        else:
            sender, author = "ai", assistant_name
        item: dict[str, Any] = {
            "id": m.id,
            "conversation_id": str(m.conversation_id),
            "from": sender,
            "author": author,
            "text": m.content or "",
            "created_at": m.created_at.isoformat(),
        }
        client_id = meta.get("client_id")
        if client_id:
            item["client_id"] = client_id
        payload = meta.get("payload") if isinstance(meta.get("payload"), dict) else meta
        if payload.get("quick_replies"):
            item["quick_replies"] = [
                {"title": str(q.get("title", ""))[:80]} for q in payload["quick_replies"] if isinstance(q, dict)
            ]
        if payload.get("buttons"):
            item["buttons"] = [b for b in payload["buttons"] if isinstance(b, dict)]
        out.append(item)
    return out


def conversation_state(conversation: Conversation | None) -> dict[str, Any] | None:
    """What the widget's header and footer show: a person has joined (human), the chat waits for one after the AI
    handed it off (waiting), it ended (status resolved), and its rating."""
    if conversation is None:
        return None
    joined = bool(conversation.human_takeover and conversation.taken_over_by)
    agent = _first_name(db.session.get(User, conversation.taken_over_by)) if joined else None
    rating = db.session.scalar(
        select(Rating).where(Rating.conversation_id == conversation.id).order_by(Rating.id.desc()).limit(1)
    )
    return {
        "id": str(conversation.id),
        "status": conversation.status,
        "human": joined,
        "waiting": bool(conversation.human_takeover and not conversation.taken_over_by),
        "agent_name": agent,
        "rating": {"scale": rating.scale, "score": rating.score} if rating else None,
    }
