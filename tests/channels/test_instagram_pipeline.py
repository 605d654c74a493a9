"""Instagram end to end: the sandbox posts signed object=instagram webhooks to the live app, real RQ workers run the
shared pipeline, and replies go back through the sandbox's Send API."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from flask import render_template_string
from sqlalchemy import func, select

from chatpad.channels.instagram.formatting import utf8_len
from chatpad.messages import OutboundReply
from chatpad.models import Conversation, Message, WebhookEvent
from chatpad.pipeline import queue_reply, take_over
from chatpad.pipeline.ingest import EchoNotYetMatchedError, ingest
from chatpad.pipeline.replies import latest_inbound

FLOW = ("inbound", "outbound")


def inbound_messages(db) -> list[Message]:
    db.session.expire_all()
    return db.session.scalars(
        select(Message).where(Message.direction == "inbound").order_by(Message.created_at, Message.id)
    ).all()


def outbound_messages(db) -> list[Message]:
    db.session.expire_all()
    return db.session.scalars(select(Message).where(Message.direction == "outbound").order_by(Message.id)).all()


def only_conversation(db) -> Conversation:
    db.session.expire_all()
    (conversation,) = db.session.scalars(select(Conversation)).all()
    return conversation


def echoes_processed(db, ig_sandbox, count: int):
    """Wait until the sandbox's echo webhooks have been stored by the app (they are posted in the background)."""

    def done():
        deliveries = [d for d in ig_sandbox.meta.deliveries() if d["object"] == "instagram"]
        return sum(d["state"] == "delivered" for d in deliveries) >= count

    ig_sandbox.wait_for(done)


def test_dm_is_routed_and_answered_from_the_same_account(db, ig_account, ig_sandbox, workers):
    """A DM lands in a conversation of the Instagram account's location, with the customer's name from their
    profile; the AI's answer goes out as the account, and its echo does not look like a person taking over."""
    pytest.importorskip("chatpad.ai", reason="the AI (chatpad.ai) is merged separately")
    sent = ig_sandbox.simulate("What are your office hours?")
    workers.run("inbound")
    conversation = only_conversation(db)
    assert conversation.social_account_id == ig_account.ig.id
    assert conversation.location_id == ig_account.location.id and conversation.channel == "instagram"
    assert conversation.contact.name == "Jane Doe" and conversation.thread_key == sent["igsid"]
    workers.run("ai", "outbound", "inbound")
    replies = [m for m in ig_sandbox.thread(sent["igsid"])["messages"] if m["sender"] == "page"]
    assert replies and replies[0]["app_id"]
    echoes_processed(db, ig_sandbox, 2)
    workers.run("inbound")
    conversation = only_conversation(db)
    assert not conversation.human_takeover
    assert [m.status for m in outbound_messages(db) if m.sender_type == "ai"][0] == "sent"


def test_story_mention_is_thanked_opens_the_window_and_shows_the_story(db, app, ig_account, ig_sandbox, workers):
    """A story mention is stored as a link (never the media), opens the messaging window, is thanked with the
    location's own text, gets no second answer from the AI, and shows the story until it expires."""
    mention = ig_sandbox.simulate(kind="story_mention", ttl_seconds=3600)
    workers.run(*FLOW)
    assert workers.queued("ai") == 0 and workers.scheduled("ai") == 0

    (stored,) = inbound_messages(db)
    assert stored.media[0]["type"] == "story_mention" and stored.media[0]["url"] == mention["story_url"]
    assert stored.meta["story_mention"]["id"] == mention["story_id"]  # looked up with GET /<MID>?fields=story
    assert stored.meta["story_mention"]["url"] == mention["story_url"] and stored.meta["story_mention"]["expires_at"]
    assert stored.attachments == []  # nothing downloaded
    conversation = only_conversation(db)
    assert conversation.last_inbound_at is not None

    (thanks,) = outbound_messages(db)
    assert thanks.sender_type == "system" and thanks.status == "sent"
    assert thanks.content == "Thank you for the shout-out! 💙 — Forge Lake"
    seen_by_customer = [m for m in ig_sandbox.thread(mention["igsid"])["messages"] if m["sender"] == "page"]
    assert [m["text"] for m in seen_by_customer] == [thanks.content]

    with app.test_request_context():
        html = render_template_string('{% include "channels/instagram/_story.html" %}', message=stored)
        assert "Mentioned you in their story" in html and mention["story_url"].replace("&", "&amp;") in html
        ig_sandbox.expire_story(mention["story_id"])
        meta = dict(stored.meta)
        meta["story_mention"] = {**meta["story_mention"], "expires_at": "2020-01-01T00:00:00+00:00"}
        stored.meta = meta
        html = render_template_string('{% include "channels/instagram/_story.html" %}', message=stored)
        assert "Story expired" in html and "<img" not in html


def test_a_mention_redelivered_is_thanked_once(db, ig_account, ig_sandbox, workers):
    """Meta redelivering a story mention five times stores one message and sends one thank-you."""
    ig_sandbox.simulate(kind="story_mention", duplicates=5)
    workers.run(*FLOW)
    assert len(inbound_messages(db)) == 1
    assert len(outbound_messages(db)) == 1 and len(ig_sandbox.accepted_texts()) == 1


def test_no_thank_you_when_the_location_turned_it_off(db, ig_account, ig_sandbox, workers):
    """A location with an empty story-mention reply sends none; the mention is still stored for the team."""
    ig_account.location.settings = {"story_mention_reply": ""}
    db.session.commit()
    ig_sandbox.simulate(kind="story_mention")
    workers.run(*FLOW)
    assert len(inbound_messages(db)) == 1 and outbound_messages(db) == []


def test_no_thank_you_while_a_person_has_taken_over(db, ig_account, ig_sandbox, workers):
    """In a conversation a person has taken over, a mention is left to them: stored, the team told, no automatic
    thank-you."""
    ig_sandbox.simulate("Hello!")
    workers.run("inbound")
    take_over(only_conversation(db), user=ig_account.user, reason="Dana is on it")
    ig_sandbox.simulate(kind="story_mention")
    workers.run(*FLOW)
    assert len(inbound_messages(db)) == 2
    assert [m for m in outbound_messages(db) if m.status != "internal"] == []
    assert ig_sandbox.accepted_texts() == []


def test_story_reply_tells_the_ai_which_story(db, ig_account, ig_sandbox, workers):
    """A reply to the business's story is stored with that story's id and link, and the AI is asked to answer."""
    story = ig_sandbox.new_story(ttl_seconds=3600)
    ig_sandbox.simulate("Is this home still for sale?", kind="story_reply", story_id=story["id"])
    workers.run("inbound")
    (stored,) = inbound_messages(db)
    assert stored.content == "Is this home still for sale?"
    assert stored.meta["reply_to"]["story"]["id"] == story["id"]
    assert stored.meta["reply_to"]["story"]["url"] == story["url"]
    assert workers.queued("ai") == 1


def test_unsend_removes_the_message_from_the_inbox_and_the_ai_context(db, ig_account, ig_sandbox, workers):
    """An unsent DM is marked deleted: the reply the AI would write no longer answers it."""
    sent = ig_sandbox.simulate("My phone number is 555-0100")
    ig_sandbox.simulate(kind="unsend", target_mid=sent["mid"])
    workers.run("inbound")
    (stored,) = inbound_messages(db)
    assert stored.external_id == sent["mid"] and stored.deleted_at is not None
    assert latest_inbound(only_conversation(db)) is None


def test_edit_updates_the_text_and_keeps_the_history(db, ig_account, ig_sandbox, workers):
    """An edited DM shows the new text; the old one stays in the message's edit history."""
    sent = ig_sandbox.simulate("Is lot 14 available?")
    ig_sandbox.simulate("Is lot 15 available?", kind="edit", target_mid=sent["mid"])
    workers.run("inbound")
    (stored,) = inbound_messages(db)
    assert stored.content == "Is lot 15 available?"
    assert [e["text"] for e in stored.meta["edits"]] == ["Is lot 14 available?"]


def test_unsupported_message_is_stored_and_shown(db, app, ig_account, ig_sandbox, workers):
    """An unsupported message is kept and shown as such; the AI does not answer what it cannot see."""
    ig_sandbox.simulate(kind="unsupported")
    workers.run("inbound")
    (stored,) = inbound_messages(db)
    assert stored.meta["is_unsupported"] and workers.queued("ai") == 0
    with app.test_request_context():
        html = render_template_string('{% include "channels/instagram/_story.html" %}', message=stored)
    assert "Unsupported message" in html


def test_long_reply_is_split_under_1000_bytes(db, ig_account, ig_sandbox, workers):
    """A person's long reply in emoji and Cyrillic goes out as several Instagram messages, each under 1000 bytes,
    in order, each stored with its own platform id."""
    sent = ig_sandbox.simulate("Расскажите о лоте 14")
    workers.run("inbound")
    conversation = only_conversation(db)
    text = " ".join(f"Лот {n}: 3 спальни, вид на озеро 🏡🌅👨‍👩‍👧." for n in range(60))
    assert len(text) < 3000 < utf8_len(text)
    rows = queue_reply(conversation, OutboundReply(text, sender_type="human"), user=ig_account.user)
    assert len(rows) >= 3
    workers.run("outbound")
    received = [m["text"] for m in ig_sandbox.thread(sent["igsid"])["messages"] if m["sender"] == "page"]
    assert received == [r.content for r in rows]
    assert all(utf8_len(t) <= 1000 for t in received) and " ".join(received).split() == text.split()
    assert all(m.status == "sent" and m.external_id for m in outbound_messages(db))


def test_seen_marks_what_was_sent_before_it_read(db, ig_account, ig_sandbox, workers):
    """When the customer sees the latest reply, every reply sent before it shows as read in the inbox."""
    sent = ig_sandbox.simulate("Hello!")
    workers.run("inbound")
    conversation = only_conversation(db)
    for text in ("Hi Jane!", "Lot 14 is available."):
        queue_reply(conversation, OutboundReply(text, sender_type="human"), user=ig_account.user)
    workers.run("outbound")
    assert [m.status for m in outbound_messages(db)] == ["sent", "sent"]
    ig_sandbox.simulate(kind="seen", igsid=sent["igsid"])
    echoes_processed(db, ig_sandbox, 4)
    workers.run("inbound")
    assert [m.status for m in outbound_messages(db)] == ["read", "read"]


def test_duplicate_deliveries_store_one_message(db, ig_account, ig_sandbox, workers):
    """Meta delivering one DM five times (at least once, unordered) stores one message and asks for one reply."""
    ig_sandbox.simulate("Hello!", duplicates=5)
    workers.run("inbound")
    assert len(inbound_messages(db)) == 1
    assert workers.queued("ai") + workers.scheduled("ai") == 1
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 5


def test_reply_from_the_instagram_app_takes_over(db, ig_account, ig_sandbox, workers):
    """A person answering in the Instagram app (an echo that is not ChatPad's) puts the conversation in takeover."""
    sent = ig_sandbox.simulate("Hello!")
    workers.run("inbound")
    ig_sandbox.business_reply(sent["igsid"], "Hi Jane, this is Dana from the office.")
    echoes_processed(db, ig_sandbox, 2)
    workers.run("inbound")
    conversation = only_conversation(db)
    assert conversation.human_takeover
    (human,) = [m for m in outbound_messages(db) if m.sender_type == "human"]
    assert human.meta["source"] == "platform_inbox" and human.content == "Hi Jane, this is Dana from the office."


def test_an_echo_racing_its_send_waits_instead_of_taking_over(db, app, ig_account, ig_sandbox, workers):
    """An unmarked echo arriving while one of our sends is between its claim and its stored id is retried, not
    taken for a person; once the id is stored it is a duplicate."""
    from chatpad.channels import get_channel

    sent = ig_sandbox.simulate("Hello!")
    workers.run("inbound")
    conversation = only_conversation(db)
    (row,) = queue_reply(conversation, OutboundReply("Hi Jane!", sender_type="human"), user=ig_account.user)
    row.status = "sending"
    row.sent_at = row.created_at
    db.session.commit()
    echo = {
        "object": "instagram",
        "entry": [
            {
                "id": ig_account.ig.account_id,
                "time": 1767225600123,
                "messaging": [
                    {
                        "sender": {"id": ig_account.ig.account_id},
                        "recipient": {"id": sent["igsid"]},
                        "timestamp": 1767225600123,
                        "message": {"mid": "aWdfZAG1_race", "text": "Hi Jane!", "is_echo": True},
                    }
                ],
            }
        ],
    }
    (event,) = get_channel("instagram").parse(json.dumps(echo).encode())
    with pytest.raises(EchoNotYetMatchedError):
        ingest(event)
    row.status, row.external_id = "sent", "aWdfZAG1_race"
    db.session.commit()
    assert ingest(event).status == "duplicate"
    assert not only_conversation(db).human_takeover


def test_webhook_endpoint_checks_object_and_signature(client, db, app):
    """/api/webhooks/instagram answers the handshake, refuses a bad signature (403) and a Page webhook (400), and
    stores nothing for either."""
    challenge = client.get(
        "/api/webhooks/instagram",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": app.config["META_VERIFY_TOKEN"],
            "hub.challenge": "7",
        },
    )
    assert challenge.status_code == 200 and challenge.get_data(as_text=True) == "7"

    def signed(body: bytes) -> dict:
        digest = hmac.new(app.config["META_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}

    page_body = json.dumps({"object": "page", "entry": []}).encode()
    assert client.post("/api/webhooks/instagram", data=page_body, headers=signed(page_body)).status_code == 400
    ig_body = json.dumps({"object": "instagram", "entry": []}).encode()
    bad = {**signed(ig_body), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert client.post("/api/webhooks/instagram", data=ig_body, headers=bad).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert client.post("/api/webhooks/instagram", data=ig_body, headers=signed(ig_body)).status_code == 200
