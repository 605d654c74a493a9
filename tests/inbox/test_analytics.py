"""Analytics by channel and location: the numbers, the charts, the CSV, the period, and who may see them."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from chatpad.inbox.analytics import PeriodError, build_report, parse_period
from chatpad.models import utcnow
from tests.conftest import login


@pytest.fixture
def traffic(make, inbox_make):
    """Five conversations in the last week on two locations, one older, one of another business."""
    biz = make.business("Lakeside")
    biz.south = make.location(biz.agent, "South Park")
    biz.mail = make.account(
        biz.agent,
        "email",
        biz.south,
        account_id="south@x.test",
        account_name="south@x.test",
        status="needs_reauth",
        last_error="Token has been expired or revoked.",
    )
    t = utcnow() - timedelta(days=2)
    s = timedelta(seconds=1)

    ai = inbox_make.conversation(biz.account)
    inbox_make.message(ai, "Is lot 14 available?", at=t)
    inbox_make.message(ai, "Yes it is!", direction="outbound", status="delivered", at=t + 30 * s)
    inbox_make.message(ai, "Taken over", direction="outbound", sender_type="system", status="internal", at=t + 40 * s)

    human = inbox_make.conversation(biz.account)
    inbox_make.message(human, "Can I talk to someone?", at=t)
    inbox_make.message(human, "Sure, Pat here.", direction="outbound", sender_type="human", at=t + 600 * s)

    unanswered = inbox_make.conversation(biz.account)
    inbox_make.message(unanswered, "Hello?", at=t)

    mail = inbox_make.conversation(biz.mail)
    inbox_make.message(mail, "Pets allowed?", at=t)
    inbox_make.message(
        mail, "Yes", direction="outbound", status="failed", error="SMTP 550 mailbox unavailable\nmore", at=t + 5 * s
    )
    inbox_make.message(
        mail, "Yes, two pets.", direction="outbound", sender_type="human", status="delivered", at=t + 3600 * s
    )

    taken = inbox_make.conversation(biz.mail, taken_over_at=t + 60 * s, human_takeover=True)
    inbox_make.message(taken, "I need a person", at=t)

    old = inbox_make.conversation(biz.account)
    inbox_make.message(old, "Last month", at=utcnow() - timedelta(days=40))

    rival = make.business("Rival")
    theirs = inbox_make.conversation(rival.account)
    inbox_make.message(theirs, "Not yours", at=t)
    return biz


def test_the_numbers_per_channel_location_and_in_total(db, traffic):
    """Counts, who answered, median first response and failures add up the same way on both databases."""
    report = build_report(traffic.org.id, parse_period({"days": "7"}))
    total = report.total
    assert (total.conversations, total.messages, total.ai, total.human, total.unanswered) == (5, 9, 1, 3, 1)
    assert total.median_first_response == pytest.approx(600)
    assert total.failed == 1 and total.new_conversations == 5

    fb, mail = report.by_channel
    assert (fb.key, fb.conversations, fb.ai, fb.human, fb.unanswered) == ("facebook", 3, 1, 1, 1)
    assert fb.median_first_response == pytest.approx(315)
    assert (mail.key, mail.conversations, mail.human, mail.failed) == ("email", 2, 2, 1)
    assert mail.median_first_response == pytest.approx(3600)

    locations = {s.label: s for s in report.by_location}
    assert locations[traffic.location.name].conversations == 3
    assert locations["South Park"].conversations == 2 and locations["South Park"].failed == 1

    assert report.failures == [{"channel": "email", "reason": "SMTP 550 mailbox unavailable", "count": 1}]
    assert [a.account_name for a in report.reconnect] == ["south@x.test"]
    assert len(report.daily) == 7 and sum(sum(v.values()) for _, v in report.daily) == 9


def test_a_longer_period_includes_older_conversations(db, traffic):
    """The 90-day view counts last month's conversation too."""
    assert build_report(traffic.org.id, parse_period({"days": "90"})).total.conversations == 6


def test_the_page_draws_charts_without_any_library(client, traffic):
    """The analytics page is server-drawn SVG plus tables, with every number readable as text."""
    login(client, traffic.user.email)
    response = client.get("/admin/analytics/?days=7")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("<svg") == 6 and '<script src="http' not in html
    assert "Answered by the AI" in html and "Handed to people" in html
    assert "SMTP 550 mailbox unavailable" in html and "1 account needs reconnection" in html
    assert "Token has been expired or revoked." in html
    assert ">10 min<" in html  # the median first response, as text
    assert "Rival" not in html and "Not yours" not in html


def test_csv_export(client, traffic):
    """The CSV has a row for the total, each channel and each location, and defuses spreadsheet formulas."""
    traffic.location.name = '=HYPERLINK("http://evil")'
    from chatpad.extensions import db

    db.session.commit()
    login(client, traffic.user.email)
    response = client.get("/admin/analytics/export.csv?days=7")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment;" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by = {(r["dimension"], r["name"]): r for r in rows}
    assert by[("total", "All channels")]["conversations"] == "5"
    assert by[("channel", "facebook")]["answered_by_ai"] == "1"
    assert by[("channel", "email")]["median_first_response_seconds"] == "3600"
    assert ("location", '\'=HYPERLINK("http://evil")') in by
    failures = client.get("/admin/analytics/failures.csv?days=7").get_data(as_text=True)
    assert "email,SMTP 550 mailbox unavailable,1" in failures


def test_custom_dates(client, traffic):
    """A date range works; a reversed or malformed one is explained and the default period shown."""
    today = utcnow().date()
    period = parse_period({"start": (today - timedelta(days=3)).isoformat(), "end": today.isoformat()})
    assert period.days is None and (period.last_day - period.first_day).days == 3
    with pytest.raises(PeriodError):
        parse_period({"start": "2026-02-10", "end": "2026-02-01"})
    with pytest.raises(PeriodError):
        parse_period({"start": "yesterday"})
    login(client, traffic.user.email)
    html = client.get("/admin/analytics/?start=2026-02-10&end=2026-02-01").get_data(as_text=True)
    assert "The end date is before the start date." in html and "Last 30 days" in html


def test_period_presets(db):
    """Unknown presets fall back to 30 days; days are whole UTC days ending today."""
    period = parse_period({"days": "13"}, today=date(2026, 3, 10))
    assert period.days == 30 and period.last_day == date(2026, 3, 10) and period.first_day == date(2026, 2, 9)


def test_analytics_is_for_owners_and_admins(client, traffic, make):
    """Agents of the whole business work the inbox but do not see its analytics (an on-site manager sees their
    own locations': tests/inbox/test_locations.py)."""
    agent = make.user(traffic.org, role="agent")
    login(client, agent.email)
    assert client.get("/admin/analytics/").status_code == 403
    assert client.get("/admin/analytics/export.csv").status_code == 403
    assert 'href="/admin/analytics/"' not in client.get("/admin/inbox/").get_data(as_text=True)


def test_first_response_counts_from_the_customers_first_message_in_the_period(db, make, inbox_make):
    """A reply that ended an exchange from before the period is not this period's first response."""
    biz = make.business()
    period = parse_period({"days": "7"})
    start = period.start
    conv = inbox_make.conversation(biz.account)
    inbox_make.message(conv, "Late question", at=start - timedelta(hours=1))
    inbox_make.message(conv, "Late answer", direction="outbound", at=start + timedelta(minutes=1))
    inbox_make.message(conv, "New question", at=start + timedelta(hours=2))
    inbox_make.message(
        conv, "New answer", direction="outbound", sender_type="human", at=start + timedelta(hours=2, minutes=10)
    )
    report = build_report(biz.org.id, period)
    assert report.total.median_first_response == pytest.approx(600)
    assert report.total.human == 1 and report.total.messages == 3


def test_an_automatic_reply_counts_as_answered_without_a_person(db, make, inbox_make):
    """Instagram's story-mention thank-you (an automatic system reply) answers the mention: the conversation is not
    "unanswered", and its first response is the thank-you; the internal "taken over" line answers nothing."""
    biz = make.business()
    t = utcnow() - timedelta(days=1)
    mention = inbox_make.conversation(biz.account)
    inbox_make.message(mention, "[story mention]", at=t)
    inbox_make.message(
        mention,
        "Thanks for the shout-out!",
        direction="outbound",
        sender_type="system",
        status="sent",
        at=t + timedelta(seconds=3),
    )
    internal_only = inbox_make.conversation(biz.account)
    inbox_make.message(internal_only, "Hello?", at=t)
    inbox_make.message(
        internal_only,
        "Handed back to the AI",
        direction="outbound",
        sender_type="system",
        status="internal",
        at=t + timedelta(seconds=5),
    )
    total = build_report(biz.org.id, parse_period({"days": "7"})).total
    assert (total.conversations, total.ai, total.human, total.unanswered) == (2, 1, 0, 1)
    assert total.median_first_response == pytest.approx(3, abs=0.01)  # SQLite: julianday arithmetic


def _snapshot(report) -> dict:
    """Every number the page and its CSV show, except the failure reasons (an erasure keeps counts, not words)."""
    from chatpad.inbox.analytics import csv_rows

    failed_by_channel: dict[str, int] = {}
    for f in report.failures:
        failed_by_channel[f["channel"]] = failed_by_channel.get(f["channel"], 0) + f["count"]
    return {"csv": csv_rows(report), "daily": report.daily, "failed_by_channel": failed_by_channel}


def test_erasing_customers_keeps_every_total(client, db, make, inbox_make, traffic):
    """After an erasure the page and its CSV show the same numbers as before, for any period: the anonymous counts
    are added back, a conversation that spans several days still counts once, and who answered, the median first
    response and the failed sends stay as they were."""
    from chatpad.models import Contact
    from chatpad.privacy import erase_contact

    now = utcnow()
    dana = inbox_make.contact(traffic.org, "Dana Erased")
    chat = inbox_make.conversation(traffic.account, dana)  # five days, answered by the AI, then by a person
    inbox_make.message(chat, "Is the pool open?", at=now - timedelta(days=5))
    inbox_make.message(chat, "Yes, 9 to 9.", direction="outbound", at=now - timedelta(days=5) + timedelta(seconds=20))
    inbox_make.message(chat, "And on Sunday?", at=now - timedelta(days=1))
    inbox_make.message(
        chat, "Sundays too.", direction="outbound", sender_type="human", at=now - timedelta(days=1, seconds=-420)
    )
    mail = inbox_make.conversation(traffic.mail, dana)
    inbox_make.message(mail, "Lot rent?", at=now - timedelta(days=3))
    inbox_make.message(mail, "$450", direction="outbound", status="failed", error="SMTP 451 try later", at=now)
    erased = [dana.id]
    # And two of the fixture's customers: the person who was helped by email, the one taken over.
    for conversation in db.session.scalars(select_conversations(traffic, "email")):
        erased.append(conversation.contact_id)

    today = now.date()
    periods = [
        {"days": "7"},
        {"days": "30"},
        {"days": "90"},
        {"start": (today - timedelta(days=3)).isoformat(), "end": today.isoformat()},  # cuts Dana's chat
        {"start": (today - timedelta(days=5)).isoformat(), "end": (today - timedelta(days=5)).isoformat()},
    ]
    before = [_snapshot(build_report(traffic.org.id, parse_period(p))) for p in periods]
    login(client, traffic.user.email)
    page_before = client.get("/admin/analytics/?days=7").get_data(as_text=True)
    csv_before = client.get("/admin/analytics/export.csv?days=7").get_data(as_text=True)
    assert before[0]["csv"][1][2] == 7  # the total's conversations: the fixture's five and Dana's two

    for contact_id in dict.fromkeys(erased):
        erase_contact(db.session.get(Contact, contact_id), actor=traffic.user)
    db.session.expire_all()
    assert db.session.scalar(select_conversations(traffic, "email")) is None

    after = [_snapshot(build_report(traffic.org.id, parse_period(p))) for p in periods]
    for period, was, now_is in zip(periods, before, after, strict=True):
        assert now_is == was, period
    assert _kpis(client.get("/admin/analytics/?days=7").get_data(as_text=True)) == _kpis(page_before)
    assert client.get("/admin/analytics/export.csv?days=7").get_data(as_text=True) == csv_before
    failures = client.get("/admin/analytics/failures.csv?days=7").get_data(as_text=True)
    assert "SMTP 550" not in failures and "SMTP 451" not in failures  # the reasons went with the messages


def select_conversations(biz, channel: str):
    from sqlalchemy import select

    from chatpad.models import Conversation

    return select(Conversation).where(Conversation.organization_id == biz.org.id, Conversation.channel == channel)


def _kpis(html: str) -> list[str]:
    import re

    return re.findall(r'<div class="kpi-value">([^<]*)</div><div class="kpi-label">([^<]*)</div>', html)


def _tour(db, biz, conversation, *, status="confirmed", location=None, channel=None, created=None, event_id="evt"):
    from chatpad.models import Booking

    start = utcnow() + timedelta(days=3)
    booking = Booking(
        organization_id=biz.org.id,
        agent_id=biz.agent.id,
        location_id=(location or biz.location).id,
        conversation_id=conversation.id if conversation is not None else None,
        channel=channel or (conversation.channel if conversation is not None else "widget"),
        start_at=start,
        end_at=start + timedelta(minutes=30),
        timezone="America/Chicago",
        status=status,
        uid=f"tour-{utcnow().timestamp()}-{status}@x.test",
        event_id=event_id,
    )
    db.session.add(booking)
    db.session.commit()
    if created is not None:
        booking.created_at = created
        db.session.commit()
    return booking


def test_tours_booked_by_channel_and_location_and_the_conversion(client, db, inbox_make, traffic):
    """Of the five conversations this week, two booked a tour (one of them twice, one later cancelled); a tour that
    never reached the calendar, one booked last month and another business's tour do not count."""
    from sqlalchemy import select

    from chatpad.models import Conversation

    convs = db.session.scalars(
        select(Conversation).where(Conversation.organization_id == traffic.org.id).order_by(Conversation.created_at)
    ).all()
    ai, human, mail = convs[0], convs[1], next(c for c in convs if c.channel == "email")
    _tour(db, traffic, ai)
    _tour(db, traffic, ai, status="cancelled")
    _tour(db, traffic, mail, location=traffic.south)
    _tour(db, traffic, human, status="failed", event_id=None)  # the calendar refused it
    _tour(db, traffic, human, created=utcnow() - timedelta(days=40))
    rival = db.session.scalars(select(Conversation).where(Conversation.organization_id != traffic.org.id)).first()
    _tour(db, traffic, rival).organization_id = rival.organization_id
    db.session.commit()

    report = build_report(traffic.org.id, parse_period({"days": "7"}))
    assert (report.total.tours, report.total.converted) == (3, 2)
    assert report.total.conversion == pytest.approx(2 / 5)
    channels = {s.key: s for s in report.by_channel}
    assert (channels["facebook"].tours, channels["facebook"].converted) == (2, 1)
    assert (channels["email"].tours, channels["email"].converted) == (1, 1)
    locations = {s.label: s for s in report.by_location}
    assert locations["South Park"].tours == 1 and locations["South Park"].conversion == pytest.approx(1 / 2)

    login(client, traffic.user.email)
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/analytics/export.csv?days=7").get_data(as_text=True))))
    by = {(r["dimension"], r["name"]): r for r in rows}
    total = by[("total", "All channels")]
    assert (total["tours_booked"], total["conversations_with_a_tour"], total["conversation_to_tour_rate"]) == (
        "3",
        "2",
        "0.400",
    )
    assert by[("location", "South Park")]["tours_booked"] == "1"
    page = client.get("/admin/analytics/?days=7").get_data(as_text=True)
    assert 'id="tours-by-location"' in page and "40.0% of conversations" in page
