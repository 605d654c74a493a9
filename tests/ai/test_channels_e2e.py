"""The AI on the real channels: a demo customer writes through the sandbox's Messenger and Instagram, the workers
run, and the AI's answer — with its quick replies and buttons — reaches the platform from the right account."""

from __future__ import annotations

from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import Conversation

FORGE = D.LOCATIONS[0]
assert FORGE.slug == "forge-at-the-lake"
AVAILABLE_3BR = [
    h["data"] for h in D.location_listings(FORGE) if h["data"]["status"] == "available" and h["data"]["beds"] == 3
]


def _answer(meta_sandbox, workers, text: str, **spec) -> list[dict]:
    """A customer writes on the Forge Lake Community Page; returns the Send API requests Meta accepted."""
    meta_sandbox.simulate(page=D.page_id(FORGE), text=text, **spec)
    workers.run("inbound")
    workers.run("ai", "outbound")
    return meta_sandbox.accepted()


def test_messenger_listing_question_gets_listings_and_quick_replies(demo, meta_sandbox, workers):
    """'Any 3 bedroom homes?' on Messenger: the Page answers with the 3-bedroom homes and tappable suggestions of at
    most 20 characters on its last message."""
    accepted = _answer(meta_sandbox, workers, "any 3 bedroom homes?")
    assert accepted and all(r["path"] == f"{D.page_id(FORGE)}/messages" for r in accepted)
    text = " ".join(r["json"]["message"].get("text", "") for r in accepted)
    for home in AVAILABLE_3BR:
        assert f"Lot {home['lot']} —" in text and f"${home['price']:,}" in text
    quick = accepted[-1]["json"]["message"]["quick_replies"]
    assert [q["title"] for q in quick] == ["Book a tour", "Financing", "Lot rent"]
    assert all(q["content_type"] == "text" and len(q["title"]) <= 20 and q["payload"] for q in quick)


def test_messenger_tour_request_gets_a_booking_button(demo, meta_sandbox, workers):
    """Asking for a tour gets the booking link as a Messenger button (and in the text, for any client)."""
    accepted = _answer(meta_sandbox, workers, "Can I schedule a tour?")
    template = accepted[-1]["json"]["message"]["attachment"]["payload"]
    assert template["template_type"] == "button"
    assert {"type": "web_url", "title": "Book a tour", "url": FORGE.booking_url}.items() <= template["buttons"][
        0
    ].items()
    assert FORGE.booking_url in template["text"]


def test_messenger_request_for_a_person_takes_over(demo, db, meta_sandbox, workers):
    """A customer asking for a person is told someone is coming, and the conversation waits for the team."""
    accepted = _answer(meta_sandbox, workers, "I want to talk to a real person")
    assert "bringing in a member of the Forge at the Lake team" in accepted[-1]["json"]["message"]["text"]
    db.session.expire_all()
    conversation = db.session.scalar(select(Conversation))
    assert conversation.human_takeover is True and conversation.status == "waiting"


def test_instagram_story_reply_is_answered_about_the_story(demo, ig_sandbox, workers):
    """A reply to the community's Instagram story is thanked and answered, within Instagram's limits."""
    story = ig_sandbox.new_story(ttl_seconds=3600)
    ig_sandbox.simulate("How much is lot rent?", kind="story_reply", story_id=story["id"])
    workers.run("inbound")
    workers.run("ai", "outbound")
    texts = ig_sandbox.accepted_texts()
    assert texts and texts[0].startswith("Thanks for replying to our story!")
    assert f"${FORGE.lot_rent}/month" in " ".join(texts)
    assert all(len(t.encode()) <= 1000 for t in texts)
