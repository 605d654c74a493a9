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


def test_messenger_tour_request_gets_open_times_from_the_demo_calendar(demo, meta_sandbox, workers):
    """The demo community's calendar is connected (the sandbox's Google or Microsoft stand-in): asking for a tour
    gets the next open times, time zone named, as quick replies a customer taps to book (issue 19)."""
    accepted = _answer(meta_sandbox, workers, "Can I schedule a tour?")
    message = accepted[-1]["json"]["message"]
    assert "The next open times (Central Time, C" in message["text"], message
    titles = [q["title"] for q in message["quick_replies"]]
    assert len(titles) == 3 and all(len(t) <= 20 and (" AM" in t or " PM" in t) for t in titles), titles


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


def _greets(text: str, *, offers: bool = True) -> None:
    """A greeting says who answers and for which community, offers what it can do, and is no handoff."""
    assert "I'm the MHP Communities Assistant for Forge at the Lake" in text, text
    assert "I'll get a member" not in text and "not sure" not in text
    assert not offers or "available homes" in text


def test_messenger_get_started_is_greeted_not_handed_off(demo, db, meta_sandbox, workers):
    """Every Messenger conversation begins with the Get Started postback: it is greeted, with quick replies, and the
    conversation stays with the AI."""
    accepted = _answer(meta_sandbox, workers, None, kind="get_started")
    message = accepted[-1]["json"]["message"]
    _greets(" ".join(r["json"]["message"].get("text", "") for r in accepted))
    assert [q["title"] for q in message["quick_replies"]] == [
        "Available homes",
        "Office hours",
        "Book a tour",
        "Lot rent",
    ]
    db.session.expire_all()
    assert db.session.scalar(select(Conversation)).human_takeover is False


def test_instagram_icebreaker_is_answered_and_a_first_tap_is_greeted(demo, db, ig_sandbox, workers):
    """An Instagram icebreaker (a postback with the question as its title) is answered with a greeting; a customer
    who opens the thread from an ig.me link (a referral, no text) is greeted. Neither is a handoff."""
    ig_sandbox.simulate(None, kind="postback", title="What homes are available?", payload="ICEBREAKER_HOMES")
    workers.run("inbound")
    workers.run("ai", "outbound")
    texts = ig_sandbox.accepted_texts()
    _greets(texts[0], offers=False)
    homes = [h["data"] for h in D.location_listings(FORGE) if h["data"]["status"] == "available"]
    assert any(f"Lot {h['lot']} —" in " ".join(texts) for h in homes)

    ig_sandbox.simulate(None, sender="Ana Lopez", kind="referral")
    workers.run("inbound")
    workers.run("ai", "outbound")
    new = ig_sandbox.accepted_texts()[len(texts) :]
    assert new, "the first tap got no greeting"
    _greets(new[0])
    db.session.expire_all()
    assert not any(c.human_takeover for c in db.session.scalars(select(Conversation)))
