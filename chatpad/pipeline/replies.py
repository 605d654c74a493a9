"""Replies: asking the AI (debounced), queueing outbound messages, and sending them exactly once where possible.

Exactly once, as far as a platform without idempotency keys allows: every outbound message is claimed
(pending → sending) with a conditional UPDATE before the platform call, so two workers never send the same row; a
worker killed between the platform's answer and our commit leaves the row in "sending", which the sweeper returns to
"pending" after a grace period — the only case that can send twice, at most once per kill: a process holds one claim
at a time (SENDING, whatever the worker class and whichever job sends).

Who sends: the AI job sends its own reply at once (queue_reply(send_now=True)), with the context it already holds,
instead of handing it to an outbound job (one RQ job and its reloads less per reply); everything else — a person's
reply from the inbox, retries with backoff, the sweeper's re-queues — goes through the outbound queue.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time

from flask import current_app
from rq.timeouts import BaseTimeoutException
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from chatpad.channels import SendContext, get_channel
from chatpad.channels.errors import (
    AuthExpiredError,
    PermanentSendError,
    RecipientOptedOutError,
    SendError,
    TransientSendError,
    WindowClosedError,
)
from chatpad.extensions import db
from chatpad.messages import OutboundReply
from chatpad.models import (
    ContactIdentity,
    Conversation,
    Message,
    SocialAccount,
    User,
    latest_customer_message,
    utcnow,
)
from chatpad.notify import account_needs_reauth
from chatpad.pipeline.preview import message_preview
from chatpad.queue import enqueue, enqueue_after, get_redis, job_id
from chatpad.realtime import publish

log = logging.getLogger("chatpad.pipeline")

MAX_SEND_ATTEMPTS = 8

# One send in flight per process, from claim to commit: a worker killed mid-send leaves at most one message whose fate
# is unknown, also when several threads send (the AI worker's jobs, a threaded worker on the outbound queue).
SENDING = threading.Lock()
# How long the AI job waits for that lock before it hands its reply to the outbound queue instead: under a burst the
# outbound workers share the sending, and no reply waits on dozens of others in one process.
SEND_HERE_LOCK_WAIT = 1.0


def send_backoff() -> list[float]:
    """Waits between send attempts (config SEND_BACKOFF_SECONDS), with jitter added by the caller; a platform's
    Retry-After wins when longer."""
    return [float(x) for x in str(current_app.config.get("SEND_BACKOFF_SECONDS") or "2").split(",") if x.strip()]


class ReplyRefusedError(Exception):
    """A reply that cannot be sent now (the channel's messaging window); the reason is for the person who wrote it."""


# --- asking the AI -----------------------------------------------------------------------------------------------


def _pending_key(conversation_id) -> str:
    return f"chatpad:reply-pending:{conversation_id}"


def schedule_ai_reply(conversation_id) -> bool:
    """Ask the AI to answer the conversation. Debounced: messages arriving while a reply is pending are read by that
    reply (one answer to a burst). Returns False when a reply was already pending."""
    delay = float(current_app.config.get("REPLY_DEBOUNCE_SECONDS", 0) or 0)
    redis = get_redis()
    reply_job = job_id("reply", conversation_id, f"{utcnow().timestamp():.6f}")
    # Pending until the job starts (it deletes the key first). The value names the job, so the sweeper can tell a
    # lost job from a queued one; the TTL only guards against a lost job.
    if not redis.set(_pending_key(conversation_id), reply_job, nx=True, ex=int(delay) + 300):
        return False
    func = "jobs.replies.generate_reply"
    try:
        if delay > 0:
            enqueue_after("ai", delay, func, str(conversation_id), job_id=reply_job, retry=_ai_retry())
        else:
            enqueue("ai", func, str(conversation_id), job_id=reply_job, retry=_ai_retry())
    except Exception:
        redis.delete(_pending_key(conversation_id))
        raise
    return True


def _ai_retry():
    from rq import Retry

    return Retry(max=3, interval=[5, 20, 60])


def clear_reply_pending(conversation_id) -> None:
    get_redis().delete(_pending_key(conversation_id))


def reply_pending_job(conversation_id) -> str | None:
    """The id of the reply job a conversation is waiting for, or None."""
    value = get_redis().get(_pending_key(conversation_id))
    return value.decode() if value else None


# What decides whether an account can send; read afresh before a send that was prepared a while ago.
_SENDING_COLUMNS = ("is_active", "status", "access_token")


def _latest_inbound(conversation: Conversation, what):
    """SELECT what of the customer's latest message that a reply would answer (not deleted, not a system note)."""
    return latest_customer_message(conversation.id, what)


def latest_inbound(conversation: Conversation) -> Message | None:
    """The customer's latest message that a reply would answer (not deleted, not a system note)."""
    return db.session.scalar(_latest_inbound(conversation, Message))


def first_tap(conversation: Conversation) -> Message | None:
    """A customer who arrived from an m.me/ig.me link or an ad and has not written yet (the "first tap"): the
    referral note the AI greets, when nothing was said in the conversation yet. None otherwise."""
    said = exists().where(
        Message.conversation_id == conversation.id,
        Message.direction == "outbound",
        Message.sender_type.in_(("ai", "human")),
    )
    return db.session.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == "inbound",
            Message.sender_type == "system",
            Message.deleted_at.is_(None),
            ~said,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )


def still_answering(conversation: Conversation, answering: Message, key: str) -> bool:
    """After the model, in one statement: is `answering` still the customer's latest message, not yet answered under
    `key` (by another run of the job), and are the conversation and its account still there? Reads afresh, into the
    loaded objects, what may have changed while the model thought: the conversation's human_takeover (a person may
    have taken over) and the account's sending columns (_SENDING_COLUMNS: it may have been disconnected or
    reconnected). The send that follows, with this job's context, does not read them again."""
    newest = _latest_inbound(conversation, Message.id).scalar_subquery()
    answered = exists().where(Message.idempotency_key == f"{key}:0")
    row = db.session.execute(
        select(
            Conversation.human_takeover,
            newest,
            answered,
            *(getattr(SocialAccount, c) for c in _SENDING_COLUMNS),
        )
        .outerjoin(SocialAccount, SocialAccount.id == Conversation.social_account_id)
        .where(Conversation.id == conversation.id)
    ).one_or_none()
    if row is None:  # deleted while the model thought
        return False
    human_takeover, newest_id, already, *sending = row
    if sending[0] is None:  # the account was deleted: there is nothing to send from (a disconnected one is kept)
        return False
    set_committed_value(conversation, "human_takeover", human_takeover)
    _set_sending_columns(conversation.social_account, sending)
    return not already and (newest_id is None or newest_id == answering.id)


def reply_key(conversation: Conversation, message: Message) -> str:
    """The idempotency key of the AI's answer to one customer message: one answer, however often the job runs."""
    return f"ai:{conversation.id}:{message.id}"


def already_answered(key: str) -> bool:
    """Has a reply been queued under this idempotency key? (Its first part always exists: an index lookup.)"""
    return db.session.scalar(select(Message.id).where(Message.idempotency_key == f"{key}:0")) is not None


def queued_under(key: str) -> list[Message]:
    """The messages queued under an idempotency key, in order: parts key:0 … key:n-1, found through the unique index
    (a LIKE 'key:%' cannot use it and read the whole messages table once per reply)."""
    first = db.session.scalar(select(Message).where(Message.idempotency_key == f"{key}:0"))
    if first is None:
        return []
    count = int((first.meta or {}).get("of") or 1)
    if count == 1:
        return [first]
    keys = [f"{key}:{i}" for i in range(count)]
    return list(db.session.scalars(select(Message).where(Message.idempotency_key.in_(keys)).order_by(Message.id)))


# --- queueing outbound messages -----------------------------------------------------------------------------------


def send_context(conversation: Conversation, sender_type: str, reply_to: Message | None = None) -> SendContext:
    """What the channel needs to answer this conversation: the account, the customer's id on it, the window."""
    account = conversation.social_account
    identity = db.session.execute(
        select(ContactIdentity.external_id, ContactIdentity.opted_out_at, ContactIdentity.opt_out_reason)
        .where(
            ContactIdentity.contact_id == conversation.contact_id,
            ContactIdentity.social_account_id == conversation.social_account_id,
        )
        .limit(1)
    ).first()
    recipient, opted_out_at, opt_out_reason = identity if identity is not None else (None, None, None)
    return SendContext(
        account=account,
        conversation=conversation,
        recipient_id=recipient or conversation.thread_key or "",
        sender_type=sender_type,
        last_inbound_at=conversation.last_inbound_at,
        reply_to=reply_to,
        recipient_opted_out=(opt_out_reason or "The customer opted out of messages from this account.")
        if opted_out_at
        else None,
    )


def queue_reply(
    conversation: Conversation,
    reply: OutboundReply,
    *,
    user: User | None = None,
    idempotency_key: str | None = None,
    context: SendContext | None = None,
    send_now: bool = False,
    key_checked: bool = False,
) -> list[Message]:
    """Shape a reply for the conversation's channel, store it as pending outbound messages and queue the send.

    The one way anything says something to a customer. An AI reply outside the channel's window is stored as
    skipped with the reason; a person's is refused with ReplyRefusedError (the inbox shows the reason). With an
    idempotency key, a second call for the same key returns the messages of the first. A caller that already holds
    the current send context (the AI job, which just checked that nothing newer arrived) passes it as context.
    With send_now, the messages are sent from this process before it returns (send_here), else by an outbound job.
    A caller that has just seen the key unused (the AI job's still_answering, a moment before) passes key_checked
    and saves the lookup: the unique index still turns a concurrent duplicate into the first's messages.
    Commits.
    """
    if conversation.social_account is None:
        raise ReplyRefusedError("This conversation's account was removed; the reply cannot be sent.")
    if idempotency_key and not key_checked:
        existing = queued_under(idempotency_key)
        if existing:
            return existing
    adapter = get_channel(conversation.channel)
    if context is not None and context.sender_type == reply.sender_type:
        ctx = context
    else:
        ctx = send_context(conversation, reply.sender_type, latest_inbound(conversation))
    if reply.sender_type == "human" and reply.extra.get("template"):
        # An approved message template (WhatsApp): the one thing the channel delivers outside its window.
        ctx = dataclasses.replace(ctx, extra={**ctx.extra, "template": True})
    reason = adapter.check_window(ctx)
    if reason and reply.sender_type == "human":
        raise ReplyRefusedError(reason)
    now = utcnow()
    if reason:
        parts_meta = [(reply.text, {}, [])]
        status, error = "skipped", reason
    else:
        try:
            parts = adapter.prepare(reply, ctx)
        except PermanentSendError as exc:
            # It can never be sent as it is: stored failed with the reason (the inbox shows it), never retried.
            parts_meta = [(reply.text, {}, list(reply.media))]
            status, error = "failed", exc.reason
        else:
            parts_meta = [(p.text, p.payload, p.media) for p in parts]
            status, error = "pending", None
    rows = []
    for index, (text, payload, media) in enumerate(parts_meta):
        rows.append(
            Message(
                conversation_id=conversation.id,
                channel=conversation.channel,
                channel_account_id=conversation.social_account_id,
                direction="outbound",
                sender_type=reply.sender_type,
                content=text,
                media=[m if isinstance(m, dict) else m.__dict__ for m in media],
                meta={"payload": payload, "part": index, "of": len(parts_meta)}
                | ({"handoff": True} if reply.handoff else {})
                | ({"handoff_topic": reply.extra["handoff_topic"]} if reply.extra.get("handoff_topic") else {}),
                language=reply.extra.get("language") if reply.sender_type == "ai" else None,
                status=status,
                error=error,
                idempotency_key=f"{idempotency_key}:{index}" if idempotency_key else None,
                user_id=user.id if user is not None else None,
                created_at=now,
            )
        )
    db.session.add_all(rows)
    conversation.last_message_at = now
    if not conversation.last_message_preview:  # the list shows what the customer last asked, not our reply
        conversation.last_message_preview = message_preview(rows[0].content, rows[0].media)
    if reply.sender_type == "human":
        conversation.unread_count = 0
    try:
        db.session.commit()
    except IntegrityError:
        # The same key queued concurrently by another worker: theirs stands.
        db.session.rollback()
        existing = queued_under(idempotency_key) if idempotency_key else []
        if not existing:
            raise
        return existing
    for row in rows:
        publish(conversation.organization_id, conversation.id, "message.created", {"message_id": row.id})
    if status == "pending" and send_now:
        send_here([row.id for row in rows], context=ctx)
    elif status == "pending":
        enqueue_send([row.id for row in rows])
    else:
        log.info("reply in conversation %s not sent (%s): %s", conversation.id, status, error)
    return rows


def send_job_id(first_message_id: int, attempt: int | str) -> str:
    return job_id("send", first_message_id, attempt)


def enqueue_send(message_ids: list[int], *, delay: float = 0, attempt: int | str = 0) -> None:
    """Queue the send of these messages, in order, on the outbound queue."""
    send_job = send_job_id(message_ids[0], attempt)
    func = "jobs.replies.send_messages"
    if delay > 0:
        enqueue_after("outbound", delay, func, message_ids, job_id=send_job)
    else:
        enqueue("outbound", func, message_ids, job_id=send_job)


# --- sending -------------------------------------------------------------------------------------------------------


def send_here(message_ids: list[int], *, context: SendContext | None = None) -> dict[str, int]:
    """Send just-queued messages from this process now (send_messages, one claim at a time process-wide; if the lock
    stays taken for SEND_HERE_LOCK_WAIT, the outbound queue sends them instead). If that breaks on something other
    than the platform (which send_messages handles: retry, fail, pause), the outbound queue takes over — unless one
    of them was left claimed, its fate unknown: then the sweeper frees it after the claim grace and re-queues the
    conversation's messages in order (sending the later parts now would put them first)."""
    try:
        return send_messages(message_ids, context=context, lock_wait=SEND_HERE_LOCK_WAIT)
    except BaseTimeoutException:
        raise  # the job's own timeout: it ends the job as on any worker (the sweeper finds what it left)
    except Exception:
        db.session.rollback()
        log.exception("sending messages %s failed here", message_ids)
        deferred = {"sent": 0, "failed": 0, "deferred": len(message_ids)}
        try:
            statuses = dict(db.session.execute(select(Message.id, Message.status).where(Message.id.in_(message_ids))))
            db.session.commit()
        except Exception:  # the database is away too: the sweeper finds them pending
            db.session.rollback()
            return deferred
        if "sending" not in statuses.values():
            pending = [i for i in message_ids if statuses.get(i) == "pending"]
            if pending:
                enqueue_send(pending)
        return deferred


def _claim(message_id: int) -> bool:
    """pending → sending, atomically: only one worker sends a message. sent_at records when the claim was made
    (the sweeper returns claims older than a grace period to pending) and is set again when the send succeeds."""
    result = db.session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "pending")
        .values(status="sending", sent_at=utcnow())
    )
    db.session.commit()
    return result.rowcount == 1


def _backoff_key(account: SocialAccount) -> str:
    return f"chatpad:send-backoff:{account.id}"


def send_messages(
    message_ids: list[int], *, context: SendContext | None = None, lock_wait: float | None = None
) -> dict[str, int]:
    """Send queued outbound messages in order. Transient failures reschedule the rest with backoff (honouring the
    platform's Retry-After, and pausing the whole account when it is rate limited); permanent ones fail with the
    reason; a dead token marks the account for reconnection and keeps the messages pending. A caller holding the
    conversation's current send context (the AI job) passes it, saving its reload (the account is read afresh: it
    may have been disconnected meanwhile; unless the context says it just was).

    With lock_wait, a message that cannot have this process's send lock within that many seconds goes, with the
    rest, to the outbound queue (which keeps their order)."""
    counts = {"sent": 0, "failed": 0, "deferred": 0}
    if context is not None and context.account is not None and not context.account_fresh:
        _reread_account(context.account)
    for position, message_id in enumerate(message_ids):
        message = db.session.get(Message, message_id)
        if message is None or message.status != "pending":
            continue
        conversation = message.conversation
        account = conversation.social_account
        if account is None or not account.is_active:
            _fail(message, "The account was disconnected before this message was sent.")
            counts["failed"] += 1
            continue
        if account.status == "needs_reauth":
            counts["deferred"] += 1
            continue  # kept pending; resume_account() sends it after reconnection
        paused = get_redis().pttl(_backoff_key(account))
        if paused and paused > 0:
            # Not this message's failure: waiting out the account's pause does not use up its attempts.
            _wait(message, message_ids[position:], paused / 1000, "Waiting: the platform is rate limiting")
            counts["deferred"] += len(message_ids) - position
            break
        adapter = get_channel(conversation.channel)
        if context is not None and context.conversation is conversation and context.sender_type == message.sender_type:
            ctx = context
        else:
            ctx = send_context(conversation, message.sender_type, latest_inbound(conversation))
        ctx.extra["message_id"] = message.id  # channels tag the send with it (Meta echoes it back as metadata)
        # A person's message template (WhatsApp) may go out after the window closed; nothing else may.
        ctx.extra["template"] = (
            message.sender_type == "human" and ((message.meta or {}).get("payload") or {}).get("type") == "template"
        )
        tag = ((message.meta or {}).get("payload") or {}).get("tag")
        if tag:  # a message tag chosen when the reply was shaped (a tour reminder's) holds for its retries too
            ctx.extra["message_tag"] = tag
        reason = adapter.check_window(ctx)
        if reason:
            _fail(message, reason, status="skipped" if message.sender_type == "ai" else "failed")
            counts["failed"] += 1
            continue
        # Claim to commit under the process's one-send lock (the module docstring). What was read so far ends its
        # transaction first: a thread waiting for the lock must not hold a pooled connection (dozens of them did, and
        # PostgreSQL ran out of connections under a burst).
        if db.session().in_transaction():
            db.session.commit()
        if not _take_send_lock(lock_wait):
            enqueue_send(message_ids[position:])  # another send holds it: the outbound workers take these
            counts["deferred"] += len(message_ids) - position
            break
        try:
            if not _claim(message.id):
                continue
            try:
                external_id = adapter.deliver(message.meta.get("payload") or {}, ctx)
            except TransientSendError as exc:
                db.session.rollback()
                if exc.retry_after and exc.retry_after > 0:
                    get_redis().set(_backoff_key(account), "1", px=int(exc.retry_after * 1000))
                if not _unclaim(message.id):
                    # No longer ours: the platform took it after all (a timeout after it was processed) and its echo
                    # already recorded it as sent. Retry only what follows.
                    counts["deferred"] += len(message_ids) - position - 1
                    if message_ids[position + 1 :]:
                        enqueue_send(message_ids[position + 1 :], delay=exc.retry_after or send_backoff()[0])
                    break
                if not _reschedule(message, message_ids[position:], exc.retry_after, exc.reason):
                    counts["failed"] += 1
                else:
                    counts["deferred"] += len(message_ids) - position
                break
            except AuthExpiredError as exc:
                db.session.rollback()
                _unclaim(message.id, note=f"Waiting for the account to be reconnected: {exc.reason}")
                account = db.session.get(SocialAccount, account.id)
                if account_needs_reauth(account, exc.reason):
                    db.session.commit()
                counts["deferred"] += len(message_ids) - position
                break
            except RecipientOptedOutError as exc:
                db.session.rollback()
                _fail(message, exc.reason)
                _record_opt_out(account, ctx.recipient_id, exc.reason)
                counts["failed"] += 1
                continue
            except (PermanentSendError, WindowClosedError, SendError) as exc:
                db.session.rollback()
                _fail(message, exc.reason)
                counts["failed"] += 1
                continue
            message.status = "sent"
            message.external_id = external_id
            message.sent_at = utcnow()
            message.error = None
            db.session.commit()
        finally:
            SENDING.release()
        publish(conversation.organization_id, conversation.id, "message.updated", {"message_id": message.id})
        counts["sent"] += 1
    return counts


def _record_opt_out(account: SocialAccount, customer_id: str, reason: str) -> None:
    """The platform refused a send because the customer opted out (Twilio 21610): remember it, so nothing more is
    tried and the inbox says why."""
    from .optout import opt_out_reason, set_opted_out

    now = utcnow()
    set_opted_out(account, customer_id, opt_out_reason("opted out (the provider refused the message)", now), now)
    db.session.commit()


def _reread_account(account: SocialAccount) -> None:
    """Read the account's sending columns afresh into the loaded object (it may have been disconnected or reconnected
    meanwhile): three columns, not a refresh of the object and what it was loaded with."""
    row = db.session.execute(
        select(*(getattr(SocialAccount, c) for c in _SENDING_COLUMNS)).where(SocialAccount.id == account.id)
    ).one_or_none()
    _set_sending_columns(account, row)


def _set_sending_columns(account: SocialAccount, row) -> None:
    """Put freshly read sending columns into the loaded account; None means it was deleted (it cannot send)."""
    if row is None:
        set_committed_value(account, "is_active", False)
        return
    for column, value in zip(_SENDING_COLUMNS, row, strict=True):
        set_committed_value(account, column, value)


def _take_send_lock(wait: float | None) -> bool:
    """This process's one-send lock, within wait seconds (None: however long it takes). Taken a second at a time, so
    a job's timeout can still be raised in its thread while it waits."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        step = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
        if SENDING.acquire(timeout=step):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def _unclaim(message_id: int, note: str | None = None) -> bool:
    """sending → pending after a failed attempt; False when the message is no longer ours (its echo confirmed it)."""
    values = {"status": "pending"}
    if note:
        values["error"] = note
    result = db.session.execute(
        update(Message).where(Message.id == message_id, Message.status == "sending").values(**values)
    )
    db.session.commit()
    return result.rowcount == 1


def _fail(message: Message, reason: str, status: str = "failed") -> None:
    message.status = status
    message.error = reason
    db.session.commit()
    conversation = message.conversation
    publish(conversation.organization_id, conversation.id, "message.updated", {"message_id": message.id})
    log.info("message %s %s: %s", message.id, status, reason)


def _reschedule(message: Message, remaining: list[int], retry_after: float | None, reason: str) -> bool:
    """Try the remaining messages again later; False (message failed) after MAX_SEND_ATTEMPTS."""
    meta = dict(message.meta or {})
    attempts = int(meta.get("attempts", 0)) + 1
    meta["attempts"] = attempts
    meta.pop("send_job", None)  # the retry's id follows from the attempts again
    message.meta = meta
    if attempts >= MAX_SEND_ATTEMPTS:
        message.status = "failed"
        message.error = f"Gave up after {attempts} attempts: {reason}"
        db.session.commit()
        conversation = message.conversation
        publish(conversation.organization_id, conversation.id, "message.updated", {"message_id": message.id})
        rest = remaining[1:]
        if rest:
            enqueue_send(rest)
        return False
    backoff = send_backoff()
    base = backoff[min(attempts - 1, len(backoff) - 1)]
    delay = max(base * random.uniform(0.8, 1.2), retry_after or 0)  # noqa: S311 (jitter, not crypto)
    message.error = f"Retrying (attempt {attempts + 1} of {MAX_SEND_ATTEMPTS}): {reason}"
    db.session.commit()
    enqueue_send(remaining, delay=delay, attempt=attempts)
    return True


def _wait(message: Message, remaining: list[int], seconds: float, reason: str) -> None:
    """Send the remaining messages once the account's pause is over, without counting an attempt."""
    meta = dict(message.meta or {})
    waits = int(meta.get("waits", 0)) + 1
    label = f"{int(meta.get('attempts', 0))}-wait{waits}"
    meta["waits"] = waits
    meta["send_job"] = label  # the sweeper looks for this job before it re-queues the conversation's sends
    message.meta = meta
    message.error = reason
    db.session.commit()
    enqueue_send(remaining, delay=seconds * random.uniform(1.0, 1.2), attempt=label)  # noqa: S311


def pending_send_job(message_id: int, meta: dict | None) -> str:
    """The id of the job that holds this (first pending) message's sends: its retry, or its wait for a pause."""
    meta = meta or {}
    return send_job_id(message_id, meta.get("send_job") or int(meta.get("attempts", 0)))


def resume_account(account: SocialAccount) -> int:
    """After a reconnection: send every message that waited for this account. Returns how many were queued."""
    ids = list(
        db.session.scalars(
            select(Message.id)
            .where(Message.channel_account_id == account.id, Message.status == "pending")
            .order_by(Message.id)
        )
    )
    by_conversation: dict = {}
    for message in db.session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)):
        by_conversation.setdefault(message.conversation_id, []).append(message.id)
    for conversation_ids in by_conversation.values():
        enqueue_send(conversation_ids, attempt=int(utcnow().timestamp()))
    return len(ids)
