"""Exporting everything stored about one customer, as a ZIP an admin can hand over (GDPR art. 15 and 20, CCPA's
right to know).

Inside:
- README.txt: what each file is, and what ChatPad does not hold;
- data.json: the contact, their identities on each channel, every conversation with every message (text, media
  links, email headers and full text, reactions and edits, delivery status) and ratings — machine-readable;
- conversations/*.txt: each conversation as a readable transcript;
- attachments/…: the files the customer sent or received (email attachments), named after the message they came
  with.

Team members appear as "Team member" and the AI as "AI assistant": the export is the customer's data, not the
staff's. Internal bookkeeping (raw webhook ids, send payloads, retry counters) is left out.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.html import safe_download_name
from chatpad.models import (
    Attachment,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Organization,
    Rating,
    User,
    utcnow,
)
from chatpad.privacy.erase import merged_contacts

log = logging.getLogger("chatpad.privacy")

# Message metadata that is ChatPad's own bookkeeping rather than anything about the customer.
INTERNAL_META = {
    "webhook_event_id",
    "payload",
    "part",
    "of",
    "attempts",
    "imap_uid",
    "no_reply_reason",
    "html",  # the sanitised copy of the email body; the full text is exported as "text"
}
SENDERS = {"contact": "Customer", "ai": "AI assistant", "human": "Team member", "system": "System"}
SPOOL_BYTES = 32 * 1024 * 1024  # exports larger than this are written to a temporary file instead of memory


@dataclass
class ExportResult:
    """The ZIP (rewound, ready to send) and what is in it."""

    file: IO[bytes]
    filename: str
    counts: dict[str, int] = field(default_factory=dict)


def export_contact(contact: Contact, *, actor: User | None, ip: str | None = None) -> ExportResult:
    """Everything about one customer in their organization as a ZIP; audited (who exported whom, counts)."""
    now = utcnow()
    identities = list(
        db.session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.contact_id == contact.id)
            .options(selectinload(ContactIdentity.social_account))
            .order_by(ContactIdentity.created_at)
        )
    )
    conversations = list(
        db.session.scalars(
            select(Conversation)
            .where(Conversation.contact_id == contact.id, Conversation.organization_id == contact.organization_id)
            .options(
                selectinload(Conversation.social_account),
                selectinload(Conversation.location),
                selectinload(Conversation.messages).selectinload(Message.attachments),
            )
            .order_by(Conversation.created_at)
        )
    )
    ratings = {
        r.id: r
        for r in db.session.scalars(
            select(Rating).where(Rating.conversation_id.in_([c.id for c in conversations])).order_by(Rating.created_at)
        )
    }
    counts = {"identities": len(identities), "conversations": len(conversations), "messages": 0, "attachments": 0}
    missing: list[str] = []
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (returned to the caller)
    root = Path(current_app.config["ATTACHMENT_DIR"])
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        data_conversations = []
        for index, conversation in enumerate(conversations, start=1):
            messages = []
            for message in conversation.messages:
                counts["messages"] += 1
                files = []
                for attachment in message.attachments:
                    arcname = f"attachments/{message.id}-{attachment.id}-{safe_download_name(attachment.filename)}"
                    if _add_file(archive, root, attachment, arcname):
                        counts["attachments"] += 1
                    else:
                        missing.append(arcname)
                        arcname = None
                    files.append(
                        {
                            "filename": attachment.filename,
                            "content_type": attachment.content_type,
                            "size": attachment.size,
                            "file": arcname,
                        }
                    )
                messages.append(_message_data(message, files))
            data = _conversation_data(conversation, messages)
            data["ratings"] = [
                {"score": r.score, "scale": r.scale, "comment": r.comment, "created_at": _iso(r.created_at)}
                for r in ratings.values()
                if r.conversation_id == conversation.id
            ]
            data_conversations.append(data)
            name = f"conversations/{index:03d}-{conversation.created_at:%Y-%m-%d}-{conversation.channel}.txt"
            data["transcript"] = name
            archive.writestr(name, _transcript(contact, data))
        document = {
            "exported_at": _iso(now),
            "organization": db.session.get(Organization, contact.organization_id).name,
            "contact": {
                "id": str(contact.id),
                "name": contact.name,
                "email": contact.email,
                "phone": contact.phone,
                "created_at": _iso(contact.created_at),
                "updated_at": _iso(contact.updated_at),
            },
            # Earlier records of the same person, merged into this one by hand in the inbox.
            "merged_records": [
                {"name": m.name, "email": m.email, "phone": m.phone, "created_at": _iso(m.created_at)}
                for m in merged_contacts(contact)
            ],
            "identities": [_identity_data(i) for i in identities],
            "conversations": data_conversations,
            "missing_files": missing,
        }
        archive.writestr("data.json", json.dumps(document, indent=2, ensure_ascii=False, default=str))
        archive.writestr("README.txt", _readme(contact, now, counts, missing))
    size = out.tell()
    out.seek(0)
    record_audit(
        "privacy.export",
        organization_id=contact.organization_id,
        user_id=actor.id if actor is not None else None,
        target=contact,
        detail={**counts, "bytes": size, "missing_files": len(missing)},
        ip=ip,
    )
    db.session.commit()
    stem = safe_download_name(contact.display_name, "customer")
    return ExportResult(out, f"chatpad-export-{stem}-{now:%Y%m%d-%H%M%S}.zip", {**counts, "bytes": size})


def _add_file(archive: zipfile.ZipFile, root: Path, attachment: Attachment, arcname: str) -> bool:
    path = (root / attachment.storage_key).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        log.warning("attachment %s has no file (%s)", attachment.id, attachment.storage_key)
        return False
    archive.write(path, arcname)
    return True


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _identity_data(identity: ContactIdentity) -> dict[str, Any]:
    account = identity.social_account
    return {
        "channel": identity.channel,
        "account": account.account_name if account is not None else None,
        "id_on_channel": identity.external_id,
        "display_name": identity.display_name,
        "profile": identity.profile or {},
        "first_seen": _iso(identity.created_at),
    }


def _conversation_data(conversation: Conversation, messages: list[dict]) -> dict[str, Any]:
    account = conversation.social_account
    return {
        "id": str(conversation.id),
        "channel": conversation.channel,
        "account": account.account_name if account is not None else None,
        "location": conversation.location.name if conversation.location is not None else None,
        "subject": conversation.subject,
        "status": conversation.status,
        "handled_by_a_person": bool(conversation.human_takeover),
        "started_at": _iso(conversation.created_at),
        "last_message_at": _iso(conversation.last_message_at),
        "messages": messages,
    }


def _message_data(message: Message, files: list[dict]) -> dict[str, Any]:
    meta = {k: v for k, v in (message.meta or {}).items() if k not in INTERNAL_META}
    return {
        "id": message.id,
        "at": _iso(message.created_at),
        "direction": message.direction,
        "from": SENDERS.get(message.sender_type, message.sender_type),
        "text": message.content,
        "media": message.media or [],
        "attachments": files,
        "status": message.status,
        "error": message.error if message.direction == "outbound" else None,
        "removed_by_customer_at": _iso(message.deleted_at),
        "details": meta,
    }


def _transcript(contact: Contact, conversation: dict[str, Any]) -> str:
    lines = [
        f"Conversation on {conversation['channel']}"
        + (f" with {conversation['account']}" if conversation["account"] else "")
        + (f" ({conversation['location']})" if conversation["location"] else ""),
        f"Started {conversation['started_at']}, last message {conversation['last_message_at']}",
    ]
    if conversation["subject"]:
        lines.append(f"Subject: {conversation['subject']}")
    lines.append("")
    for message in conversation["messages"]:
        who = contact.display_name if message["from"] == "Customer" else message["from"]
        lines.append(f"[{message['at']}] {who}:")
        lines.extend(f"  {line}" for line in (message["text"] or "").splitlines() or [""])
        for media in message["media"]:
            link = media.get("url") or ""
            lines.append(f"  ({media.get('type', 'attachment')}{': ' + link if link else ''})")
        for item in message["attachments"]:
            lines.append(f"  (file: {item['filename']}{' → ' + item['file'] if item['file'] else ', not stored'})")
        lines.append("")
    for rating in conversation.get("ratings", []):
        lines.append(f"Rating: {rating['score']} ({rating['scale']}) {rating['comment'] or ''}".rstrip())
    return "\n".join(lines) + "\n"


def _readme(contact: Contact, now: datetime, counts: dict[str, int], missing: list[str]) -> str:
    identities = f"{counts['identities']} identit{'y' if counts['identities'] == 1 else 'ies'}"
    summary = (
        f"{identities} on messaging channels, {counts['conversations']} conversation(s), "
        f"{counts['messages']} message(s) and {counts['attachments']} attached file(s)"
    )
    text = f"""Data held about {contact.display_name}
Exported {now:%Y-%m-%d %H:%M} UTC from ChatPad.

This archive holds everything ChatPad stores about this person: {summary}.

Files
- data.json: all of it, machine-readable (JSON, UTF-8). "contact" is the customer record; "identities" are the ids
  they have on each channel (a Facebook Page-scoped id, an Instagram-scoped id, an email address, a website chat
  visitor id) with the profile fields the platform gave; "conversations" lists every conversation with every
  message: when, in which direction, from whom (the customer, the AI assistant or a team member), the text, links
  to media, email headers and full text, reactions, edits, and delivery status.
- conversations/: each conversation as a plain-text transcript.
- attachments/: files that came with messages, named <message id>-<attachment id>-<file name>; data.json says
  which message each belongs to.

Not in this archive
- Photos, videos and story mentions sent on Facebook or Instagram are kept by Meta; ChatPad stores only the links
  (in data.json, under "media"), which Meta expires after a while.
- Copies kept by the platforms themselves (the Facebook Page inbox, Instagram, the business's mailbox) are outside
  ChatPad; ask the business or the platform for those.
"""
    if missing:
        text += f"\n{len(missing)} file(s) listed in data.json could not be found in storage and are not included.\n"
    return text
