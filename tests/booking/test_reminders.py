"""Tour reminders (jobs/reminders.py): 24 h and 1 h before, on the channel the tour was booked on where the platform
allows it (Messenger outside its window with the CONFIRMED_EVENT_UPDATE tag, through the sandbox's Send API, which
refuses an untagged message there), Instagram, the widget and WhatsApp only inside their windows and otherwise by
email, email always; never twice, however often the job runs; scheduled by the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import pytest
from sqlalchemy import select

import jobs
from chatpad.booking.service import Customer
from chatpad.models import Booking, Message, utcnow
from jobs.reminders import EVENT_UPDATE_TAG, reminder_text, route, send_due_reminders

from ..channels.test_facebook_e2e import conversation_of, customer_writes, forget_ai_reply


def tour(db, biz, conversation=None, *, hours_ahead: float, email: str | None = "ada@example.com", channel=None):
    """A confirmed tour `hours_ahead` from now (booked two days ago, so no reminder is 'not needed')."""
    start = (utcnow() + timedelta(hours=hours_ahead)).replace(second=0, microsecond=0)
    booked = (utcnow() - timedelta(days=2)).isoformat()
    booking = Booking(
        organization_id=biz.org.id,
        agent_id=biz.agent.id,
        location_id=biz.location.id,
        conversation_id=conversation.id if conversation else None,
        contact_id=conversation.contact_id if conversation else None,
        channel=channel or (conversation.channel if conversation else "facebook"),
        start_at=start,
        end_at=start + timedelta(minutes=30),
        timezone="America/Chicago",
        status="confirmed",
        customer_name="Ada Lovelace",
        customer_email=email,
        uid=f"tour-{utcnow().timestamp()}@chatpad.test",
        history=[{"at": booked, "what": "confirmed"}],
    )
    db.session.add(booking)
    db.session.commit()
    return booking


def written(inbox_make, biz, channel: str, ago: timedelta, **account):
    account_row = biz.account if channel == "facebook" else None
    if account_row is None:
        from tests.factories import Factories

        account_row = Factories(inbox_make.db).account(biz.agent, channel, biz.location, **account)
    conversation = inbox_make.conversation(account_row)
    inbox_make.message(conversation, "Can I see it Saturday?", at=utcnow() - ago)
    return conversation


@pytest.mark.parametrize(
    ("channel", "ago", "email", "expected"),
    [
        ("facebook", timedelta(hours=2), "ada@example.com", ("channel", None)),
        ("facebook", timedelta(days=3), "ada@example.com", ("channel", EVENT_UPDATE_TAG)),
        ("instagram", timedelta(hours=2), "ada@example.com", ("channel", None)),
        ("instagram", timedelta(days=2), "ada@example.com", ("email", None)),
        ("instagram", timedelta(days=2), None, ("none", None)),
        ("widget", timedelta(hours=3), "ada@example.com", ("channel", None)),
        ("widget", timedelta(days=2), "ada@example.com", ("email", None)),
        ("email", timedelta(days=10), "ada@example.com", ("channel", None)),
        ("whatsapp", timedelta(hours=5), None, ("channel", None)),
        ("whatsapp", timedelta(hours=30), "ada@example.com", ("email", None)),
        ("sms", timedelta(days=30), None, ("channel", None)),
    ],
)
def test_the_channel_rules(db, make, inbox_make, channel, ago, email, expected):
    biz = make.business()
    conversation = written(inbox_make, biz, channel, ago)
    booking = tour(db, biz, conversation, hours_ahead=20, email=email)
    way = route(booking, conversation)
    assert (way.how, way.tag) == expected
    if way.how != "channel":
        assert way.why  # the fallback says why


def test_an_sms_customer_who_texted_stop_is_reminded_by_email(db, make, inbox_make):
    from chatpad.models import ContactIdentity

    biz = make.business()
    conversation = written(inbox_make, biz, "sms", timedelta(hours=1))
    identity = db.session.scalar(select(ContactIdentity).where(ContactIdentity.contact_id == conversation.contact_id))
    identity.opted_out_at, identity.opt_out_reason = utcnow(), "The customer texted STOP."
    db.session.commit()
    way = route(tour(db, biz, conversation, hours_ahead=20), conversation)
    assert way.how == "email" and "STOP" in way.why


def test_the_reminder_says_when_where_and_how_to_reschedule(db, make):
    biz = make.business()
    biz.location.phone = "+1 512 555 0100"
    booking = tour(db, biz, hours_ahead=0)
    booking.start_at = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # Saturday 11:00 in Chicago
    now = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    text = reminder_text(booking, "24h", now=now)
    assert "tomorrow at 11:00 AM Central Time (CST)" in text and biz.location.name in text
    assert "To reschedule or cancel, reply here or call +1 512 555 0100." in text
    assert "in about an hour, at 11:00 AM" in reminder_text(booking, "1h", now=now)
    assert "reply to this email" in reminder_text(booking, "24h", by_email=True, now=now)


def test_messenger_outside_its_window_gets_the_tagged_reminder_once(app, db, make, meta_sandbox, workers):
    """Through the sandbox's Send API, which refuses an untagged message three days after the customer wrote."""
    biz = make.business()
    page_id = meta_sandbox.page_id(0)
    biz.account.account_id, biz.account.access_token = page_id, meta_sandbox.page_token(page_id)
    db.session.commit()
    sent = customer_writes(meta_sandbox, workers, page_id, "Can I see lot 14 on Thursday?")
    conversation = conversation_of(db, biz.account)
    forget_ai_reply(app, conversation.id)
    meta_sandbox.age(page_id, sent["psid"], hours=72)
    conversation.last_inbound_at = utcnow() - timedelta(hours=72)
    db.session.commit()
    booking = tour(db, biz, conversation, hours_ahead=23)
    jobs.set_app(app)
    assert send_due_reminders() == 1
    assert send_due_reminders() == 0  # the next tick: claimed already
    workers.run("outbound")
    tagged = [s for s in meta_sandbox.accepted() if s["json"].get("tag") == EVENT_UPDATE_TAG]
    assert len(tagged) == 1 and tagged[0]["json"]["messaging_type"] == "MESSAGE_TAG"
    db.session.expire_all()
    (reminder,) = db.session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.direction == "outbound")
    ).all()
    assert reminder.status == "sent" and "reminder" in reminder.content and "To reschedule" in reminder.content
    booking = db.session.get(Booking, booking.id)
    assert booking.reminded_24h_at is not None and booking.reminded_1h_at is None
    assert booking.history[-1]["outcome"] == f"queued on Facebook with the {EVENT_UPDATE_TAG} tag"


def test_instagram_outside_its_window_is_reminded_by_email_from_the_locations_inbox(
    app, db, make, inbox_make, make_inbox, smtp_server
):
    biz = make.business()
    inbox, address = make_inbox(biz.agent, biz.location)
    conversation = written(inbox_make, biz, "instagram", timedelta(days=2))
    booking = tour(db, biz, conversation, hours_ahead=0.75)
    before = len(smtp_server.received)
    assert send_due_reminders() == 1
    assert send_due_reminders() == 0
    mails = [message_from_bytes(m.data) for m in smtp_server.received[before:]]
    assert len(mails) == 1 and mails[0]["To"] == "ada@example.com" and address in mails[0]["From"]
    body = (
        mails[0].get_payload(decode=True).decode() if not mails[0].is_multipart() else mails[0].get_body().get_content()
    )
    assert "in about an hour" in body and "To reschedule or cancel, reply to this email" in body
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.reminded_1h_at is not None
    # The 24-hour reminder was claimed too, and not sent: an hour before, it is no longer needed.
    assert booking.reminded_24h_at is not None
    assert [h["outcome"] for h in booking.history if h["what"] == "reminder 24h"] == [
        "not needed: the tour is less than 2 hours away"
    ]


def test_a_tour_moved_gets_its_reminders_again_and_a_cancelled_one_none(db, make, connect, tour_type, app):
    from chatpad.booking import service

    from .test_booking import weekday_at

    jobs.set_app(app)
    biz = make.business()
    tour_type(biz.location)
    connect(biz.location, "google")
    booking = service.book(biz.location, weekday_at(10), customer=Customer(name="Ada"), channel="facebook")
    booking.reminded_24h_at = utcnow()
    db.session.commit()
    service.reschedule(booking, weekday_at(11))
    db.session.refresh(booking)
    assert booking.reminded_24h_at is None  # the new time gets its own reminders
    service.cancel(booking, reason="Customer cancelled")
    booking.start_at = utcnow() + timedelta(minutes=30)
    db.session.commit()
    assert send_due_reminders() == 0
    db.session.refresh(booking)
    assert booking.reminded_1h_at is None


def test_the_scheduler_runs_the_reminders():
    from jobs.scheduler import PERIODIC_JOBS

    assert any(path == "jobs.reminders.send_due_reminders" for path, _queue, _every in PERIODIC_JOBS)
