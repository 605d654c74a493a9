"""Rows for the inbox's tests: contacts, identities, conversations and messages, committed like the pipeline would
leave them (so live servers and workers see them too)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from chatpad.models import Contact, ContactIdentity, Conversation, Message, SocialAccount, utcnow
from chatpad.pipeline.preview import message_preview

_seq = itertools.count(1)


class InboxFactories:
    def __init__(self, db):
        self.db = db

    def _save(self, row):
        self.db.session.add(row)
        self.db.session.commit()
        return row

    def contact(self, org, name: str | None = "Jane Doe", **kw) -> Contact:
        return self._save(Contact(organization_id=org.id, name=name, **kw))

    def identity(self, contact: Contact, account: SocialAccount, external_id: str | None = None) -> ContactIdentity:
        return self._save(
            ContactIdentity(
                contact_id=contact.id,
                channel=account.channel,
                social_account_id=account.id,
                external_id=external_id or f"psid-{next(_seq)}",
                original_contact_id=contact.id,
            )
        )

    def conversation(
        self,
        account: SocialAccount,
        contact: Contact | None = None,
        *,
        status: str = "open",
        at: datetime | None = None,
        thread_key: str | None = None,
        **kw,
    ) -> Conversation:
        org_id = account.agent.organization_id
        if contact is None:
            contact = self._save(Contact(organization_id=org_id, name=f"Customer {next(_seq)}"))
        if thread_key is None:
            identity = self.identity(contact, account)
            thread_key = identity.external_id
        return self._save(
            Conversation(
                organization_id=org_id,
                agent_id=account.agent_id,
                location_id=account.location_id,
                social_account_id=account.id,
                contact_id=contact.id,
                channel=account.channel,
                status=status,
                thread_key=thread_key,
                last_message_at=at or utcnow(),
                **kw,
            )
        )

    def message(
        self,
        conversation: Conversation,
        text: str = "Hello",
        *,
        direction: str = "inbound",
        sender_type: str | None = None,
        status: str | None = None,
        at: datetime | None = None,
        **kw,
    ) -> Message:
        at = at or utcnow()
        sender_type = sender_type or ("contact" if direction == "inbound" else "ai")
        status = status or ("received" if direction == "inbound" else "sent")
        row = Message(
            conversation_id=conversation.id,
            channel=conversation.channel,
            channel_account_id=conversation.social_account_id,
            direction=direction,
            sender_type=sender_type,
            content=text,
            status=status,
            created_at=at,
            **kw,
        )
        if conversation.last_message_preview is None or at >= conversation.last_message_at - timedelta(seconds=1):
            conversation.last_message_at = at
            if direction == "inbound" or conversation.last_message_preview is None:  # as the pipeline: the customer's
                conversation.last_message_preview = message_preview(text)
        if direction == "inbound":
            conversation.last_inbound_at = max(conversation.last_inbound_at or at, at)
            conversation.unread_count = (conversation.unread_count or 0) + 1
        return self._save(row)


@pytest.fixture
def inbox_make(db):
    """make_* helpers for contacts, conversations and messages."""
    return InboxFactories(db)
