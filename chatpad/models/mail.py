"""Email inbox sync state: where the IMAP sync of each inbox stands (UIDVALIDITY, last UID, health)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatpad.extensions import db

from .account import SocialAccount, agent_ids_of
from .base import UTCDateTime


class EmailSyncState(db.Model):
    """One row per email inbox, written only by its sync job (so it never races the admin's edits of metadata).

    uidvalidity + last_uid are the high-water mark (RFC 3501 §2.3.1.1): a new UIDVALIDITY means the old UIDs are
    void, so the sync looks again over a window and relies on Message-ID dedupe. failures/next_attempt_at back a
    broken inbox off so it costs the others nothing."""

    __tablename__ = "email_sync_state"

    social_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("social_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    uidvalidity_changes: Mapped[int] = mapped_column(Integer, default=0)
    # History (stored, never answered): UIDs up to history_uid (what the mailbox held when it was connected), and
    # after a UIDVALIDITY change, mail the server received before history_before.
    history_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    history_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    messages_synced: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[SocialAccount] = relationship()

    @classmethod
    def tenant_clause(cls, org_id: int):
        from sqlalchemy import select

        return cls.social_account_id.in_(
            select(SocialAccount.id).where(SocialAccount.agent_id.in_(agent_ids_of(org_id))).scalar_subquery()
        )
