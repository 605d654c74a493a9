"""Erasing a customer everywhere, and the deletion of conversations that erasure and retention share.

What goes, for each deleted conversation: its messages (text, media links to Meta's CDN, email headers and bodies),
their attachment rows and the files under ATTACHMENT_DIR (a file is removed when no other message still refers to
it: email attachments are stored once per content hash), ratings, notes and notifications about it, and the raw
webhook deliveries its messages came from. For an erased customer also: their identities on every channel (with
the profile fields and picture links), notifications that name them, any other raw deliveries that mention their
platform ids, and the contact itself.

What stays: per-day anonymous counts (chatpad.privacy.stats) and an audit entry saying who erased whom by id, with
counts, never the name or the content.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, or_, select, text

from chatpad.audit import record_audit
from chatpad.channels import CHANNELS, get_channel
from chatpad.extensions import db
from chatpad.models import (
    Attachment,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Notification,
    Rating,
    SocialAccount,
    User,
    WebhookEvent,
)

log = logging.getLogger("chatpad.privacy")

BATCH = 200  # conversations per delete statement


@dataclass
class ErasureSummary:
    """What a deletion removed (or, from preview_erasure, would remove). Counts only: safe to log and audit."""

    contacts: int = 0
    identities: int = 0
    conversations: int = 0
    messages: int = 0
    attachments: int = 0
    files: int = 0
    bytes: int = 0
    ratings: int = 0
    notifications: int = 0
    webhook_events: int = 0
    channels: list[str] = field(default_factory=list)
    # Storage keys of deleted attachments, for remove_files() after the commit (not a count: never audited).
    pending_files: set[str] = field(default_factory=set, repr=False)

    def add(self, other: ErasureSummary) -> None:
        for name, value in self.counts().items():
            if name == "channels":
                self.channels = sorted(set(value) | set(other.channels))
            else:
                setattr(self, name, value + getattr(other, name))
        self.pending_files |= other.pending_files

    def counts(self) -> dict[str, int | list[str]]:
        values = asdict(self)
        values.pop("pending_files")
        return values


# --- the shared part: deleting conversations -------------------------------------------------------------------


def delete_conversations(organization_id: int, conversation_ids: Sequence[uuid.UUID], *, reason: str) -> ErasureSummary:
    """Delete these conversations of one organization and everything hanging off them, after counting them into the
    anonymous activity. Runs in the caller's transaction; the files in the summary's pending_files are for
    remove_files() after the commit."""
    summary = ErasureSummary()
    ids = list(
        db.session.scalars(
            select(Conversation.id).where(
                Conversation.id.in_(conversation_ids), Conversation.organization_id == organization_id
            )
        )
    )
    if not ids:
        return summary
    from .stats import record_activity

    record_activity(organization_id, ids, reason)
    summary.channels = sorted(
        set(db.session.scalars(select(Conversation.channel).where(Conversation.id.in_(ids)).distinct()))
    )
    message_ids = select(Message.id).where(Message.conversation_id.in_(ids))
    event_ids: set[int] = set()
    for (meta,) in db.session.execute(select(Message.meta).where(Message.conversation_id.in_(ids))):
        event_id = (meta or {}).get("webhook_event_id")
        if isinstance(event_id, int):
            event_ids.add(event_id)
    for key, size in db.session.execute(
        select(Attachment.storage_key, Attachment.size).where(Attachment.message_id.in_(message_ids))
    ):
        summary.attachments += 1
        summary.bytes += size or 0
        summary.pending_files.add(key)

    summary.notifications += _rowcount(delete(Notification).where(Notification.conversation_id.in_(ids)))
    summary.ratings += _rowcount(delete(Rating).where(Rating.conversation_id.in_(ids)))
    _rowcount(delete(Attachment).where(Attachment.message_id.in_(message_ids)))
    summary.messages += _rowcount(delete(Message).where(Message.conversation_id.in_(ids)))
    # Notes, assignments and whatever else other parts hang off a conversation go with it (ON DELETE CASCADE).
    summary.conversations += _rowcount(delete(Conversation).where(Conversation.id.in_(ids)))
    if event_ids:
        summary.webhook_events += _rowcount(delete(WebhookEvent).where(WebhookEvent.id.in_(event_ids)))
    return summary


def remove_files(storage_keys: Iterable[str]) -> int:
    """Delete attachment files no message refers to any more (call after the commit). Returns how many went."""
    root = Path(current_app.config["ATTACHMENT_DIR"]).resolve()
    removed = 0
    for key in sorted(set(storage_keys)):
        still_used = db.session.scalar(select(Attachment.id).where(Attachment.storage_key == key).limit(1))
        if still_used is not None:
            continue
        path = (root / key).resolve()
        if root not in path.parents:  # a storage key is ours, but never trust a path to stay inside the root
            log.warning("refusing to delete an attachment outside ATTACHMENT_DIR: %s", key)
            continue
        try:
            os.remove(path)
            removed += 1
        except FileNotFoundError:
            continue
        except OSError:
            log.warning("could not delete attachment file %s", key, exc_info=True)
    return removed


def _rowcount(statement) -> int:
    return db.session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


# --- one customer ----------------------------------------------------------------------------------------------


def preview_erasure(contact: Contact) -> ErasureSummary:
    """What erase_contact(contact) would delete, for the confirmation page."""
    conversation_ids = select(Conversation.id).where(Conversation.contact_id == contact.id)
    message_ids = select(Message.id).where(Message.conversation_id.in_(conversation_ids))
    summary = ErasureSummary(contacts=1 + len(merged_contacts(contact)))
    summary.identities = _count(select(func.count(ContactIdentity.id)).where(ContactIdentity.contact_id == contact.id))
    summary.conversations = _count(select(func.count()).select_from(conversation_ids.subquery()))
    summary.messages = _count(select(func.count(Message.id)).where(Message.conversation_id.in_(conversation_ids)))
    attachments = db.session.execute(
        select(func.count(Attachment.id), func.coalesce(func.sum(Attachment.size), 0)).where(
            Attachment.message_id.in_(message_ids)
        )
    ).one()
    summary.attachments, summary.bytes = int(attachments[0]), int(attachments[1])
    summary.ratings = _count(select(func.count(Rating.id)).where(Rating.conversation_id.in_(conversation_ids)))
    linked = set(db.session.scalars(select(Notification.id).where(Notification.conversation_id.in_(conversation_ids))))
    summary.notifications = len(linked | set(_notification_ids(contact)))
    summary.channels = sorted(
        set(db.session.scalars(select(ContactIdentity.channel).where(ContactIdentity.contact_id == contact.id)))
        | set(db.session.scalars(select(Conversation.channel).where(Conversation.contact_id == contact.id)))
    )
    return summary


def erase_contact(
    contact: Contact, *, actor: User | None, ip: str | None = None, reason: str = "erasure"
) -> ErasureSummary:
    """Erase one customer everywhere in their organization, keep anonymous counts, audit it, commit.

    actor: the admin who asked (None for an automated request, e.g. Meta's callback).
    """
    org_id, contact_id = contact.organization_id, contact.id
    identities = list(db.session.scalars(select(ContactIdentity).where(ContactIdentity.contact_id == contact_id)))
    merged = merged_contacts(contact)
    notification_ids = set(_notification_ids(contact))
    for other in merged:
        notification_ids.update(_notification_ids(other))
    summary = ErasureSummary(contacts=1 + len(merged))
    conversation_ids = list(db.session.scalars(select(Conversation.id).where(Conversation.contact_id == contact_id)))
    for start in range(0, len(conversation_ids), BATCH):
        summary.add(delete_conversations(org_id, conversation_ids[start : start + BATCH], reason=reason))
    summary.webhook_events += _delete_events_mentioning(identities)
    if notification_ids:
        summary.notifications += _rowcount(delete(Notification).where(Notification.id.in_(notification_ids)))
    summary.channels = sorted(set(summary.channels) | {i.channel for i in identities})
    summary.identities = _rowcount(delete(ContactIdentity).where(ContactIdentity.contact_id == contact_id))
    doomed = [contact_id, *(other.id for other in merged)]
    for row in (contact, *merged):
        db.session.expunge(row)
    _rowcount(delete(Contact).where(Contact.id.in_(doomed), Contact.organization_id == org_id))
    record_audit(
        "privacy.erase",
        organization_id=org_id,
        user_id=actor.id if actor is not None else None,
        target_type="Contact",
        target_id=str(contact_id),
        detail={"reason": reason, **summary.counts()},
        ip=ip,
    )
    db.session.commit()
    summary.files = remove_files(summary.pending_files)
    log.info("erased contact %s of organization %s: %s", contact_id, org_id, summary.counts())
    return summary


def merged_contacts(contact: Contact) -> list[Contact]:
    """Contacts merged into this one by hand in the inbox (hidden rows with merged_into_id set): the same person's
    earlier records, whose identities and conversations already moved here. Empty where the inbox's merge column
    does not exist."""
    column = getattr(Contact, "merged_into_id", None)
    if column is None:
        return []
    return list(
        db.session.scalars(
            select(Contact).where(column == contact.id, Contact.organization_id == contact.organization_id)
        )
    )


def erase_identities(identities: Sequence[ContactIdentity], *, reason: str) -> ErasureSummary:
    """Erase what came through some of a customer's identities (e.g. their Facebook ones, on Meta's request): the
    identities and their conversations on those accounts. A contact left with no identity and no conversation goes
    too. Audited per organization by the caller; commits."""
    summary = ErasureSummary()
    touched: dict[uuid.UUID, int] = {}
    for identity in identities:
        contact = identity.contact
        touched[contact.id] = contact.organization_id
        conversation_ids = list(
            db.session.scalars(
                select(Conversation.id).where(
                    Conversation.contact_id == contact.id,
                    Conversation.social_account_id == identity.social_account_id,
                    Conversation.channel == identity.channel,
                )
            )
        )
        for start in range(0, len(conversation_ids), BATCH):
            summary.add(
                delete_conversations(contact.organization_id, conversation_ids[start : start + BATCH], reason=reason)
            )
        summary.webhook_events += _delete_events_mentioning([identity])
        summary.channels = sorted(set(summary.channels) | {identity.channel})
        summary.identities += _rowcount(delete(ContactIdentity).where(ContactIdentity.id == identity.id))
    for contact_id in touched:
        left = db.session.scalar(
            select(func.count(ContactIdentity.id)).where(ContactIdentity.contact_id == contact_id)
        ) or db.session.scalar(select(func.count(Conversation.id)).where(Conversation.contact_id == contact_id))
        if not left:
            contact = db.session.get(Contact, contact_id)
            if contact is not None:
                ids = _notification_ids(contact)
                if ids:
                    summary.notifications += _rowcount(delete(Notification).where(Notification.id.in_(ids)))
                db.session.expunge(contact)
            summary.contacts += _rowcount(delete(Contact).where(Contact.id == contact_id))
    db.session.commit()
    summary.files = remove_files(summary.pending_files)
    return summary


# --- helpers ---------------------------------------------------------------------------------------------------


def _count(query) -> int:
    return int(db.session.scalar(query) or 0)


def _notification_ids(contact: Contact) -> list[int]:
    """Notifications of the organization that name this customer (by name, email or phone) without being tied to a
    conversation (those go with the conversation)."""
    needles = [v for v in (contact.email, contact.phone) if v]
    if contact.name and len(contact.name.strip()) >= 3:
        needles.append(contact.name.strip())
    if not needles:
        return []
    clauses = []
    for needle in needles:
        pattern = f"%{_escape_like(needle)}%"
        clauses.append(Notification.title.ilike(pattern, escape="\\"))
        clauses.append(Notification.body.ilike(pattern, escape="\\"))
    return list(
        db.session.scalars(
            select(Notification.id).where(Notification.organization_id == contact.organization_id, or_(*clauses))
        )
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _delete_events_mentioning(identities: Iterable[ContactIdentity]) -> int:
    """Raw deliveries still kept (see WEBHOOK_EVENT_RETENTION_DAYS) that carry one of these platform ids: duplicates,
    delivery receipts and deliveries whose message was never stored are not linked from any message, but they hold
    the person's data all the same. Each channel says how its raw bodies write the id (Channel.webhook_needles):
    Meta ids as JSON strings ("1234…"), addresses as in the raw mail, a WhatsApp number as digits without "+"
    ("16505551234"), an SMS number form-encoded (From=%2B1…)."""
    deleted = 0
    dialect = db.engine.dialect.name
    # Each body is read with a "&" after it, so a form-encoded needle (=%2B1…&) also finds its body's last field.
    if dialect == "postgresql":
        condition = "position(CAST(:needle AS bytea) in (body || CAST('&' AS bytea))) > 0"
    else:
        condition = "instr(CAST(body || '&' AS BLOB), CAST(:needle AS BLOB)) > 0"
    for identity in identities:
        if not identity.external_id:
            continue
        if identity.channel not in CHANNELS:
            continue  # no adapter, so no raw deliveries of its own
        for needle in get_channel(identity.channel).webhook_needles(identity.external_id):
            ids = list(
                db.session.scalars(
                    select(WebhookEvent.id).where(
                        WebhookEvent.channel == identity.channel, text(condition).bindparams(needle=needle)
                    )
                )
            )
            if ids:
                deleted += _rowcount(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
    return deleted


def accounts_connected_by(platform_user_id: str) -> list[SocialAccount]:
    """Facebook Pages and Instagram accounts connected by this Facebook user (the connect flow keeps the user's
    app-scoped id in the account's metadata as platform_user_id)."""
    rows = db.session.execute(
        select(SocialAccount.id, SocialAccount.meta).where(SocialAccount.channel.in_(("facebook", "instagram")))
    ).all()
    ids = [i for i, meta in rows if str((meta or {}).get("platform_user_id") or "") == str(platform_user_id)]
    return list(db.session.scalars(select(SocialAccount).where(SocialAccount.id.in_(ids)))) if ids else []
