"""A customer who wrote on every channel, for the privacy and security tests: the rows the pipeline stores for
Messenger, Instagram, email (with attachment files on disk) and the web widget, the raw deliveries, a rating, and
notifications — plus a bystander in the same organization and a namesake in another one, to prove that an export or
an erasure touches the right person only."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from chatpad.models import (
    Attachment,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Notification,
    Rating,
    WebhookEvent,
    utcnow,
)

CHANNEL_KEYS = ("facebook", "instagram", "email", "widget")


@dataclass
class World:
    biz: object
    accounts: dict
    customer: Contact
    bystander: Contact
    namesake: Contact
    conversations: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # storage key -> Path
    shared_file: Path | None = None
    linked_event_ids: list = field(default_factory=list)
    mention_event_id: int | None = None
    bystander_event_id: int | None = None


def write_file(app, data: bytes) -> tuple[str, Path, str]:
    """Store bytes the way the email channel does: content-addressed under ATTACHMENT_DIR."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"email/{digest[:2]}/{digest}"
    path = Path(app.config["ATTACHMENT_DIR"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key, path, digest


def add_conversation(db, account, contact, *, external_id: str, texts, days_ago: float = 1, subject=None):
    """A conversation on one account with alternating customer / AI / person messages; returns it."""
    start = utcnow() - timedelta(days=days_ago)
    conversation = Conversation(
        organization_id=contact.organization_id,
        agent_id=account.agent_id,
        location_id=account.location_id,
        social_account_id=account.id,
        contact_id=contact.id,
        channel=account.channel,
        thread_key=external_id,
        subject=subject,
        created_at=start,
        last_message_at=start,
        last_inbound_at=start,
    )
    db.session.add(conversation)
    db.session.flush()
    senders = [("inbound", "contact", "received"), ("outbound", "ai", "sent"), ("outbound", "human", "delivered")]
    for n, text in enumerate(texts):
        direction, sender, status = senders[n % 3]
        at = start + timedelta(minutes=n)
        db.session.add(
            Message(
                conversation_id=conversation.id,
                channel=account.channel,
                channel_account_id=account.id,
                direction=direction,
                sender_type=sender,
                content=text,
                status=status,
                external_id=f"{external_id}-m{n}",
                meta={"sender_id": external_id} if direction == "inbound" else {},
                created_at=at,
            )
        )
        conversation.last_message_at = at
    db.session.flush()
    return conversation


def build_world(app, db, make, *, name="Dana Whitfield", email="dana@example.com", payload=None) -> World:
    """The customer on four channels (payload, when given, goes into every field a customer controls)."""
    biz = make.business()
    accounts = {"facebook": biz.account}
    accounts["instagram"] = make.account(biz.agent, "instagram", biz.location, account_name="@forgelake")
    accounts["email"] = make.account(biz.agent, "email", biz.location, account_id="forge@mhp.example")
    accounts["widget"] = make.account(biz.agent, "widget", biz.location, account_id="wdg-forge")
    shown = payload or name
    customer = Contact(organization_id=biz.org.id, name=shown, email=email, phone="+1 512 555 0100")
    bystander = Contact(organization_id=biz.org.id, name="Sam Bystander", email="sam@example.com")
    other_org = make.org()
    namesake = Contact(organization_id=other_org.id, name=shown, email=email)
    db.session.add_all([customer, bystander, namesake])
    db.session.flush()
    world = World(biz, accounts, customer, bystander, namesake)
    ids = {"facebook": "24000000000001", "instagram": "17840000000002", "email": email, "widget": "visitor-3"}
    for channel in CHANNEL_KEYS:
        db.session.add(
            ContactIdentity(
                contact_id=customer.id,
                channel=channel,
                social_account_id=accounts[channel].id,
                external_id=ids[channel],
                display_name=shown,
                original_contact_id=customer.id,
                profile={"name": shown, "profile_pic": "https://scontent.xx.fbcdn.net/p.jpg"}
                if channel in ("facebook", "instagram")
                else {},
            )
        )
        texts = [
            f"{payload or 'Is lot 14 still available?'} ({channel})",
            "Yes, lot 14 is available.",
            "I can show it to you on Saturday.",
        ]
        world.conversations[channel] = add_conversation(
            db,
            accounts[channel],
            customer,
            external_id=ids[channel],
            texts=texts,
            subject=(payload or "Lot 14") if channel == "email" else None,
        )
    # Meta media links on the Messenger message, an edit history on Instagram.
    fb_first = world.conversations["facebook"].messages[0]
    fb_first.media = [{"type": "image", "url": "https://scontent.xx.fbcdn.net/v/lot14.jpg", "name": None}]
    ig_first = world.conversations["instagram"].messages[0]
    ig_first.meta = {**ig_first.meta, "edits": [{"text": "Is lot 14 free?", "replaced_at": utcnow().isoformat()}]}

    # Email: two attachments; one file's bytes are also attached to the bystander's mail (stored once on disk).
    mail = world.conversations["email"].messages[0]
    mail.meta = {
        **mail.meta,
        "subject": payload or "Lot 14",
        "from": email,
        "text": f"{payload or 'Is lot 14 still available?'}\n\nOn Mon, the team wrote:\n> earlier",
        "html": f"<p>{payload or 'Is lot 14 still available?'}</p>",
    }
    for filename, data in ((payload or "pay stub.pdf", b"%PDF-1.4 Dana's pay stub"), ("floor plan.png", b"PNG-shared")):
        key, path, digest = write_file(app, data)
        world.files[key] = path
        db.session.add(
            Attachment(
                message_id=mail.id,
                filename=filename,
                content_type="application/pdf" if filename.endswith("pdf") else "image/png",
                size=len(data),
                storage_key=key,
                sha256=digest,
            )
        )
    by_conv = add_conversation(db, accounts["email"], bystander, external_id="sam@example.com", texts=["Hi", "Hello"])
    key, path, digest = write_file(app, b"PNG-shared")
    world.shared_file = path
    db.session.add(
        Attachment(
            message_id=by_conv.messages[0].id,
            filename="floor plan.png",
            content_type="image/png",
            size=10,
            storage_key=key,
            sha256=digest,
        )
    )
    make_conv = add_conversation(db, accounts["facebook"], bystander, external_id="24000000000099", texts=["Hello?"])

    # Raw deliveries: the Messenger one each message came from, a duplicate that only mentions the PSID, and the
    # bystander's, which must survive.
    def event(channel, body):
        row = WebhookEvent(channel=channel, body=json.dumps(body).encode(), status="processed")
        db.session.add(row)
        db.session.flush()
        return row.id

    psid = ids["facebook"]
    page = accounts["facebook"].account_id
    delivery = {"object": "page", "entry": [{"id": page, "messaging": [{"sender": {"id": psid}, "message": {}}]}]}
    for message in world.conversations["facebook"].messages[:1]:
        event_id = event("facebook", delivery)
        world.linked_event_ids.append(event_id)
        message.meta = {**message.meta, "webhook_event_id": event_id}
    world.mention_event_id = event("facebook", delivery)
    world.bystander_event_id = event(
        "facebook", {"object": "page", "entry": [{"id": page, "messaging": [{"sender": {"id": "24000000000099"}}]}]}
    )
    make_conv.messages[0].meta = {"webhook_event_id": world.bystander_event_id}

    db.session.add(Rating(conversation_id=world.conversations["widget"].id, scale="five", score=5, comment="Great"))
    db.session.add_all(
        [
            Notification(
                organization_id=biz.org.id,
                user_id=biz.user.id,
                kind="handoff",
                title=f"{shown} wrote in a conversation a person has taken over",
                conversation_id=world.conversations["facebook"].id,
            ),
            Notification(
                organization_id=biz.org.id, user_id=biz.user.id, kind="alert", title=f"Email to {email} bounced"
            ),
            Notification(
                organization_id=biz.org.id,
                user_id=biz.user.id,
                kind="alert",
                title="Sam Bystander asked for a callback",
            ),
        ]
    )
    db.session.commit()
    return world


@pytest.fixture
def world(app, db, make):
    """A customer on Messenger, Instagram, email and the widget, with a bystander and a namesake elsewhere."""
    return build_world(app, db, make)


@pytest.fixture(scope="session")
def privacy_sandbox(live_server):
    """The sandbox app on a free port, pointed at the live ChatPad (its Meta part posts deletion requests there)."""
    from chatpad.sandbox import create_sandbox_app
    from config import TestConfig

    sandbox = create_sandbox_app(TestConfig, PUBLIC_URL=live_server.url)
    server = make_server("127.0.0.1", 0, sandbox, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="privacy-sandbox", daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.app = sandbox
    yield server
    server.shutdown()
