"""What the AI knows when it answers: built from real rows, scoped to the conversation's business and location."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from chatpad.ai.context import build_context
from chatpad.ai.prompt import build_messages, render_system_prompt
from chatpad.models import Location, SocialAccount

MONDAY_15_UTC = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 9 AM in Chicago, midnight Tuesday in Tokyo


def test_hours_and_open_now_are_in_the_locations_own_timezone(make, talk):
    """A location is open or closed by its own clock, not the server's: Chicago at 9 AM is open, Tokyo at midnight
    is closed and says when it opens."""
    biz = make.business()
    tokyo = make.location(biz.agent, "Tokyo office", timezone="Asia/Tokyo")
    tokyo_page = make.account(biz.agent, "facebook", tokyo)

    chicago_ctx = build_context(talk.conversation(biz.account), now=MONDAY_15_UTC)
    tokyo_ctx = build_context(talk.conversation(tokyo_page), now=MONDAY_15_UTC)

    chicago = chicago_ctx.location.hours
    assert chicago.local_now.hour == 9 and chicago.local_now.strftime("%A") == "Monday"
    assert chicago.open_now is True and chicago.today == "9 AM–5 PM"
    assert chicago.closes_at.hour == 17

    tokyo_hours = tokyo_ctx.location.hours
    assert tokyo_hours.local_now.strftime("%A %H:%M") == "Tuesday 00:00"
    assert tokyo_hours.open_now is False
    assert tokyo_hours.next_opening.strftime("%A %H:%M") == "Tuesday 09:00"
    assert "CLOSED now" in render_system_prompt(tokyo_ctx)
    assert "OPEN now" in render_system_prompt(chicago_ctx)


def test_holiday_exceptions_show_in_today_and_this_week(make, talk):
    """On Thanksgiving the office is closed even though it is a weekday, and the week's hours say so."""
    biz = make.business()
    hours = dict(biz.location.hours, exceptions=[{"date": "2026-11-26", "hours": [], "note": "Thanksgiving"}])
    biz.location.hours = hours
    make.db.session.commit()
    thanksgiving_noon = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # Thursday, noon in Chicago

    ctx = build_context(talk.conversation(biz.account), now=thanksgiving_noon)

    assert ctx.location.hours.open_now is False
    assert ctx.location.hours.today == "Closed (Thanksgiving)"
    assert ctx.location.hours.week[0] == "Thursday Nov 26: Closed (Thanksgiving)"
    assert ctx.location.hours.week[1] == "Friday Nov 27: 9 AM–5 PM"
    assert "Thursday Nov 26: Closed (Thanksgiving)" in render_system_prompt(ctx)


def test_listings_and_knowledge_come_from_this_location_and_the_agent(make, talk):
    """The AI sees this location's homes and FAQs plus the agent-wide ones, never another location's or agent's."""
    biz = make.business()
    other_location = make.location(biz.agent, "Elsewhere")
    other_agent = make.agent(biz.org)
    make.knowledge(
        biz.agent,
        biz.location,
        kind="property",
        title="Lot 14 — 3BR/2BA",
        body="Corner lot.",
        data={"lot": 14, "beds": 3, "baths": 2, "sqft": 1480, "price": 79900, "status": "available"},
    )
    make.knowledge(biz.agent, biz.location, kind="faq", title="Lot rent?", body="$600", data={"keywords": ["rent"]})
    make.knowledge(biz.agent, None, kind="policy", title="Emergencies", body="Call 911.", data={"handoff": True})
    make.knowledge(biz.agent, other_location, kind="faq", title="Elsewhere's FAQ", body="not here")
    make.knowledge(other_agent, None, kind="faq", title="Other agent's FAQ", body="not ours")
    make.knowledge(biz.agent, None, kind="faq", title="Retired FAQ", body="old", active=False)

    ctx = build_context(talk.conversation(biz.account), now=MONDAY_15_UTC)

    [home] = ctx.listings
    assert (home.lot, home.beds, home.baths, home.sqft, home.price, home.status) == (
        "14",
        3,
        2,
        1480,
        79900,
        "available",
    )
    titles = [k.title for k in ctx.knowledge]
    assert titles == ["Lot rent?", "Emergencies"]  # the location's own first
    assert ctx.knowledge[1].handoff is True
    prompt = render_system_prompt(ctx)
    assert "Lot 14 — 3BR/2BA, 1,480 sq ft, $79,900 (available)" in prompt
    assert "Elsewhere's FAQ" not in prompt and "Other agent's FAQ" not in prompt and "Retired" not in prompt


def test_history_spans_the_customers_channels_and_skips_deleted_messages(make, talk, db):
    """The same customer's messages on Instagram and email are in the history, marked with channel and sender;
    deleted messages and replies that never left are not; the latest burst is what the reply answers."""
    biz = make.business()
    ig = make.account(biz.agent, "instagram", biz.location)
    mail = make.account(biz.agent, "email", biz.location, account_id="office@example.com")
    customer = talk.contact(biz.org.id, "Sam Lee")
    stranger = talk.contact(biz.org.id, "Somebody Else")

    on_ig = talk.conversation(ig, customer)
    talk.say(on_ig, "Saw your post about lot 14")
    talk.say(on_ig, "It's still available!", sender="ai")
    on_mail = talk.conversation(mail, customer)
    talk.say(on_mail, "Sending my application")
    talk.say(on_mail, "Got it, thanks", sender="human")
    talk.say(on_mail, "a reply that bounced", sender="ai", error="550 mailbox full").status = "failed"
    db.session.commit()
    talk.say(talk.conversation(biz.account, stranger), "someone else's secret")
    on_fb = talk.conversation(biz.account, customer)
    talk.say(on_fb, "hello again")
    talk.say(on_fb, "I said something rude", deleted_at=MONDAY_15_UTC)
    talk.say(on_fb, "when can I move in?")
    talk.say(on_fb, "and is there a deposit?")

    ctx = build_context(on_fb, now=MONDAY_15_UTC + timedelta(hours=2))

    assert [(m.channel, m.speaker, m.content) for m in ctx.history] == [
        ("instagram", "customer", "Saw your post about lot 14"),
        ("instagram", "assistant", "It's still available!"),
        ("email", "customer", "Sending my application"),
        ("email", "team member", "Got it, thanks"),
    ]
    assert [m.content for m in ctx.pending] == ["hello again", "when can I move in?", "and is there a deposit?"]
    assert ctx.question == "hello again\nwhen can I move in?\nand is there a deposit?"
    prompt = render_system_prompt(ctx)
    assert "instagram, another conversation · customer] Saw your post about lot 14" in prompt
    assert "email, another conversation · team member] Got it, thanks" in prompt
    for hidden in ("rude", "bounced", "someone else's secret"):
        assert hidden not in prompt and hidden not in ctx.question


def test_instagram_story_reply_says_which_story(make, talk):
    """A reply to a story tells the AI which story it was about."""
    biz = make.business()
    ig = make.account(biz.agent, "instagram", biz.location)
    conversation = talk.conversation(ig)
    story = {"id": "17900000000000001", "url": "https://lookaside.example/story/1.jpg"}
    talk.say(conversation, "is this one still for sale?", meta={"reply_to": {"story": story}})

    ctx = build_context(conversation, now=MONDAY_15_UTC)

    assert ctx.story_reply == story
    assert "replying to the business's Instagram story 17900000000000001" in ctx.question
    assert "https://lookaside.example/story/1.jpg" in render_system_prompt(ctx)
    assert ctx.channel.max_length == 1000 and ctx.channel.length_unit == "bytes"


def test_general_inbox_gets_agent_wide_knowledge_and_the_locations(demo, talk, db):
    """A message to the general inbox has no one location: the AI gets the agent-wide FAQs and policies and every
    community with its address, phone and today's hours, and every community's homes for sale, each with where it is."""
    general = db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == "info@mhpcommunities.com"))
    conversation = talk.conversation(general)
    talk.say(conversation, "Do you have anything in Florida?")

    ctx = build_context(conversation, now=MONDAY_15_UTC)

    assert ctx.location is None and ctx.listings
    names = {loc.id: loc.name for loc in db.session.query(Location)}
    assert all(names[x.location_id] == x.location_name for x in ctx.listings)
    assert {x.status for x in ctx.listings} <= {"available", "pending"}
    assert len({x.location_id for x in ctx.listings}) == 20
    assert {k.title for k in ctx.knowledge} == {
        "Do you allow pets?",
        "How do I apply?",
        "Can I bring my own home?",
        "Do you offer financing?",
        "Maintenance emergencies",
        "Quiet hours",
    }
    assert len(ctx.locations) == 20 == db.session.query(Location).count()
    assert ctx.channel.email is True
    prompt = render_system_prompt(ctx)
    assert "general inbox" in prompt
    assert "- Palm Harbor Village: 3300 Alt 19 N, Palm Harbor, FL 34683, (727) 555-0102" in prompt
    palm = next(x for x in ctx.listings if x.location_name == "Palm Harbor Village")
    assert f"- Palm Harbor Village: {palm.summary()}" in prompt


def test_demo_location_context_is_what_the_model_is_sent(demo, talk, db):
    """For a demo community the system prompt carries its name, address, phone, booking link and homes, and the
    customer's words are the user message."""
    page = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == "Forge Lake Community"))
    conversation = talk.conversation(page)
    talk.say(conversation, "any 3 bedroom homes?")

    system, user = build_messages(build_context(conversation, now=MONDAY_15_UTC))

    assert system["role"] == "system" and user == {"role": "user", "content": "any 3 bedroom homes?"}
    for fact in (
        "Location: Forge at the Lake",
        "Address: 4100 Lakeshore Dr, Conroe, TX 77356",
        "Phone: (936) 555-0141",
        "Book a tour: https://book.mhpcommunities.com/forge-at-the-lake",
        "Facebook Messenger",
        "at most 2000 characters",
        '"quick_replies"',
    ):
        assert fact in system["content"]
    assert system["content"].count("\n- Lot ") >= 3
