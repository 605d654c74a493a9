"""`flask chatpad connect-calendar` against a real CalDAV server (Radicale, tests/plugins/caldav.py): it finds the
user's calendar, reads its free/busy before storing anything, and says what failed when it cannot."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from chatpad.models import Calendar

from ..plugins.caldav import USERS


def unique(name: str) -> str:
    """Radicale lives for the whole session: each test's calendars get names of their own."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


def run(app, *args, password: str | None = USERS["ana"], prompt: str | None = None):
    env = {"CHATPAD_CALENDAR_PASSWORD": password} if password else {}
    return app.test_cli_runner().invoke(args=["chatpad", "connect-calendar", *args], env=env, input=prompt)


def calendars(db, location):
    db.session.expire_all()
    return db.session.scalars(select(Calendar).where(Calendar.location_id == location.id)).all()


def test_connects_the_named_calendar_after_a_free_busy_read(app, db, make, radicale):
    biz = make.business()
    radicale.make_calendar("ana", unique("other"))
    name = unique("tours")
    url = radicale.make_calendar("ana", name)
    result = run(app, "--location", biz.location.name, "--caldav-url", f"{radicale.url}/", "--username", "ana",
                 "--calendar", name)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "free/busy answered" in result.output
    (calendar,) = calendars(db, biz.location)
    assert (calendar.provider, calendar.account, calendar.remote_id, calendar.status) == (
        "caldav",
        "ana",
        url,
        "connected",
    )
    assert calendar.access_token == USERS["ana"]
    raw = db.session.execute(text("SELECT access_token FROM calendars")).scalar_one()
    assert USERS["ana"] not in raw  # encrypted at rest


def test_the_calendar_address_itself_needs_no_name_and_the_password_can_be_typed(app, db, make, radicale):
    biz = make.business()
    radicale.make_calendar("ben", unique("first"))
    url = radicale.make_calendar("ben", unique("second"))
    result = run(app, "--location", biz.location.name, "--caldav-url", url, "--username", "ben",
                 password=None, prompt="ben-secret-pass\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [c.remote_id for c in calendars(db, biz.location)] == [url]


def test_a_wrong_password_connects_nothing_and_says_sign_in_failed(app, db, make, radicale):
    biz = make.business()
    result = run(app, "--location", biz.location.name, "--caldav-url", f"{radicale.url}/", "--username", "ana",
                 password="wrong-password")  # fmt: skip
    assert result.exit_code == 1
    assert "Signing in failed" in result.output and "refused the user name or password" in result.output
    assert calendars(db, biz.location) == []


def test_several_calendars_without_a_name_are_listed(app, db, make, radicale):
    biz = make.business()
    office, showings = radicale.make_calendar("ana", unique("office")), radicale.make_calendar("ana", unique("show"))
    result = run(app, "--location", biz.location.name, "--caldav-url", f"{radicale.url}/", "--username", "ana")
    assert result.exit_code == 1
    assert "several calendars" in result.output and office in result.output and showings in result.output
    assert calendars(db, biz.location) == []


def test_an_unknown_calendar_name_and_an_unreachable_server_say_so(app, db, make, radicale):
    biz = make.business()
    unknown = run(app, "--location", biz.location.name, "--caldav-url", f"{radicale.url}/", "--username", "ana",
                  "--calendar", "nope")  # fmt: skip
    assert unknown.exit_code == 1 and "no calendar called 'nope'" in unknown.output
    down = run(app, "--location", biz.location.name, "--caldav-url", "http://127.0.0.1:9/", "--username", "ana")
    assert down.exit_code == 1 and "could not be reached" in down.output
    missing = run(app, "--location", "Nowhere", "--caldav-url", f"{radicale.url}/", "--username", "ana")
    assert missing.exit_code == 1 and "No location 'Nowhere'" in missing.output
    assert calendars(db, biz.location) == []
