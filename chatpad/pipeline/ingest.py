"""Ingest: one parsed platform event → the right account, contact, conversation and message, exactly once.

Idempotency: a platform message id is stored once per account (unique key on messages), so a webhook delivered ten
times, or by ten workers at once, stores one message and schedules one reply. Work for one customer on one account
is serialised with a short Redis lock, so two of their messages processed at once still make one contact and one
conversation.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import inspect, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from chatpad.channels import CHANNELS, get_channel
from chatpad.contacts import claim_email, match_contact, resolve_merged
from chatpad.extensions import db
from chatpad.messages import FollowUp, InboundEvent
from chatpad.models import Contact, ContactIdentity, Conversation, Message, MessageTemplate, SocialAccount, utcnow
from chatpad.notify import notify_team
from chatpad.pipeline.media import queue_media_fetch, wants_download
from chatpad.pipeline.optout import clear_opt_out, opt_out_reason, set_opted_out
from chatpad.pipeline.preview import message_preview
from chatpad.queue import get_redis
from chatpad.realtime import publish

log = logging.getLogger("chatpad.pipeline")
unsupported_log = logging.getLogger("chatpad.webhooks.unsupported")

# How far an account's last_message_at may lag its newest message.
ACCOUNT_ACTIVITY_STEP = timedelta(minutes=1)
# Delivery states only move forward.
STATUS_RANK = {"pending": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}


@dataclass
class IngestResult:
    """What ingest did with one event."""

    status: str  # stored | duplicate | updated | ignored
    reason: str | None = None
    conversation_id: uuid.UUID | None = None
    message_id: int | None = None
    reply_wanted: bool = False


def ingest(event: InboundEvent, *, raw_event_id: int | None = None, alone: bool = False) -> IngestResult:
    """Route and store one event; commit; schedule the AI's reply when one is wanted. Safe to call repeatedly.

    alone: the transaction this starts in holds nothing of the caller's (the inbound worker's case), so a message
    found stored by another worker meanwhile rolls it all back instead of paying for a savepoint on every message.
    Callers that store their raw event in the same transaction (the widget, mail sync) leave it False."""
    if event.kind == "unsupported":
        unsupported_log.info("unsupported %s event for %s: %s", event.channel, event.account_id, event.data)
        return IngestResult("ignored", "unsupported event type")
    if event.kind == "template_status":
        return _ingest_template_status(event)
    account = route(event.channel, event.account_id)
    if account is None:
        return IngestResult("ignored", f"no active {event.channel} account {event.account_id}")
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        unsupported_log.info("no handler for %s event kind %r", event.channel, event.kind)
        return IngestResult("ignored", f"event kind {event.kind!r} not handled")
    return handler(event, account, raw_event_id, alone)


def route(channel: str, platform_account_id: str) -> SocialAccount | None:
    """(channel, platform account id) → the active social account; None (logged) for unknown or inactive ones."""
    # A batch of events (jobs.inbound.process_events) keeps the accounts it has routed to in its session.
    routes = db.session.info.setdefault("routes", {})
    account = routes.get((channel, platform_account_id))
    if account is None or account not in db.session:
        account = db.session.scalar(
            select(SocialAccount)
            .options(joinedload(SocialAccount.agent))  # read below on every event: one round trip, not two
            .where(SocialAccount.channel == channel, SocialAccount.account_id == platform_account_id)
        )
        routes[(channel, platform_account_id)] = account
    if account is None:
        log.info("ignoring %s event for unknown account %s", channel, platform_account_id)
        return None
    if not account.is_active or account.status == "disconnected" or account.agent is None or not account.agent.active:
        log.info("ignoring %s event for inactive account %s", channel, platform_account_id)
        return None
    return account


# --- messages --------------------------------------------------------------------------------------------------


def _ingest_message(event: InboundEvent, account: SocialAccount, raw_event_id: int | None, alone: bool) -> IngestResult:
    message = event.message
    if message is None or not event.sender_id:
        return IngestResult("ignored", "message event without a message or sender")
    external_id = message.metadata.external_id
    if external_id and _message_exists(account.id, external_id):
        return IngestResult("duplicate")

    adapter = get_channel(account.channel)
    with customer_lock(account, event.sender_id):
        contact = contact_for(account, event)
        conversation = conversation_for(account, contact, event)
        meta = {
            "thread_id": message.metadata.thread_id,
            "sender_id": event.sender_id,
            "sender_name": message.metadata.sender_name,
            **message.metadata.extra,
        }
        if adapter.numbered_choices and message.content:
            choice = _picked_choice(adapter, conversation, message.content)
            if choice is not None:
                meta["choice"] = choice
                meta["quick_reply"] = {"payload": choice.get("payload"), "title": choice.get("title")}
        no_reply = event.data.get("no_reply_reason") or _keyword(account, event)
        if no_reply:
            meta["no_reply_reason"] = no_reply
        if raw_event_id is not None:
            meta["webhook_event_id"] = raw_event_id
        row = Message(
            conversation_id=conversation.id,
            channel=account.channel,
            channel_account_id=account.id,
            direction="inbound",
            sender_type="contact",
            content=message.content or "",
            media=[asdict(m) for m in message.media],
            meta={k: v for k, v in meta.items() if v is not None},
            external_id=external_id,
            status="received",
            created_at=event.timestamp,
        )
        if alone:
            # The transaction is the event's alone: the conversation's new values go out in the message's flush (a
            # new conversation is one INSERT, not an INSERT and an UPDATE), and a duplicate rolls them back with the
            # rest. Under a savepoint they would be flushed before it, and kept for a duplicate.
            _touch(conversation, account, event.timestamp, row, inbound=True)
        if not _store_message(row, alone=alone):
            return IngestResult("duplicate")
        if not alone:
            _touch(conversation, account, event.timestamp, row, inbound=True)
        _apply_keyword(account, conversation, event)
        reply_wanted = False
        if conversation.human_takeover:
            notify_team(
                conversation.organization_id,
                kind="message_in_takeover",
                title=f"{contact.display_name} wrote in a conversation a person has taken over",
                body=(row.content or "(attachment)")[:300],
                conversation=conversation,
            )
        elif no_reply:
            log.info("not answering message %s: %s", row.id, no_reply)
        else:
            reply_wanted = True
        db.session.commit()

    publish(conversation.organization_id, conversation.id, "message.created", {"message_id": row.id})
    if wants_download(row.media):
        try:
            queue_media_fetch(row.id)
        except Exception:  # Redis down: the message is stored; its files are fetched when the sweeper retries
            log.warning("could not queue the media of message %s", row.id, exc_info=True)
    try:
        follow_ups = adapter.after_ingest(event, conversation, row)
        _send_follow_ups(conversation, follow_ups)
    except Exception:  # the channel's follow-up is extra; the message is stored and must not be re-ingested for it
        db.session.rollback()
        log.exception("%s after_ingest failed for message %s", account.channel, row.id)
    if reply_wanted:
        from .replies import schedule_ai_reply

        schedule_ai_reply(conversation.id)
    return IngestResult("stored", conversation_id=conversation.id, message_id=row.id, reply_wanted=reply_wanted)


def _send_follow_ups(conversation: Conversation, follow_ups: list[FollowUp]) -> None:
    """Queue the replies a channel asked for after a customer's message (Instagram's story-mention thank-you),
    unless a person has taken the conversation over (and the follow-up is not one the law requires even then: SMS
    HELP). Each goes under its key, so a rerun sends it once."""
    if not follow_ups:
        return
    from .replies import ReplyRefusedError, queue_reply

    for follow_up in follow_ups:
        if conversation.human_takeover and not follow_up.during_takeover:
            continue
        try:
            queue_reply(conversation, follow_up.reply, idempotency_key=follow_up.idempotency_key)
        except ReplyRefusedError as exc:
            log.info("%s follow-up not sent: %s", conversation.channel, exc)


# What a keyword message does instead of an AI answer (SMS: carriers' STOP/START/HELP; chatpad/channels/sms).
KEYWORD_NO_REPLY = {
    "out": "the customer texted STOP: opted out of this number; the provider confirms it, nothing more is sent",
    "in": "the customer texted START: opted back in; the provider confirms it",
    "help": "the customer texted HELP: answered with the business's name and contact",
}


def _keyword(account: SocialAccount, event: InboundEvent) -> str | None:
    """The no-reply reason of an opt-out/in/help keyword. START (or YES) from someone who never opted out is an
    ordinary message, answered as usual."""
    keyword = event.data.get("keyword")
    if keyword == "in":
        from chatpad.pipeline.optout import is_opted_out

        return KEYWORD_NO_REPLY["in"] if is_opted_out(account, event.sender_id) else None
    return KEYWORD_NO_REPLY.get(keyword) if keyword else None


def _apply_keyword(account: SocialAccount, conversation: Conversation, event: InboundEvent) -> None:
    """STOP marks the customer opted out of the number (and its pool); START lifts it. A line in the thread says
    so. Part of the message's transaction."""
    keyword = event.data.get("keyword")
    if keyword not in ("out", "in"):
        return
    word = (event.message.content if event.message else "").strip().upper() or keyword.upper()
    if keyword == "out":
        changed = set_opted_out(
            account, event.sender_id, opt_out_reason(f"texted {word}", event.timestamp), event.timestamp
        )
        note = f"Opted out: the customer texted {word}. Nothing is sent to them from this number until they text START."
    else:
        changed = clear_opt_out(account, event.sender_id)
        note = f"Opted back in: the customer texted {word}. Messages to them can be sent again."
    if changed:
        db.session.add(
            Message(
                conversation_id=conversation.id,
                channel=account.channel,
                channel_account_id=account.id,
                direction="inbound",
                sender_type="system",
                content=note,
                meta={"opt_out": keyword},
                status="internal",
                created_at=event.timestamp,
            )
        )


def _picked_choice(adapter, conversation: Conversation, text: str) -> dict | None:
    """On a channel that numbers its choices: the option of our last reply that a bare number picks."""
    stripped = text.strip().lstrip("#").rstrip(".)").strip()
    if not stripped.isdigit() or len(stripped) > 2 or not inspect(conversation).persistent:
        return None
    meta = db.session.scalar(
        select(Message.meta)
        .where(Message.conversation_id == conversation.id, Message.direction == "outbound")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    offered = ((meta or {}).get("payload") or {}).get("choices") or []
    return adapter.pick_choice(text, offered) if offered else None


def _ingest_echo(event: InboundEvent, account: SocialAccount, raw_event_id: int | None, alone: bool) -> IngestResult:
    """The account itself sent something. Ours: already recorded by the send job. A person's, from the platform's
    own inbox: stored as a human reply and the conversation goes to human takeover, so the AI never talks over them."""
    message = event.message
    if message is None or not event.sender_id:
        return IngestResult("ignored", "echo without a message or recipient")
    external_id = message.metadata.external_id
    if external_id and _message_exists(account.id, external_id):
        return IngestResult("duplicate")
    if is_own_echo(event):
        # Sent by ChatPad; the send job stores the id when the Send API answers (the echo can arrive first).
        return _confirm_own_send(event, account)
    if _send_in_flight(account, event.sender_id):
        # An echo without our marks (Instagram's carry neither app_id nor metadata) while one of our sends to this
        # customer awaits the platform's answer: most likely that send's echo. Try again once its id is stored,
        # rather than mistake it for a person replying from the platform's inbox.
        raise EchoNotYetMatchedError(f"echo {external_id} may belong to a send still in flight; retrying")

    from .takeover import take_over

    with customer_lock(account, event.sender_id):
        contact = contact_for(account, event, fetch_profile=False)
        conversation = conversation_for(account, contact, event)
        row = Message(
            conversation_id=conversation.id,
            channel=account.channel,
            channel_account_id=account.id,
            direction="outbound",
            sender_type="human",
            content=message.content or "",
            media=[asdict(m) for m in message.media],
            meta={"source": "platform_inbox", **message.metadata.extra},
            external_id=external_id,
            status="sent",
            created_at=event.timestamp,
            sent_at=event.timestamp,
        )
        if not _store_message(row, alone=alone):
            return IngestResult("duplicate")
        _touch(conversation, account, event.timestamp, row, inbound=False)
        if not conversation.human_takeover:
            label = {"facebook": "Facebook Page", "instagram": "Instagram"}.get(account.channel, account.channel)
            take_over(conversation, reason=f"A team member replied from the {label} inbox", notify=False, commit=False)
        db.session.commit()
    publish(conversation.organization_id, conversation.id, "message.created", {"message_id": row.id})
    return IngestResult("stored", conversation_id=conversation.id, message_id=row.id)


def _confirm_own_send(event: InboundEvent, account: SocialAccount) -> IngestResult:
    """The echo of our own send names the outbound message it carries (the "chatpad:<id>" metadata every send is
    tagged with). If that message is not recorded as sent yet, the worker that sent it died (or timed out) after the
    platform accepted it: the echo is the platform's word that it went out, so record it now, and the sweeper will
    not send it a second time. Otherwise (the usual case) there is nothing to do."""
    message_id = own_message_id(event)
    if message_id is None:
        return IngestResult("ignored", "echo of a message ChatPad sent")
    values = {"status": "sent", "external_id": event.message.metadata.external_id, "error": None}
    if event.timestamp is not None:
        values["sent_at"] = event.timestamp
    confirmed = db.session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.channel_account_id == account.id,
            Message.direction == "outbound",
            Message.status.in_(("pending", "sending")),
        )
        .values(**values)
        .returning(Message.conversation_id)
    ).first()
    db.session.commit()
    if confirmed is None:
        return IngestResult("ignored", "echo of a message ChatPad sent")
    log.info("message %s confirmed sent by its echo", message_id)
    publish(account.organization_id, confirmed[0], "message.updated", {"message_id": message_id, "status": "sent"})
    return IngestResult("updated", conversation_id=confirmed[0], message_id=message_id)


def own_message_id(event: InboundEvent) -> int | None:
    """The outbound message id an echo of ours names ("chatpad:<id>" in its metadata), or None."""
    extra = event.message.metadata.extra if event.message else {}
    marker = event.data.get("metadata") or extra.get("metadata")
    if isinstance(marker, str) and marker.startswith("chatpad:"):
        tail = marker.removeprefix("chatpad:")
        if tail.isdigit():
            return int(tail)
    return None


# How long a claimed send may hold back an unmatched echo (a send claimed longer ago has died; the sweeper frees it).
ECHO_IN_FLIGHT_GRACE = timedelta(minutes=2)


class EchoNotYetMatchedError(RuntimeError):
    """An echo arrived before the send it probably belongs to stored its platform id: the event job retries."""


def _send_in_flight(account: SocialAccount, customer_id: str) -> bool:
    """Is one of ChatPad's sends to this customer on this account between its claim and its stored platform id?"""
    conversation_ids = (
        select(Conversation.id)
        .join(ContactIdentity, ContactIdentity.contact_id == Conversation.contact_id)
        .where(
            Conversation.social_account_id == account.id,
            ContactIdentity.social_account_id == account.id,
            ContactIdentity.external_id == customer_id,
        )
    )
    found = db.session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id.in_(conversation_ids),
            Message.status == "sending",
            Message.sent_at > utcnow() - ECHO_IN_FLIGHT_GRACE,
        )
        .limit(1)
    )
    return found is not None


def is_own_echo(event: InboundEvent) -> bool:
    """An echo of a message ChatPad sent: our app id on it, or the metadata string we attach to every send."""
    extra = event.message.metadata.extra if event.message else {}
    app_id = event.data.get("app_id") or extra.get("app_id")
    ours = current_app.config.get("META_APP_ID")
    if app_id is not None and ours and str(app_id) == str(ours):
        return True
    marker = event.data.get("metadata") or extra.get("metadata")
    return isinstance(marker, str) and marker.startswith("chatpad:")


# --- changes to stored messages --------------------------------------------------------------------------------


def _ingest_status(event: InboundEvent, account: SocialAccount, raw_event_id: int | None, alone: bool) -> IngestResult:
    """Deliveries and reads: by message ids when the platform lists them, else everything up to the watermark."""
    new_status = "delivered" if event.kind == "delivery" else "read"
    rank = STATUS_RANK[new_status]
    lower = [s for s, r in STATUS_RANK.items() if 2 <= r < rank]  # sent, and delivered when marking read
    mids = list(event.data.get("mids") or ([event.target_external_id] if event.target_external_id else []))
    query = update(Message).where(
        Message.channel_account_id == account.id, Message.direction == "outbound", Message.status.in_(lower)
    )
    if mids:
        query = query.where(Message.external_id.in_(mids))
    elif event.watermark is not None and event.sender_id:
        conversation_ids = (
            select(Conversation.id)
            .join(ContactIdentity, ContactIdentity.contact_id == Conversation.contact_id)
            .where(
                Conversation.social_account_id == account.id,
                ContactIdentity.social_account_id == account.id,
                ContactIdentity.external_id == event.sender_id,
            )
        )
        query = query.where(Message.conversation_id.in_(conversation_ids), Message.sent_at <= event.watermark)
    else:
        return IngestResult("ignored", f"{event.kind} without message ids or watermark")
    changed = db.session.execute(query.values(status=new_status).returning(Message.id, Message.conversation_id)).all()
    db.session.commit()
    if not changed:
        return IngestResult("ignored", f"no messages to mark {new_status}")
    org_id = account.organization_id
    for message_id, conversation_id in changed:
        publish(org_id, conversation_id, "message.updated", {"message_id": message_id, "status": new_status})
    return IngestResult("updated", conversation_id=changed[0][1])


def _ingest_change(event: InboundEvent, account: SocialAccount, raw_event_id: int | None, alone: bool) -> IngestResult:
    """Reactions, edits and unsends of a stored message (found by its platform id)."""
    target = _find_message(account, event.target_external_id) if event.target_external_id else None
    if target is None:
        return IngestResult("ignored", f"{event.kind} of a message we do not have")
    meta = dict(target.meta or {})
    if event.kind == "reaction":
        reactions = [r for r in meta.get("reactions", []) if r.get("by") != event.sender_id]
        if event.data.get("action", "react") == "react":
            reactions.append(
                {"by": event.sender_id, "emoji": event.data.get("emoji"), "reaction": event.data.get("reaction")}
            )
        meta["reactions"] = reactions
    elif event.kind == "edit":
        new_text = event.data.get("text", "")
        edits = list(meta.get("edits", []))
        edits.append({"text": target.content, "replaced_at": event.timestamp.isoformat()})
        meta["edits"] = edits
        target.content = new_text
    elif event.kind == "delete":
        target.deleted_at = event.timestamp
    target.meta = meta
    db.session.commit()
    conversation = target.conversation
    publish(conversation.organization_id, conversation.id, "message.updated", {"message_id": target.id})
    return IngestResult("updated", conversation_id=conversation.id, message_id=target.id)


def _ingest_referral(
    event: InboundEvent, account: SocialAccount, raw_event_id: int | None, alone: bool
) -> IngestResult:
    """A customer arrived from an ad or a link: noted in the thread; it opens the messaging window."""
    if not event.sender_id:
        return IngestResult("ignored", "referral without a sender")
    with customer_lock(account, event.sender_id):
        contact = contact_for(account, event)
        conversation = conversation_for(account, contact, event)
        source = event.data.get("source") or "a link"
        ref = event.data.get("ref")
        note = Message(
            conversation_id=conversation.id,
            channel=account.channel,
            channel_account_id=account.id,
            direction="inbound",
            sender_type="system",
            content=f"Arrived from {source.lower()}" + (f" (ref {ref})" if ref else ""),
            meta={"referral": event.data},
            status="internal",
            created_at=event.timestamp,
        )
        db.session.add(note)
        if conversation.last_inbound_at is None or event.timestamp > conversation.last_inbound_at:
            conversation.last_inbound_at = event.timestamp
        db.session.commit()
    publish(conversation.organization_id, conversation.id, "message.created", {"message_id": note.id})
    from .replies import first_tap, schedule_ai_reply

    # The first tap: a customer who opened the thread from a link or an ad, with nothing said yet, is greeted.
    greet = not conversation.human_takeover and first_tap(conversation) is not None
    db.session.commit()
    if greet:
        schedule_ai_reply(conversation.id)
    return IngestResult("stored", conversation_id=conversation.id, message_id=note.id, reply_wanted=greet)


class StatusNotYetMatchedError(RuntimeError):
    """A delivery report arrived before the send it belongs to stored its platform id: the event job retries."""


# Delivery reports move a message forward only; "failed" can follow sent and delivered (SMS undelivered, WhatsApp's
# late failures such as 131047) but never a read message.
FAILABLE = ("pending", "sending", "sent", "delivered")


def _ingest_platform_status(
    event: InboundEvent, account: SocialAccount, raw_event_id: int | None, alone: bool
) -> IngestResult:
    """The platform's report on one message we sent (SMS status callbacks, WhatsApp statuses): delivered, read, or
    failed with the platform's reason; an opt-out failure (21610) marks the customer opted out."""
    new_status = event.data.get("status")
    external_id = event.target_external_id
    if not external_id or not new_status:
        return IngestResult("ignored", f"status {event.data.get('platform_status')!r} needs nothing recorded")
    message = _find_message(account, external_id)
    if message is None:
        if event.sender_id and _send_in_flight(account, event.sender_id):
            raise StatusNotYetMatchedError(f"status of {external_id} arrived before its send was recorded; retrying")
        return IngestResult("ignored", "status of a message we do not have")
    meta = dict(message.meta or {})
    report = {"status": event.data.get("platform_status") or new_status, "at": event.timestamp.isoformat()}
    if event.data.get("error_code"):
        report["error_code"] = event.data["error_code"]
    meta["delivery"] = report
    changed = False
    if new_status == "failed":
        if message.status in FAILABLE:
            message.status = "failed"
            message.error = event.data.get("error") or "The platform reported that the message was not delivered."
            changed = True
        if event.data.get("opted_out") and event.sender_id:
            reason = opt_out_reason("opted out (the provider refused a message: they texted STOP)", event.timestamp)
            set_opted_out(account, event.sender_id, reason, event.timestamp)
    elif message.status in STATUS_RANK and STATUS_RANK.get(new_status, 0) > STATUS_RANK[message.status]:
        message.status = new_status
        changed = True
    message.meta = meta
    db.session.commit()
    conversation = message.conversation
    publish(
        conversation.organization_id,
        conversation.id,
        "message.updated",
        {"message_id": message.id, "status": message.status},
    )
    return IngestResult(
        "updated" if changed else "ignored",
        None if changed else "status already recorded",
        conversation_id=conversation.id,
        message_id=message.id,
    )


def _ingest_template_status(event: InboundEvent) -> IngestResult:
    """WhatsApp's review of a template, for every organization that synced it from that WABA (the signed webhook
    names the WABA as the entry's id): its status changes at once, so an approval shows in the reply box without a
    sync and a paused or rejected template stops being offered."""
    data = event.data
    rows = db.session.scalars(
        select(MessageTemplate).where(
            MessageTemplate.channel == event.channel,
            MessageTemplate.platform_account_id == event.account_id,
            MessageTemplate.name == data.get("name"),
            MessageTemplate.language == data.get("language"),
        )
    ).all()
    if not rows or not data.get("status"):
        return IngestResult("ignored", "a template no organization has synced")
    for row in rows:
        row.status = data["status"]
        row.synced_at = utcnow()
    db.session.commit()
    return IngestResult("updated", f"template {data.get('name')} is {data['status']}")


_HANDLERS = {
    "message": _ingest_message,
    "echo": _ingest_echo,
    "delivery": _ingest_status,
    "read": _ingest_status,
    "reaction": _ingest_change,
    "edit": _ingest_change,
    "delete": _ingest_change,
    "referral": _ingest_referral,
    "status": _ingest_platform_status,
}


# --- contacts and conversations --------------------------------------------------------------------------------


def customer_lock(account: SocialAccount, sender_id: str):
    """Serialise work on one customer of one account across workers (a Redis lock, released on exit)."""
    return get_redis().lock(f"chatpad:lock:customer:{account.id}:{sender_id}", timeout=60, blocking_timeout=60)


def contact_for(account: SocialAccount, event: InboundEvent, *, fetch_profile: bool = True) -> Contact:
    """The contact behind (account, sender id): existing, matched across channels by email or phone, or new."""
    sender_id = event.sender_id
    identity = db.session.scalar(
        select(ContactIdentity)
        .options(joinedload(ContactIdentity.contact))  # a returning customer's contact in the same round trip
        .where(ContactIdentity.social_account_id == account.id, ContactIdentity.external_id == sender_id)
    )
    hints = dict(event.data.get("contact") or {})
    # An address the customer typed (the widget) is a claim, not proof: it never matches, merges or fills the
    # contact (chatpad.contacts.claim_email); it stays on the identity as a merge suggestion for the team.
    claimed = {"email": hints.pop("email")} if event.data.get("email_verified") is False and "email" in hints else {}
    if event.message is not None and event.message.metadata.sender_name:
        hints.setdefault("name", event.message.metadata.sender_name)
    if identity is not None:
        contact = identity.contact
        _fill_contact(contact, hints)
        if claimed:
            claim_email(identity, claimed["email"])
        return contact

    verified_phone = event.data.get("verified_phone")
    if verified_phone:
        hints["phone"] = verified_phone
        contact = _contact_with_phone_identity(account.organization_id, verified_phone)
        if contact is not None:
            _fill_contact(contact, hints)
            return _add_identity(account, event, contact, hints, {})

    profile: dict = {}
    if fetch_profile and not hints.get("name"):
        try:
            profile = get_channel(account.channel).fetch_profile(account, sender_id) or {}
        except Exception:  # a profile is nice to have; never lose the message over it
            log.warning("profile lookup failed for %s %s", account.channel, sender_id, exc_info=True)
        for key in ("name", "email", "phone"):
            if profile.get(key):
                hints.setdefault(key, profile[key])
    org_id = account.organization_id
    # A proven number matches only proven numbers (above): a phone someone typed into a form is not proof.
    contact = match_contact(org_id, hints.get("email"), None if verified_phone else hints.get("phone"))
    if contact is None:
        contact = Contact(organization_id=org_id)
        db.session.add(contact)
    _fill_contact(contact, hints)
    return _add_identity(account, event, contact, hints, {**profile, **claimed})


def _add_identity(account: SocialAccount, event: InboundEvent, contact: Contact, hints: dict, profile: dict) -> Contact:
    """The identity (account, sender id) of a contact, inserted unless another worker made it first (then that
    identity's contact is the customer)."""
    sender_id = event.sender_id
    db.session.flush()  # the contact exists before its identity refers to it
    made = _insert_new(
        ContactIdentity,
        ("social_account_id", "external_id"),
        contact_id=contact.id,
        channel=account.channel,
        social_account_id=account.id,
        external_id=sender_id,
        display_name=hints.get("name"),
        original_contact_id=contact.id,
        profile={k: v for k, v in profile.items() if k in ("name", "profile_pic", "username", "email", "phone")},
    )
    if not made:
        # Another worker made it first (outside the lock, e.g. a second process without Redis locking).
        identity = db.session.scalar(
            select(ContactIdentity).where(
                ContactIdentity.social_account_id == account.id, ContactIdentity.external_id == sender_id
            )
        )
        return identity.contact
    return contact


def phone_channels() -> tuple[str, ...]:
    """The channels whose customer ids are platform-proven phone numbers (SMS, WhatsApp)."""
    global _PHONE_CHANNELS
    if _PHONE_CHANNELS is None:
        _PHONE_CHANNELS = tuple(key for key in CHANNELS if get_channel(key).identity_is_phone)
    return _PHONE_CHANNELS


_PHONE_CHANNELS: tuple[str, ...] | None = None


def _contact_with_phone_identity(org_id: int, phone: str) -> Contact | None:
    """The organization's contact who already has this number as a proven identity on any phone channel: the same
    E.164 number on SMS and WhatsApp is the same person."""
    found = db.session.scalar(
        select(Contact)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
        .where(
            Contact.organization_id == org_id,
            ContactIdentity.channel.in_(phone_channels()),
            ContactIdentity.external_id == phone,
        )
        .limit(1)
    )
    return resolve_merged(found) if found is not None else None


def _fill_contact(contact: Contact, hints: dict) -> None:
    for key in ("name", "email", "phone"):
        value = hints.get(key)
        if value and not getattr(contact, key):
            setattr(contact, key, value.strip().lower() if key == "email" else value)


def conversation_for(account: SocialAccount, contact: Contact, event: InboundEvent) -> Conversation:
    """The conversation this event belongs to (the adapter may decide, e.g. email threading), else the contact's
    latest on this account, else a new one. A resolved conversation the customer writes in again is reopened."""
    conversation = get_channel(account.channel).resolve_conversation(account, contact, event)
    if conversation is NotImplemented:
        conversation = db.session.scalar(
            select(Conversation)
            .where(Conversation.social_account_id == account.id, Conversation.contact_id == contact.id)
            .order_by(Conversation.last_message_at.desc())
            .limit(1)
        )
    if conversation is None:
        thread = event.message.metadata.thread_id if event.message else None
        subject = event.data.get("subject")
        conversation = Conversation(
            id=uuid.uuid4(),  # known now: the first message's row refers to it, and both go in with one flush
            organization_id=account.organization_id,
            agent_id=account.agent_id,
            location_id=account.location_id,
            social_account_id=account.id,
            contact_id=contact.id,
            channel=account.channel,
            status="open",
            thread_key=thread or event.sender_id,
            subject=subject[:400] if subject else None,
            last_message_at=event.timestamp,
        )
        # Not flushed here: the inbound worker's ingest writes the first message's values into it before the flush
        # (one INSERT); every later query flushes it first.
        db.session.add(conversation)
    elif conversation.status == "resolved" and event.kind == "message":
        conversation.status = "waiting" if conversation.human_takeover else "open"
    return conversation


def _touch(conversation: Conversation, account: SocialAccount, at: datetime, row: Message, *, inbound: bool) -> None:
    if conversation.last_message_at is None or at >= conversation.last_message_at:
        conversation.last_message_at = at
    # The list's preview is what the customer last asked (our own replies and echoes only fill an empty one).
    if inbound and (conversation.last_inbound_at is None or at >= conversation.last_inbound_at):
        conversation.last_message_preview = message_preview(row.content, row.media)
    elif not conversation.last_message_preview:
        conversation.last_message_preview = message_preview(row.content, row.media)
    if inbound:
        if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
            conversation.last_inbound_at = at
        conversation.unread_count = (conversation.unread_count or 0) + 1
    # The account's "last message" (admin list, quiet-account banner) to the minute: every message rewriting the same
    # row would make a busy Page's messages queue on its row lock.
    if account.last_message_at is None or at - account.last_message_at >= ACCOUNT_ACTIVITY_STEP:
        account.last_message_at = at


def _find_message(account: SocialAccount, external_id: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(Message.channel_account_id == account.id, Message.external_id == external_id)
    )


def _message_exists(account_id: uuid.UUID, external_id: str) -> bool:
    """Is this platform message id stored for the account? (The id only: no row to load.)"""
    return (
        db.session.scalar(
            select(Message.id).where(Message.channel_account_id == account_id, Message.external_id == external_id)
        )
        is not None
    )


def _store_message(row: Message, *, alone: bool) -> bool:
    """Insert the event's message; False when its platform id turns out to be stored already (another worker was
    first). Alone (ingest's docstring), without a savepoint: that duplicate rolls the whole transaction back — what
    this transaction did for the message, the other worker's did too. Any other integrity error is raised."""
    account_id, external_id = row.channel_account_id, row.external_id
    try:
        if alone:
            db.session.add(row)
            db.session.flush()
        else:
            with db.session.begin_nested():
                db.session.add(row)
    except IntegrityError:
        if alone:
            db.session.rollback()
        if external_id and _message_exists(account_id, external_id):
            return False
        raise
    return True


def _insert_new(model, unique: tuple[str, ...], **values) -> bool:
    """INSERT a row unless one with the same unique key exists (ON CONFLICT DO NOTHING, in PostgreSQL and SQLite
    alike): True when this one was inserted. No savepoint, and the transaction stays usable either way."""
    dialect = db.session.get_bind(mapper=inspect(model)).dialect.name
    insert_ = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}.get(dialect)
    if insert_ is None:
        raise NotImplementedError(f"ON CONFLICT DO NOTHING is written for PostgreSQL and SQLite, not {dialect}")
    statement = insert_(model).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    return db.session.execute(statement.returning(model.id)).first() is not None


def now() -> datetime:
    return utcnow()
