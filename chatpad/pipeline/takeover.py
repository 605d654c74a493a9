"""Human takeover: a person answers, the AI stays quiet until the conversation is handed back."""

from __future__ import annotations

from datetime import timedelta

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Conversation, Message, User, utcnow
from chatpad.notify import notify_assigned, notify_team
from chatpad.realtime import publish
from chatpad.team import assign_handoff


def _system_note(conversation: Conversation, text: str, meta: dict | None = None) -> Message:
    note = Message(
        conversation_id=conversation.id,
        channel=conversation.channel,
        channel_account_id=conversation.social_account_id,
        direction="outbound",
        sender_type="system",
        content=text,
        status="internal",
        meta=meta or {},
        created_at=utcnow(),
    )
    db.session.add(note)
    return note


def take_over(
    conversation: Conversation,
    *,
    user: User | None = None,
    reason: str,
    topic: str | None = None,
    hours: float | None = None,
    notify: bool = True,
    commit: bool = True,
) -> None:
    """Stop the AI in this conversation. By a person (user): they own it, optionally handing back after `hours`.
    By the AI or the platform (no user): it waits on a human, and the team is told. topic: the handoff topic
    (Agent/Location.handoff_topics) that caused it, kept on the note (meta["handoff_topic"]) and shown in the inbox."""
    from .replies import clear_reply_pending

    conversation.human_takeover = True
    conversation.taken_over_at = utcnow()
    conversation.taken_over_by = user.id if user is not None else None
    conversation.takeover_until = utcnow() + timedelta(hours=hours) if hours else None
    if user is not None:
        conversation.status = "open"
        conversation.assigned_user_id = conversation.assigned_user_id or user.id
        _system_note(conversation, f"{user} took over the conversation.")
        record_audit(
            "conversation.take_over", organization_id=conversation.organization_id, user_id=user.id, target=conversation
        )
    else:
        conversation.status = "waiting"
        about = f" ({topic})" if topic else ""
        _system_note(conversation, f"Handed to a person{about}: {reason}", {"handoff_topic": topic} if topic else None)
        # The location's next member on duty, round robin (chatpad.team); nobody on duty: the team picks it up.
        assignee = assign_handoff(conversation)
        if assignee is not None:
            _system_note(conversation, f"Assigned automatically to {assignee} (on duty at {conversation.location}).")
        if notify:
            name = conversation.contact.display_name if conversation.contact else "A customer"
            if assignee is not None:
                notify_assigned(conversation, assignee, by=None, note=f"{name} is waiting for a person: {reason}")
            notify_team(
                conversation.organization_id,
                kind="handoff",
                title=f"{name} is waiting for a person",
                body=reason + (f" Assigned to {assignee}." if assignee is not None else ""),
                conversation=conversation,
                skip_user_id=assignee.id if assignee is not None else None,
            )
    clear_reply_pending(conversation.id)
    if commit:
        db.session.commit()
        publish(conversation.organization_id, conversation.id, "conversation.updated", {"human_takeover": True})


def hand_back(conversation: Conversation, *, user: User | None = None, commit: bool = True) -> None:
    """Let the AI answer again (by a person, or automatically when takeover_until has passed)."""
    conversation.human_takeover = False
    conversation.taken_over_by = None
    conversation.takeover_until = None
    if conversation.status == "waiting":
        conversation.status = "open"
    who = str(user) if user is not None else "Automatic hand-back"
    _system_note(conversation, f"{who}: the AI answers this conversation again.")
    if user is not None:
        record_audit(
            "conversation.hand_back", organization_id=conversation.organization_id, user_id=user.id, target=conversation
        )
    if commit:
        db.session.commit()
        publish(conversation.organization_id, conversation.id, "conversation.updated", {"human_takeover": False})
