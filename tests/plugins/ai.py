"""Fixtures for the AI tests: the sandbox's stand-in model over real HTTP, and conversations to answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from chatpad.models import Contact, ContactIdentity, Conversation, Message, SocialAccount


class StandIn:
    """Steers the sandbox's OpenAI-compatible stand-in over HTTP, as a benchmark in another process would."""

    def __init__(self, url: str):
        self.url = url
        self.base_url = f"{url}/openai/v1"

    def control(self, **settings) -> dict:
        response = requests.post(f"{self.url}/openai/_control", json=settings, timeout=5)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        requests.post(f"{self.url}/openai/_reset", timeout=5).raise_for_status()

    def requests(self) -> list[dict]:
        return requests.get(f"{self.url}/openai/_requests", timeout=5).json()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/openai/_stats", timeout=5).json()


@pytest.fixture
def standin(sandbox_server):
    """The sandbox's stand-in model (tests/plugins/sandbox.py serves the sandbox), reset to its defaults."""
    helper = StandIn(sandbox_server.url)
    helper.reset()
    yield helper
    helper.reset()


@pytest.fixture
def ai_config(app):
    """Set AI_* config for one test and put the previous values back afterwards."""
    saved: dict = {}

    def set_(**values):
        for key, value in values.items():
            saved.setdefault(key, app.config.get(key))
            app.config[key] = value

    yield set_
    app.config.update(saved)


@pytest.fixture
def demo(app, db):
    """The demo business (MHP Communities) seeded in this test's database."""
    from chatpad.demo import seed_demo

    return seed_demo()


class Talk:
    """Conversations with messages, committed, for the AI to answer."""

    def __init__(self, db):
        self.db = db
        self.clock = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)

    def contact(self, org_id: int, name: str | None = "Jamie Rivera", **kw) -> Contact:
        contact = Contact(organization_id=org_id, name=name, **kw)
        self.db.session.add(contact)
        self.db.session.commit()
        return contact

    def conversation(self, account: SocialAccount, contact: Contact | None = None, **kw) -> Conversation:
        if contact is None:
            contact = self.contact(account.organization_id)
        conversation = Conversation(
            organization_id=account.organization_id,
            agent_id=account.agent_id,
            location_id=account.location_id,
            social_account_id=account.id,
            contact_id=contact.id,
            channel=account.channel,
            thread_key=kw.pop("thread_key", f"thread-{contact.id}"),
            **kw,
        )
        self.db.session.add(conversation)
        self.db.session.add(
            ContactIdentity(
                contact_id=contact.id,
                channel=account.channel,
                social_account_id=account.id,
                external_id=f"{account.channel}-{contact.id}-{account.id}",
            )
        )
        self.db.session.commit()
        return conversation

    def say(
        self,
        conversation: Conversation,
        text: str,
        *,
        sender: str = "contact",
        at: datetime | None = None,
        **kw,
    ) -> Message:
        """Add a message (the customer's by default) a minute after the previous one."""
        self.clock = at or self.clock + timedelta(minutes=1)
        inbound = sender == "contact"
        message = Message(
            conversation_id=conversation.id,
            channel=conversation.channel,
            channel_account_id=conversation.social_account_id,
            direction="inbound" if inbound else "outbound",
            sender_type=sender,
            content=text,
            status="received" if inbound else "sent",
            created_at=self.clock,
            **kw,
        )
        self.db.session.add(message)
        self.db.session.commit()
        return message


@pytest.fixture
def talk(db):
    return Talk(db)
