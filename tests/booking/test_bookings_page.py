"""The Bookings page and the tours in a conversation: a location's tours with their status, staff marking no-shows,
moving and cancelling a tour for the customer through the booking service (the calendar follows), the customer told
on their channel when it still allows a message (and the page saying so when it does not), scoped to the
organization and to a manager's locations."""

from __future__ import annotations

from datetime import UTC, timedelta
from html import unescape

from sqlalchemy import select

from chatpad.booking import service
from chatpad.models import Message, utcnow
from tests.conftest import csrf_from, login

from .test_booking import ADA, weekday_at


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return unescape(response.get_data(as_text=True))


def booked_in_conversation(make, inbox_make, connect, tour_type, *, wrote_ago=timedelta(minutes=5), hour=10):
    biz = make.business()
    tour_type(biz.location)
    calendar = connect(biz.location, "google", name="Maria's calendar")
    conversation = inbox_make.conversation(biz.account)
    inbox_make.message(conversation, "Can I see it Tuesday at 10?", at=utcnow() - wrote_ago)
    booking = service.book(biz.location, weekday_at(hour), customer=ADA, channel="facebook", conversation=conversation)
    return biz, calendar, conversation, booking


def test_upcoming_tours_are_listed_with_status_calendar_and_conversation(
    client, db, make, inbox_make, connect, tour_type
):
    biz, calendar, conversation, booking = booked_in_conversation(make, inbox_make, connect, tour_type)
    login(client, biz.user.email)
    html = page(client, f"/admin/bookings/?location={biz.location.id}")
    row = html[html.index(f'data-booking-id="{booking.id}"') :]
    assert "Booked" in row and "Ada Lovelace" in row and "ada@example.com" in row
    assert "Maria's calendar" in row and "Facebook · by the AI" in row
    assert f"/admin/inbox/c/{conversation.id}" in row
    local = weekday_at(10)
    assert f"{local:%a %b} {local.day}, 10:00 AM Central Time" in row
    # The same tour is shown in its conversation.
    thread = page(client, f"/admin/inbox/c/{conversation.id}")
    tours = thread[thread.index('id="tours"') :]
    assert f'data-booking-id="{booking.id}"' in tours and "Booked" in tours


def test_staff_mark_a_past_tour_as_a_no_show_but_not_a_future_one(client, db, make, inbox_make, connect, tour_type):
    biz, _, _, booking = booked_in_conversation(make, inbox_make, connect, tour_type)
    login(client, biz.user.email)
    token = csrf_from(page(client, f"/admin/bookings/?location={biz.location.id}"))
    early = client.post(f"/admin/bookings/{booking.id}/no-show", data={"csrf_token": token}, follow_redirects=True)
    assert "once its time has come" in unescape(early.get_data(as_text=True))
    db.session.refresh(booking)
    assert booking.status == "confirmed"
    booking.start_at, booking.end_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1, minutes=30)
    db.session.commit()
    html = page(client, f"/admin/bookings/?location={biz.location.id}&show=past")
    assert "Mark no-show" in html
    client.post(f"/admin/bookings/{booking.id}/no-show", data={"csrf_token": token})
    db.session.refresh(booking)
    assert booking.status == "no_show"
    assert "No-show" in page(client, f"/admin/bookings/?location={biz.location.id}&show=past")
    client.post(f"/admin/bookings/{booking.id}/no-show", data={"csrf_token": token, "undo": "1"})
    db.session.refresh(booking)
    assert booking.status == "confirmed"


def test_moving_a_tour_moves_the_event_and_tells_the_customer_on_messenger(
    client, db, make, inbox_make, connect, calendar_sandbox, tour_type
):
    biz, calendar, conversation, booking = booked_in_conversation(make, inbox_make, connect, tour_type)
    login(client, biz.user.email)
    token = csrf_from(page(client, f"/admin/bookings/?location={biz.location.id}"))
    new = weekday_at(14)
    answer = client.post(
        f"/admin/bookings/{booking.id}/reschedule",
        data={"csrf_token": token, "start": new.strftime("%Y-%m-%dT%H:%M")},
        follow_redirects=True,
    )
    text = unescape(answer.get_data(as_text=True))
    assert "Moved to" in text and "The customer is being told on" in text
    db.session.refresh(booking)
    assert booking.start_at == new.astimezone(UTC) and booking.sequence == 1
    (event,) = calendar_sandbox.tours("google", calendar.account)
    assert event["start"] == new.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    told = db.session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.direction == "outbound")
    ).all()
    assert any("has been moved to" in m.content and "2:00 PM" in m.content for m in told)


def test_a_taken_time_is_refused_with_the_nearest_free_ones(
    client, db, make, inbox_make, connect, calendar_sandbox, tour_type
):
    biz, calendar, _, booking = booked_in_conversation(make, inbox_make, connect, tour_type)
    calendar_sandbox.busy("google", calendar.account, weekday_at(14), weekday_at(15))
    login(client, biz.user.email)
    token = csrf_from(page(client, f"/admin/bookings/?location={biz.location.id}"))
    answer = client.post(
        f"/admin/bookings/{booking.id}/reschedule",
        data={"csrf_token": token, "start": weekday_at(14).strftime("%Y-%m-%dT%H:%M")},
        follow_redirects=True,
    )
    text = unescape(answer.get_data(as_text=True))
    assert "Not moved" in text and "The nearest free times" in text
    db.session.refresh(booking)
    assert booking.start_at == weekday_at(10).astimezone(UTC)
    bad = client.post(f"/admin/bookings/{booking.id}/reschedule", data={"csrf_token": token, "start": "soon"})
    assert bad.status_code == 302


def test_cancelling_outside_the_window_says_the_customer_was_not_told_there(
    client, db, make, inbox_make, connect, calendar_sandbox, tour_type
):
    """Messenger allows a person's message for 7 days after the customer's last one: later, the page says so
    instead of claiming the customer was told."""
    biz, calendar, conversation, booking = booked_in_conversation(
        make, inbox_make, connect, tour_type, wrote_ago=timedelta(days=8)
    )
    login(client, biz.user.email)
    token = csrf_from(page(client, f"/admin/bookings/?location={biz.location.id}"))
    answer = client.post(
        f"/admin/bookings/{booking.id}/cancel",
        data={"csrf_token": token, "reason": "Office closed"},
        follow_redirects=True,
    )
    text = unescape(answer.get_data(as_text=True))
    assert "Cancelled the tour" in text and "Not told on" in text
    db.session.refresh(booking)
    assert booking.status == "cancelled" and booking.cancel_reason == "Office closed"
    assert calendar_sandbox.tours("google", calendar.account) == []
    assert "Office closed" in page(client, f"/admin/bookings/?location={biz.location.id}&show=cancelled")


def test_another_organization_or_location_sees_none_of_it(client, db, make, inbox_make, connect, tour_type):
    biz, _, _, booking = booked_in_conversation(make, inbox_make, connect, tour_type)
    other = make.business()
    login(client, other.user.email)
    assert client.get(f"/admin/bookings/?location={biz.location.id}").status_code == 404
    html = page(client, "/admin/bookings/")
    assert str(booking.id) not in html
    token = csrf_from(html)
    for action in ("no-show", "cancel", "reschedule"):
        assert client.post(f"/admin/bookings/{booking.id}/{action}", data={"csrf_token": token}).status_code == 404
    db.session.refresh(booking)
    assert booking.status == "confirmed"


def test_a_manager_of_another_location_does_not_see_its_tours(app, db, make, inbox_make, connect, tour_type):
    from chatpad.team import set_locations

    biz, _, _, booking = booked_in_conversation(make, inbox_make, connect, tour_type)
    elsewhere = make.location(biz.agent, "Pine Ridge")
    manager = make.user(biz.org, role="agent")
    set_locations(manager, [elsewhere.id])
    db.session.commit()
    client = app.test_client()
    login(client, manager.email)
    assert client.get(f"/admin/bookings/?location={biz.location.id}").status_code == 404
    assert str(booking.id) not in page(client, f"/admin/bookings/?location={elsewhere.id}")
