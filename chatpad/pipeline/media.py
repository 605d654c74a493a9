"""Inbound media that must be downloaded to be kept: MMS (the provider's media URL, fetched with the account's
credentials) and WhatsApp (a media id whose 5-minute URL needs the token). The message is stored first, with its
media entries marked extra["download"]; a job on the default queue fetches them (adapter.download_media) and stores
each as an attachment under ATTACHMENT_DIR, content-addressed like email's. A passing failure (the platform's 503, a
timeout) is retried with backoff by the job; the message never waits for it, and a retry is never blocked by the
message's own dedupe (Chatwoot #15754 lost attachments that way). A permanent failure is noted on the entry, and the
inbox shows why the file is missing.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from pathlib import Path
from typing import Any

from flask import current_app

from chatpad.channels import get_channel
from chatpad.channels.errors import SendError, TransientSendError
from chatpad.extensions import db
from chatpad.models import Attachment, Message
from chatpad.queue import enqueue, job_id
from chatpad.realtime import publish

log = logging.getLogger("chatpad.pipeline.media")


def wants_download(media: list[dict[str, Any]] | None) -> bool:
    return any(isinstance(m, dict) and (m.get("extra") or {}).get("download") for m in media or [])


def queue_media_fetch(message_id: int) -> None:
    """Fetch a stored message's media in the background (retried with backoff on passing failures)."""
    from rq import Retry

    enqueue(
        "default",
        "jobs.inbound.fetch_media",
        message_id,
        job_id=job_id("media", message_id),
        retry=Retry(max=5, interval=[5, 30, 120, 600, 1800]),
    )


def media_key(sha256: str) -> str:
    return f"media/{sha256[:2]}/{sha256}"


def fetch_media(message_id: int) -> dict[str, int]:
    """Download every pending media entry of the message into an attachment. Raises TransientSendError (after
    saving what did come through) so the job retries the rest."""
    counts = {"stored": 0, "failed": 0, "pending": 0}
    message = db.session.get(Message, message_id)
    if message is None or message.conversation is None:
        return counts
    account = message.conversation.social_account
    adapter = get_channel(message.channel)
    media = [dict(m) for m in message.media or []]
    transient: TransientSendError | None = None
    for index, item in enumerate(media):
        extra = dict(item.get("extra") or {})
        if not extra.get("download"):
            continue
        if account is None:
            extra.update(download=False, download_error="The account was removed before the file was fetched.")
            item["extra"] = extra
            counts["failed"] += 1
            continue
        try:
            data, content_type = adapter.download_media(account, item)
        except TransientSendError as exc:
            transient = exc
            extra["download_error"] = f"Retrying: {exc.reason}"
            item["extra"] = extra
            counts["pending"] += 1
            continue
        except SendError as exc:
            extra.update(download=False, download_error=exc.reason)
            item["extra"] = extra
            counts["failed"] += 1
            continue
        content_type = (content_type or item.get("mime_type") or "application/octet-stream")[:200]
        attachment = _store(message, item, index, data, content_type)
        extra.update(download=False, attachment_id=attachment.id)
        extra.pop("download_error", None)
        item.update(extra=extra, size=len(data), mime_type=content_type, url=None)
        counts["stored"] += 1
    message.media = media
    db.session.commit()
    conversation = message.conversation
    publish(conversation.organization_id, conversation.id, "message.updated", {"message_id": message.id})
    if transient is not None:
        raise transient
    return counts


def _store(message: Message, item: dict[str, Any], index: int, data: bytes, content_type: str) -> Attachment:
    sha = hashlib.sha256(data).hexdigest()
    key = media_key(sha)
    path = Path(current_app.config["ATTACHMENT_DIR"]) / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    existing = next((a for a in message.attachments if a.sha256 == sha), None)
    if existing is not None:
        return existing
    name = item.get("name") or f"{item.get('type') or 'file'}-{index + 1}{_extension(content_type)}"
    attachment = Attachment(
        message_id=message.id,
        filename=str(name)[:300],
        content_type=content_type,
        size=len(data),
        storage_key=key,
        sha256=sha,
    )
    db.session.add(attachment)
    db.session.flush()
    return attachment


def _extension(content_type: str) -> str:
    base = content_type.split(";")[0].strip()
    return {"image/jpeg": ".jpg", "audio/ogg": ".ogg", "text/vcard": ".vcf"}.get(base) or (
        mimetypes.guess_extension(base) or ""
    )
