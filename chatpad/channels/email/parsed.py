"""What parsing an email gives: the decoded message and its files (a module of its own, so the loop rules and the
quote stripper can name them without importing the parser)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ParsedAttachment:
    """A file in the message: an attachment or an inline image (Content-ID referenced from the HTML)."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ParsedEmail:
    """One email, decoded. Message-ids are kept without angle brackets."""

    message_id: str
    subject: str
    date: datetime
    from_addr: str
    from_name: str
    to: list[tuple[str, str]] = field(default_factory=list)  # (name, address)
    cc: list[tuple[str, str]] = field(default_factory=list)
    reply_to: list[tuple[str, str]] = field(default_factory=list)
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text: str = ""  # the whole text body (from text/plain, or converted from HTML)
    html: str | None = None  # sanitised HTML for display
    reply_text: str = ""  # what the AI reads: the new part, without quoted history and signature
    attachments: list[ParsedAttachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # the few headers threading and loop rules read
    no_reply_reason: str | None = None
    inbox: str | None = None  # from the sync job's trace lines
    imap_uid: str | None = None
    received_at: datetime | None = None
    message_id_generated: bool = False  # no Message-ID header: one was derived from the bytes

    @property
    def reply_address(self) -> str:
        """Where an answer goes: Reply-To when set, else From."""
        return self.reply_to[0][1] if self.reply_to else self.from_addr

    @property
    def reply_name(self) -> str:
        return (self.reply_to[0][0] if self.reply_to else "") or self.from_name
