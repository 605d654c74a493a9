"""Admin forms: hours a person can edit, and bad input that explains itself without half-saving."""

from chatpad.models import Location
from tests.conftest import csrf_from, login


def _location_form(page: str, agent_id, **overrides) -> dict:
    data = {
        "agent": str(agent_id),
        "name": "Lakeside",
        "timezone": "America/Chicago",
        "address": "1 Lake Rd",
        "phone": "",
        "email": "",
        "website": "",
        "booking_url": "",
        "csrf_token": csrf_from(page),
        "hours-mon-open-0": "09:00",
        "hours-mon-close-0": "12:00",
        "hours-mon-open-1": "13:00",
        "hours-mon-close-1": "17:00",
        "hours-sun-closed": "1",
        "hours-exc-0-date": "2026-12-25",
        "hours-exc-0-closed": "1",
        "hours-exc-0-note": "Christmas",
    }
    data.update(overrides)
    return data


def test_create_location_with_hours(client, db, make):
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/locations/new/").get_data(as_text=True)
    assert 'name="hours-mon-open-0"' in page and 'type="time"' in page
    response = client.post("/admin/locations/new/", data=_location_form(page, biz.agent.id))
    assert response.status_code == 302
    loc = db.session.query(Location).filter_by(name="Lakeside").one()
    assert loc.hours["weekly"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert loc.hours["weekly"]["sun"] == []
    assert loc.hours["exceptions"] == [{"date": "2026-12-25", "hours": [], "note": "Christmas"}]

    edit = client.get(f"/admin/locations/edit/?id={loc.id}").get_data(as_text=True)
    assert 'value="13:00"' in edit and 'value="Christmas"' in edit


def test_overlapping_hours_are_explained_and_nothing_saved(client, db, make):
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/locations/new/").get_data(as_text=True)
    response = client.post(
        "/admin/locations/new/",
        data=_location_form(page, biz.agent.id, **{"hours-mon-open-1": "11:00"}),
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Monday: 09:00–12:00 overlaps 11:00–17:00." in body
    assert 'value="11:00"' in body  # what the person typed is still there to fix
    assert db.session.query(Location).filter_by(name="Lakeside").count() == 0


def test_unknown_timezone_is_refused(client, db, make):
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/locations/new/").get_data(as_text=True)
    response = client.post("/admin/locations/new/", data=_location_form(page, biz.agent.id, timezone="Mars/Base"))
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.query(Location).filter_by(name="Lakeside").count() == 0


def test_user_form_sets_password_and_refuses_self_demotion(client, db, make):
    biz = make.business(role="owner")
    colleague = make.user(biz.org, email="new@example.com", role="agent")
    login(client, biz.user.email)
    page = client.get(f"/admin/users/edit/?id={colleague.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/users/edit/?id={colleague.id}",
        data={
            "email": "New@Example.com",
            "name": "New",
            "role": "agent",
            "active": "y",
            "new_password": "a-fine-long-password",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 302
    from chatpad.models import User

    db.session.expire_all()
    new = db.session.query(User).filter_by(email="new@example.com").one()
    assert new.check_password("a-fine-long-password") and new.organization_id == biz.org.id

    edit = client.get(f"/admin/users/edit/?id={biz.user.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/users/edit/?id={biz.user.id}",
        data={"email": biz.user.email, "role": "agent", "active": "y", "csrf_token": csrf_from(edit)},
    )
    assert "You cannot deactivate yourself or change your own role." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, biz.user.id).role == "owner"


def test_tour_type_is_edited_with_the_location_and_books_by_it(client, db, make):
    """Duration, interval, buffers, notice, horizon and the daily limit are set in the location's form, and the
    slots offered follow them."""
    from datetime import UTC, datetime

    from chatpad.booking.service import rules_of, schedule_of, tour_type, zone_of
    from chatpad.booking.slots import compute_slots
    from chatpad.models import TourType

    biz = make.business()
    login(client, biz.user.email)
    edit_url = f"/admin/locations/edit/?id={biz.location.id}"
    page = client.get(edit_url).get_data(as_text=True)
    assert 'name="duration_minutes"' in page and 'value="30"' in page  # the defaults are shown
    form = _location_form(page, biz.agent.id, name=biz.location.name, duration_minutes="60", interval_minutes="60",
                          buffer_before_minutes="10", buffer_after_minutes="20", min_notice_minutes="1440",
                          horizon_days="7", max_per_day="3")  # fmt: skip
    response = client.post(edit_url, data=form)
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(TourType, biz.location.id)
    assert (row.duration_minutes, row.interval_minutes, row.buffer_before_minutes, row.buffer_after_minutes,
            row.min_notice_minutes, row.horizon_days, row.max_per_day) == (60, 60, 10, 20, 1440, 7, 3)  # fmt: skip
    location = db.session.get(Location, biz.location.id)
    now = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # a Sunday; the form opens Mondays only
    slots = compute_slots(schedule_of(location), zone_of(location), rules_of(tour_type(location)), {"c": []}, now=now)
    assert slots and all((s.end - s.start).total_seconds() == 3600 for s in slots)
    assert min(s.start for s in slots) == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a day's notice: Monday 9:00
    assert 'value="60"' in client.get(edit_url).get_data(as_text=True)


def test_a_tour_setting_out_of_range_is_explained_and_nothing_saved(client, db, make):
    from chatpad.models import TourType

    biz = make.business()
    login(client, biz.user.email)
    edit_url = f"/admin/locations/edit/?id={biz.location.id}"
    page = client.get(edit_url).get_data(as_text=True)
    response = client.post(edit_url, data=_location_form(page, biz.agent.id, name="Renamed", duration_minutes="0"))
    assert response.status_code == 200
    assert "Number must be between 10 and 480" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(TourType, biz.location.id) is None
    assert db.session.get(Location, biz.location.id).name != "Renamed"
