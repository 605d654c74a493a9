"""The offline AI on the demo business: what a customer asks, what they are told, and when a person takes over.

Expected facts are computed from chatpad/demo_data.py (the seed), so the table checks behaviour, not copied text.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.ai import AIError, compose_reply
from chatpad.hours import Schedule
from chatpad.models import Agent, SocialAccount

FORGE = next(loc for loc in D.LOCATIONS if loc.slug == "forge-at-the-lake")
HOURS = Schedule.from_json(D.location_hours(FORGE))
HOURS_TZ = ZoneInfo(FORGE.timezone)
HOMES = D.location_listings(FORGE)
AVAILABLE = [h["data"] for h in HOMES if h["data"]["status"] == "available"]
MONDAY_9AM_CHICAGO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
SUNDAY_10PM_CHICAGO = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
PETS = D.AGENT_FAQS[0]["body"]
APPLY = D.AGENT_FAQS[1]["body"]
FINANCING = D.AGENT_FAQS[3]["body"]
EMERGENCY = D.AGENT_POLICIES[0]["body"]


def _clock(value) -> str:
    return datetime.combine(date.today(), value).strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")


def _lot(status: str) -> int:
    return next(h["data"]["lot"] for h in HOMES if h["data"]["status"] == status)


@pytest.fixture
def ask(demo, talk, db):
    """Ask the AI one question as a new customer of a demo account; returns the OutboundReply."""

    def ask_(text: str, *, account: str = "Forge Lake Community", at: datetime = MONDAY_9AM_CHICAGO, **kw):
        page = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == account))
        conversation = talk.conversation(page)
        talk.say(conversation, text, **kw)
        return compose_reply(conversation, now=at)

    return ask_


def test_greeting_names_the_community_and_offers_choices(ask):
    """A hello gets a friendly answer from the right community with tappable suggestions."""
    reply = ask("hi")
    assert reply.text.startswith("Hi Jamie! I'm the MHP Communities Assistant for Forge at the Lake.")
    assert [q.title for q in reply.quick_replies] == ["Available homes", "Office hours", "Book a tour", "Lot rent"]
    assert reply.handoff is False and reply.sender_type == "ai"


def test_every_suggestion_it_offers_is_understood(ask):
    """Tapping any suggested quick reply (its title comes back as the customer's text) gets a real answer."""
    for title in ("Available homes", "Office hours", "Book a tour", "Lot rent", "Directions", "Financing"):
        reply = ask(title)
        assert reply.handoff is False, title
        assert reply.extra["trace"]["intents"] != ["unknown"], title


def test_open_now_in_the_locations_timezone(ask):
    """'Are you open?' at 9 AM Monday in Conroe: yes, until closing; at 10 PM Sunday: no, and when it opens."""
    monday = MONDAY_9AM_CHICAGO.astimezone(HOURS_TZ).date()
    closes = HOURS.intervals_on(monday)[0][-1][1]
    reply = ask("are you open?")
    assert reply.text == f"Yes, the Forge at the Lake office is open right now until {_clock(closes)} today."

    opens = HOURS.intervals_on(monday)[0][0][0]
    reply = ask("are you open?", at=SUNDAY_10PM_CHICAGO)
    assert reply.text == f"The Forge at the Lake office is closed right now. We open again tomorrow at {_clock(opens)}."
    assert reply.handoff is False


@pytest.mark.parametrize(
    ("question", "day"),
    [("open Saturday?", date(2026, 12, 5)), ("are you open tomorrow", date(2026, 12, 1))],
)
def test_hours_of_a_named_day(ask, question, day):
    """'Open Saturday?' answers with that day's hours, the next Saturday from the customer's today."""
    span = HOURS.describe_day(day)
    reply = ask(question)
    assert span in reply.text and "open right now" not in reply.text


def test_weekly_hours_include_holiday_exceptions(ask):
    """'What are your hours?' in Thanksgiving week lists the week, the holiday closure included."""
    reply = ask("what are your hours?", at=datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    assert "Thursday Nov 26: Closed (Thanksgiving)" in reply.text
    assert "Friday Nov 27: 10 AM–2 PM (Day after Thanksgiving)" in reply.text
    assert "Quiet hours" not in reply.text  # an FAQ that merely contains "hours" is not the answer


@pytest.mark.parametrize(
    ("question", "expected", "button"),
    [
        ("where are you located?", [FORGE.address, "https://maps.google.com/?q="], None),
        ("what's your phone number?", [FORGE.phone], ("phone_number", "+19365550141")),
        # The demo community's calendar is connected (the sandbox's): open times, with the time zone, not the link.
        ("I'd like to book a tour", ["The next open times (Central Time, CST)"], None),
        ("how much is lot rent?", [f"${FORGE.lot_rent}/month"], None),
        ("do you allow dogs?", [PETS], None),
        ("How do I apply?", [APPLY], None),
        ("pets and financing?", [PETS, FINANCING], None),
        ("Hello, what's the address and phone number?", [FORGE.address, FORGE.phone], None),
        ("thanks!", ["You're welcome!"], None),
    ],
)
def test_answers_from_the_communitys_knowledge(ask, question, expected, button):
    """Address, phone, tours, lot rent, FAQs (one or two at once) are answered from the community's own data."""
    reply = ask(question)
    for fact in expected:
        assert fact in reply.text, (question, reply.text)
    assert reply.handoff is False
    if button:
        assert (reply.buttons[0].type, reply.buttons[0].payload) == button


def test_listings_by_bedrooms(ask):
    """'Any 3 bedroom homes?' lists every available 3-bedroom home with its price, and no other home."""
    reply = ask("any 3 bedroom homes?")
    for home in AVAILABLE:
        shown = f"Lot {home['lot']} —" in reply.text
        assert shown == (home["beds"] == 3), home
        if shown:
            assert f"${home['price']:,}" in reply.text
    assert FORGE.booking_url in reply.text
    assert "Book a tour" in [q.title for q in reply.quick_replies]


def test_listings_under_a_price(ask):
    """'Homes under $80k' lists the available homes at or below $80,000, cheapest first."""
    reply = ask("homes under $80k")
    cheap = sorted((h for h in AVAILABLE if h["price"] <= 80000), key=lambda h: h["price"])
    assert cheap, "the demo has a home under $80k at Forge at the Lake"
    positions = [reply.text.index(f"Lot {h['lot']} —") for h in cheap]
    assert positions == sorted(positions)
    for home in AVAILABLE:
        if home["price"] > 80000:
            assert f"Lot {home['lot']} —" not in reply.text


def test_a_lot_by_number(ask):
    """'Is lot N available?' gives that home's status; a lot that is not listed goes to a person."""
    available, pending = _lot("available"), _lot("pending")
    assert f"Yes — Lot {available} is available" in ask(f"is lot {available} available?").text
    assert f"Lot {pending} is pending" in ask(f"Is lot #{pending} still for sale?").text
    unknown = ask("is lot 999 available?")
    assert unknown.handoff is True and "Lot 999" in unknown.extra["handoff_reason"]


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("There's a gas leak in my kitchen!", "Policy: Maintenance emergencies"),
        ("can I talk to a real person?", "Customer asked for a person"),
        ("I want to speak with the manager", "Customer asked for a person"),
        ("What's the airspeed velocity of an unladen swallow?", "No confident answer"),
    ],
)
def test_hands_off_when_it_should(ask, question, reason):
    """Emergencies (a policy that says so), a request for a person and questions it cannot answer go to a person,
    and the customer is told so, with the office phone for anything urgent."""
    reply = ask(question)
    assert reply.handoff is True
    assert reply.extra["handoff_reason"] == reason
    assert reply.quick_replies == []
    assert FORGE.phone in reply.text or EMERGENCY in reply.text


def test_after_hours_handoff_says_when_the_team_will_answer(ask):
    """At night the customer learns the team answers when the office opens."""
    reply = ask("can I talk to someone?", at=SUNDAY_10PM_CHICAGO)
    assert reply.handoff is True
    assert "when it opens (tomorrow at " in reply.text


def test_email_gets_a_greeting_and_paragraphs_and_no_buttons(ask):
    """On email the answer opens with the customer's name, is in paragraphs and carries no quick replies."""
    reply = ask("what are your hours and do you allow pets?", account="forge@mhpcommunities.com")
    assert reply.text.startswith("Hi Jamie,\n\n")
    assert PETS in reply.text and "\n\n" in reply.text
    assert reply.quick_replies == [] and reply.buttons == []


def test_instagram_story_reply(ask):
    """A reply to the community's story is acknowledged and the question still answered."""
    story = {"reply_to": {"story": {"id": "1790", "url": "https://cdn.example/story.jpg"}}}
    reply = ask("how much is lot rent?", account="@forgelakemhp", meta=story)
    assert reply.text.startswith("Thanks for replying to our story!")
    assert f"${FORGE.lot_rent}/month" in reply.text
    assert reply.buttons == []  # Instagram gets links in the text instead


def test_general_inbox_asks_which_community_and_answers_for_a_named_one(ask):
    """The general inbox lists the communities when it matters and answers for a community the customer names."""
    general = "info@mhpcommunities.com"
    hello = ask("hi", account=general)
    assert "We have 20 communities in Arizona, Florida, Georgia, North Carolina and Texas." in hello.text

    hours = ask("what are your hours?", account=general)
    assert "Which community do you mean?" in hours.text and "• Forge at the Lake — Conroe, TX" in hours.text

    desert = next(loc for loc in D.LOCATIONS if loc.slug == "desert-bloom")
    named = ask("what's the address of Desert Bloom?", account=general)
    assert desert.address in named.text

    florida = ask("Do you have communities in Florida?", account=general)
    assert all(loc.name in florida.text for loc in D.LOCATIONS if loc.state == "FL")
    assert "Forge at the Lake" not in florida.text

    pets = ask("do you allow pets?", account=general)
    assert PETS in pets.text and pets.handoff is False


def test_same_question_same_answer(ask):
    """The offline AI is deterministic."""
    assert ask("any homes under $100k?").text == ask("any homes under $100k?").text


def test_quick_reply_titles_fit_messenger(ask):
    """Suggestions are at most 20 characters (Messenger's limit) and at most 13."""
    for question in ("hi", "any homes?", "what are your hours", "lot rent?"):
        reply = ask(question)
        assert len(reply.quick_replies) <= 13
        assert all(len(q.title) <= 20 and q.payload for q in reply.quick_replies)


def test_an_unknown_provider_is_a_clear_permanent_error(ask, db):
    """An agent set to a provider that does not exist fails with a reason an admin can act on."""
    agent = db.session.scalar(select(Agent))
    agent.ai_settings = {"provider": "gpt-magic"}
    db.session.commit()
    with pytest.raises(AIError) as caught:
        ask("hi")
    assert caught.value.permanent and "gpt-magic" in str(caught.value)


def test_week_lines_start_today(ask):
    """The week's hours start from the customer's today in the community's timezone."""
    reply = ask("what are your hours?")
    first = MONDAY_9AM_CHICAGO.astimezone(HOURS_TZ).date()
    assert f"• Monday Nov 30: {HOURS.describe_day(first)}" in reply.text
    last = first + timedelta(days=6)
    assert f"• Sunday Dec 6: {HOURS.describe_day(last)}" in reply.text


def test_general_inbox_searches_every_communitys_homes(ask):
    """Asked for homes with a budget or a state, the General inbox searches every community's listings and says
    where each home is; a named community gets that community's homes."""
    general = "info@mhpcommunities.com"
    florida = {loc.name for loc in D.LOCATIONS if loc.state == "FL"}
    reply = ask("Do you have any homes for sale in Florida?", account=general)
    lines = [line for line in reply.text.splitlines() if line.startswith("• ")]
    assert lines and "available in Florida" in reply.text
    assert all(any(name in line for name in florida) for line in lines)
    assert all(title in florida for title in reply.quick_replies)

    cheap = ask("any 3 bedroom homes under $65k?", account=general)
    priced = [line for line in cheap.text.splitlines() if line.startswith("• ")]
    assert priced and "available:" in cheap.text, cheap.text
    for line in priced:
        price = int(line.rsplit("$", 1)[1].split()[0].replace(",", ""))
        assert price <= 65_000 and "3BR" in line

    desert = next(loc for loc in D.LOCATIONS if loc.slug == "desert-bloom")
    named = ask("what homes do you have at Desert Bloom?", account=general)
    assert "available at Desert Bloom" in named.text
    theirs = {f"Lot {home['data']['lot']} " for home in D.location_listings(desert)}
    shown = [line for line in named.text.splitlines() if line.startswith("• ")]
    assert shown and all(any(line.startswith(f"• {lot}") for lot in theirs) for line in shown)
