"""Reply jobs: the AI's answer (ai queue) and sending (outbound queue)."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from flask import current_app
from rq import get_current_job
from rq.timeouts import BaseTimeoutException
from sqlalchemy.orm import joinedload

from chatpad.channels import get_channel
from chatpad.extensions import db
from chatpad.messages import OutboundReply
from chatpad.models import Conversation, SocialAccount
from chatpad.pipeline.replies import (
    already_answered,
    clear_reply_pending,
    first_tap,
    latest_inbound,
    queue_reply,
    reply_key,
    send_context,
    still_answering,
)
from chatpad.pipeline.replies import send_messages as send_pending
from chatpad.pipeline.takeover import take_over
from chatpad.realtime import publish
from jobs import app_context

log = logging.getLogger("chatpad.jobs.replies")

# What the AI job reads besides the conversation (the AI's settings and context, the send), in the same round trip.
CONTEXT_LOADS = [
    joinedload(Conversation.organization),
    joinedload(Conversation.agent),
    joinedload(Conversation.contact),
    joinedload(Conversation.location),
    joinedload(Conversation.social_account).joinedload(SocialAccount.agent),
]

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
        conversation = db.session.get(Conversation, uuid.UUID(str(conversation_id)), options=CONTEXT_LOADS)
        if conversation is None or conversation.human_takeover or conversation.social_account is None:
            return "skipped: taken over or gone"
        # A customer's message, or else a first tap from a link or an ad (greeted before they type anything).
        answering = latest_inbound(conversation) or first_tap(conversation)
        if answering is None:
            return "skipped: nothing to answer"
        key = reply_key(conversation, answering)
        if already_answered(key):
            return "skipped: already answered"

        adapter = get_channel(conversation.channel)
        ctx = send_context(conversation, "ai", answering)
        typing_on = _typing_on(adapter, ctx, conversation)
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

            _settle(typing_on)  # the indicator must not arrive after the answer (and may take a while: first)
            # Also reads human_takeover and the account's sending columns afresh, and whether another run answered.
            if not still_answering(conversation, answering, key):
                return "dropped: the customer wrote again (the newer reply answers everything), answered, or deleted"
            if conversation.human_takeover:
                return "dropped: a person took over meanwhile"
            if reply.handoff:
                take_over(
                    conversation,
                    reason=reply.extra.get("handoff_reason") or "The AI asked for a person.",
                    topic=reply.extra.get("handoff_topic"),
                )
            ctx.account_fresh = True  # read just now by still_answering: the send need not read it again
            queue_reply(conversation, reply, idempotency_key=key, context=ctx, send_now=True, key_checked=True)
            answered = True
            return "answered"
        finally:
            _settle(typing_on)
            # Where the platform hides the indicator itself when the reply arrives, turning it off is a wasted call.
            publish(conversation.organization_id, conversation.id, "typing", {"started": False})
            if not (answered and adapter.typing_ends_with_reply):
                _platform_typing(adapter, ctx, False)


# typing_on goes to the platform beside the model's call rather than before it: it is cosmetic, and under a burst its
# round trip delayed every model call behind it. A small pool per process (made again after a fork: the threads of a
# parent's pool do not exist in its child).
_typing_pool: tuple[int, ThreadPoolExecutor] | None = None
_typing_pool_lock = threading.Lock()
TYPING_THREADS = 16


def _typing_on(adapter, ctx, conversation) -> Future:
    """Show the typing indicator: in the inbox now, to the customer from a pool thread. Settle it before replying."""
    global _typing_pool
    publish(conversation.organization_id, conversation.id, "typing", {"started": True})
    app = current_app._get_current_object()

    def show() -> None:
        with app.app_context():
            _platform_typing(adapter, ctx, True)

    with _typing_pool_lock:
        if _typing_pool is None or _typing_pool[0] != os.getpid():
            _typing_pool = (os.getpid(), ThreadPoolExecutor(TYPING_THREADS, thread_name_prefix="chatpad-typing"))
        return _typing_pool[1].submit(show)


def _settle(typing_on: Future) -> None:
    """Wait for typing_on to have gone out, so it cannot arrive after what is sent next. Its connect and read
    timeouts bound the call itself; if the pool was so backed up that it has not even started by then, it is dropped."""
    try:
        typing_on.result(timeout=2 * float(current_app.config["PLATFORM_HTTP_TIMEOUT"]) + 1)
    except BaseTimeoutException:
        raise  # the job's own timeout
    except Exception:  # a typing indicator is cosmetic
        typing_on.cancel()
        log.debug("typing indicator did not settle", exc_info=True)


def _platform_typing(adapter, ctx, on: bool) -> None:
    try:
        adapter.typing(ctx, on)
    except Exception:  # a typing indicator is cosmetic
        log.debug("typing indicator failed", exc_info=True)


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Send queued outbound messages, in order, from their conversation's account (chatpad.pipeline.replies)."""

    with app_context(expire_on_commit=False):
        return send_pending(message_ids)
