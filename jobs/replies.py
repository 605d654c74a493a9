"""Reply jobs: the AI's answer (ai queue) and sending (outbound queue)."""

from __future__ import annotations

import logging
import uuid

from rq import get_current_job

from chatpad.channels import OutboundReply, get_channel
from chatpad.extensions import db
from chatpad.models import Conversation
from chatpad.pipeline.replies import (
    already_answered,
    clear_reply_pending,
    latest_inbound,
    queue_reply,
    reply_key,
    send_context,
)
from chatpad.pipeline.replies import send_messages as send_pending
from chatpad.pipeline.takeover import take_over
from chatpad.realtime import publish
from jobs import app_context

log = logging.getLogger("chatpad.jobs.replies")

HANDOFF_TEXT = "Thanks for your message! A member of our team will get back to you shortly."


def generate_reply(conversation_id: str) -> str:
    """Answer the customer's latest message(s) with the AI, unless a person has taken over.

    Reads every message of a burst (the debounce in schedule_ai_reply lets them gather). If the customer writes again
    while the AI is thinking, this answer is dropped and the newer job answers everything. The reply is keyed by the
    message it answers, so a retried job never answers twice. When the AI fails for good, a person is asked to step in.
    The reply is sent from here, one send at a time per process (chatpad.pipeline.replies); its retries, if the platform
    fails, go to the outbound queue.
    """
    # Imported here so outbound workers, which only send, never load the AI stack.
    from chatpad.ai import AIError, compose_reply

    with app_context(expire_on_commit=False):
        clear_reply_pending(conversation_id)
        # Job arguments are strings; the Uuid column needs a UUID on SQLite (PostgreSQL's driver accepts either).
        conversation = db.session.get(Conversation, uuid.UUID(str(conversation_id)))
        if conversation is None or conversation.human_takeover or conversation.social_account is None:
            return "skipped: taken over or gone"
        answering = latest_inbound(conversation)
        if answering is None:
            return "skipped: nothing to answer"
        key = reply_key(conversation, answering)
        if already_answered(key):
            return "skipped: already answered"

        adapter = get_channel(conversation.channel)
        ctx = send_context(conversation, "ai", answering)
        _typing(adapter, ctx, conversation, True)
        answered = False
        try:
            try:
                reply = compose_reply(conversation)
            except AIError as exc:
                job = get_current_job()
                # Retrying cannot fix a permanent error (bad key, unknown model): hand off now instead of in minutes.
                if job is not None and job.retries_left and not exc.permanent:
                    raise
                log.error("AI failed for conversation %s, handing off: %s", conversation_id, exc)
                reason = f"The AI failed: {exc}"
                reply = OutboundReply(text=HANDOFF_TEXT, handoff=True, extra={"handoff_reason": reason})

            db.session.refresh(conversation)
            newest = latest_inbound(conversation)
            if newest is not None and newest.id != answering.id:
                return "dropped: the customer wrote again; the newer reply answers everything"
            if conversation.human_takeover:
                return "dropped: a person took over meanwhile"
            if reply.handoff:
                take_over(conversation, reason=reply.extra.get("handoff_reason") or "The AI asked for a person.")
            queue_reply(conversation, reply, idempotency_key=key, context=ctx, send_now=True)
            answered = True
            return "answered"
        finally:
            # Where the platform hides the indicator itself when the reply arrives, turning it off is a wasted call.
            _typing(adapter, ctx, conversation, False, platform=not (answered and adapter.typing_ends_with_reply))


def _typing(adapter, ctx, conversation, on: bool, *, platform: bool = True) -> None:
    """The typing indicator: in the inbox (live event) and, unless platform is False, to the customer."""
    publish(conversation.organization_id, conversation.id, "typing", {"started": on})
    if not platform:
        return
    try:
        adapter.typing(ctx, on)
    except Exception:  # a typing indicator is cosmetic
        log.debug("typing indicator failed", exc_info=True)


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Send queued outbound messages, in order, from their conversation's account (chatpad.pipeline.replies)."""

    with app_context(expire_on_commit=False):
        return send_pending(message_ids)
