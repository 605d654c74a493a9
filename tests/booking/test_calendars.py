"""The calendar clients against the sandbox's Google Calendar and Microsoft Graph stand-ins and a real CalDAV server
(Radicale), and a connected calendar's lifecycle: tokens refreshed before they expire, a dead grant marked for
reconnection with the team told once, errors sorted into transient and permanent."""

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar as ICalendar

from chatpad.booking.calendars import check_calendar, credentials, needs_refresh
from chatpad.booking.ics import build_calendar
from chatpad.booking.providers import CalendarAuthError, CalendarError, EventSpec, get_client
from chatpad.models import Notification


def _spec(key="0d6c1f4a-53a1-4a3e-9b1e-7f7a6f5a2b10", start=None, minutes=30, sequence=0, **kw) -> EventSpec:
    start = start or (datetime.now(UTC) + timedelta(days=2)).replace(hour=16, minute=0, second=0, microsecond=0)
    values = dict(
        key=key,
        uid=f"tour-{key}@chatpad.test",
        start=start,
        end=start + timedelta(minutes=minutes),
        timezone="America/Chicago",
        summary="Community tour: Ada Lovelace",
        description="Booked in the conversation.",
        attendee_name="Ada Lovelace",
        attendee_email="ada@example.com",
        sequence=sequence,
    )
    values.update(kw)
    return EventSpec(**values)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_busy_times_include_what_staff_put_in_the_calendar(make, connect, calendar_sandbox, provider):
    biz = make.business()
    calendar = connect(biz.location, provider)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    calendar_sandbox.busy(provider, calendar.account, start, start + timedelta(hours=1))
    busy = get_client(provider).busy(credentials(calendar), start - timedelta(hours=2), start + timedelta(hours=3))
    assert busy == [(start, start + timedelta(hours=1))]


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_creating_the_same_tour_twice_makes_one_event_with_the_customer_and_the_booking_id(
    make, connect, calendar_sandbox, provider
):
    """A retried create (a timeout after the provider made the event) must not make a second one: Google's client
    event id answers 409, Graph's transactionId returns the first event."""
    biz = make.business()
    calendar = connect(biz.location, provider)
    client, creds, spec = get_client(provider), credentials(calendar), _spec()
    first = client.create_event(creds, spec)
    second = client.create_event(creds, spec)
    assert first == second
    tours = calendar_sandbox.tours(provider, calendar.account)
    assert len(tours) == 1
    emails = [a.get("email") or a.get("emailAddress", {}).get("address") for a in tours[0]["attendees"]]
    assert emails == ["ada@example.com"]
    created = [r for r in calendar_sandbox.requests() if r["method"] == "POST" and r["path"].endswith("events")]
    if provider == "google":
        assert created[0]["body"]["id"] == spec.key.replace("-", "")
        assert created[0]["body"]["extendedProperties"]["private"]["chatpad_booking_id"] == spec.key
    else:
        assert created[0]["body"]["transactionId"] == spec.key


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_moving_and_cancelling_a_tour(make, connect, calendar_sandbox, provider):
    biz = make.business()
    calendar = connect(biz.location, provider)
    client, creds, spec = get_client(provider), credentials(calendar), _spec()
    event_id = client.create_event(creds, spec)
    later = spec.start + timedelta(hours=2)
    client.update_event(creds, event_id, _spec(start=later, sequence=1))
    (tour,) = calendar_sandbox.tours(provider, calendar.account)
    assert tour["start"] == later.strftime("%Y-%m-%dT%H:%M:%SZ")
    client.cancel_event(creds, event_id, _spec(start=later, sequence=2))
    assert calendar_sandbox.tours(provider, calendar.account) == []
    client.cancel_event(creds, event_id, _spec(start=later, sequence=2))  # already gone: fine


def test_rate_limits_are_transient_and_carry_retry_after(make, connect, calendar_sandbox):
    biz = make.business()
    google, graph = connect(biz.location, "google"), connect(biz.location, "microsoft")
    now = datetime.now(UTC)
    calendar_sandbox.fail("microsoft", status=429, retry_after=7)
    with pytest.raises(CalendarError) as caught:
        get_client("microsoft").busy(credentials(graph), now, now + timedelta(hours=1))
    assert caught.value.transient and caught.value.retry_after == 7
    calendar_sandbox.fail("google", status=403)  # usageLimits rateLimitExceeded: retry, not reconnect
    with pytest.raises(CalendarError) as caught:
        get_client("google").busy(credentials(google), now, now + timedelta(hours=1))
    assert caught.value.transient and not isinstance(caught.value, CalendarAuthError)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_token_about_to_expire_is_refreshed_before_the_call(db, make, connect, calendar_sandbox, provider):
    biz = make.business()
    calendar = connect(biz.location, provider, expires_in=60)  # inside the 10-minute margin
    old = calendar.access_token
    assert needs_refresh(calendar)
    now = datetime.now(UTC)
    get_client(provider).busy(credentials(calendar), now, now + timedelta(hours=1))
    db.session.refresh(calendar)
    assert calendar.access_token != old
    assert calendar.token_expires_at > now + timedelta(minutes=50)
    assert not needs_refresh(calendar)


def test_an_expired_token_the_provider_refuses_is_an_auth_error(make, connect, calendar_sandbox):
    biz = make.business()
    calendar = connect(biz.location, "microsoft", expires_in=-10)  # expired at the provider
    creds = credentials(calendar, force_refresh=False)
    stale = type(creds)(**{**creds.__dict__, "secret": "EwB.sbx.not-a-token.sig"})
    with pytest.raises(CalendarAuthError):
        get_client("microsoft").busy(stale, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=1))


def test_a_revoked_grant_marks_the_calendar_for_reconnection_and_tells_the_team_once(
    db, make, connect, calendar_sandbox, sandbox_server
):
    import requests

    biz = make.business()
    calendar = connect(biz.location, "google", name="Front desk", expires_in=1)
    requests.post(
        f"{sandbox_server.url}/sandbox-api/oauth/revoke",
        json={"provider": "google", "email": calendar.account},
        timeout=5,
    ).raise_for_status()
    assert check_calendar(calendar) == "needs_reauth"
    assert check_calendar(calendar) == "needs_reauth"
    db.session.refresh(calendar)
    assert calendar.status == "needs_reauth" and "refused" in calendar.last_error
    notices = db.session.query(Notification).filter_by(kind="calendar_needs_reauth").all()
    assert len(notices) == 1 and "Front desk" in notices[0].title and "Reconnect" in notices[0].body


# --- CalDAV, against Radicale ---------------------------------------------------------------------------------------


def test_caldav_busy_times_come_from_the_free_busy_report(make, connect, radicale):
    biz = make.business()
    calendar = connect(biz.location, "caldav")
    start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=1)
    radicale.add_event(calendar.remote_id, "ana", start, start + timedelta(minutes=45))
    busy = get_client("caldav").busy(credentials(calendar), start - timedelta(hours=1), start + timedelta(hours=2))
    assert busy == [(start, start + timedelta(minutes=45))]


def test_caldav_events_keep_one_uid_through_create_retry_move_and_cancel(make, connect, radicale):
    biz = make.business()
    calendar = connect(biz.location, "caldav")
    client, creds, spec = get_client("caldav"), credentials(calendar), _spec()
    client.create_event(creds, spec)
    client.create_event(creds, spec)  # a retry overwrites the same resource
    (event,) = radicale.events(calendar.remote_id, "ana")
    vevent = event.icalendar_component
    assert str(vevent["uid"]) == spec.uid and str(vevent["attendee"]) == "mailto:ada@example.com"
    client.update_event(creds, spec.uid, _spec(start=spec.start + timedelta(hours=1), sequence=1))
    (event,) = radicale.events(calendar.remote_id, "ana")
    assert event.icalendar_component["dtstart"].dt == spec.start + timedelta(hours=1)
    assert int(event.icalendar_component["sequence"]) == 1
    client.cancel_event(creds, spec.uid, spec)
    assert radicale.events(calendar.remote_id, "ana") == []


def test_caldav_wrong_password_and_wrong_address_say_what_failed(make, connect, radicale):
    biz = make.business()
    calendar = connect(biz.location, "caldav")
    creds = credentials(calendar)
    now = datetime.now(UTC)
    wrong = type(creds)(**{**creds.__dict__, "secret": "not-the-password"})
    with pytest.raises(CalendarAuthError, match="user name or password"):
        get_client("caldav").busy(wrong, now, now + timedelta(hours=1))
    missing = type(creds)(**{**creds.__dict__, "remote_id": creds.remote_id.rstrip("/") + "-nope/"})
    with pytest.raises(CalendarError, match="no calendar at that address"):
        get_client("caldav").busy(missing, now, now + timedelta(hours=1))


# --- iCalendar ------------------------------------------------------------------------------------------------------


def test_invitations_are_itip_requests_and_a_cancel_outranks_the_last_request():
    spec = _spec(sequence=2, organizer_email="tours@lakeside.example")
    request = ICalendar.from_ical(build_calendar(spec, method="REQUEST"))
    cancel = ICalendar.from_ical(
        build_calendar(_spec(sequence=3, organizer_email=spec.organizer_email), method="CANCEL")
    )
    (req_event,), (cancel_event,) = request.walk("VEVENT"), cancel.walk("VEVENT")
    assert str(request["method"]) == "REQUEST" and str(cancel["method"]) == "CANCEL"
    assert req_event["uid"] == cancel_event["uid"]
    assert int(cancel_event["sequence"]) > int(req_event["sequence"])
    assert str(cancel_event["status"]) == "CANCELLED"
    assert str(req_event["organizer"]) == "mailto:tours@lakeside.example"
    stored = ICalendar.from_ical(build_calendar(spec))
    assert "method" not in stored  # a CalDAV calendar object carries no METHOD
