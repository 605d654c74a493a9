"""Integrations → Calendars: Google and Microsoft through the sandbox's consent pages, CalDAV against Radicale. Nothing
is stored or called connected until the calendar answered a free/busy read; what failed is said; tokens are stored
encrypted; reconnect, a location change and disconnect work on the organization's own calendars only."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from chatpad.models import Calendar
from tests.conftest import csrf_from, login
from tests.plugins.connect import switch_browser

from ..plugins.caldav import USERS


def consent(sandbox_url: str, authorize_url: str, email: str, decision: str = "allow") -> str:
    """Play the admin on the provider's consent page (real HTTP to the sandbox); where it sends the browser back."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = {
        unescape(k): unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    answer = requests.post(
        sandbox_url + action, data={**fields, "email": email, "decision": decision}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def oauth_connect(client, calendar_sandbox, provider, biz, email, decision="allow", **start_args):
    args = start_args or {"agent": str(biz.agent.id), "location": str(biz.location.id)}
    start = client.get(f"/admin/integrations/calendars/oauth/{provider}/start", query_string=args)
    assert start.status_code == 302, start.get_data(as_text=True)
    back = urlsplit(consent(calendar_sandbox.url, start.headers["Location"], email, decision))
    return start, client.get(back.path, query_string=back.query)


def rows(db, biz):
    db.session.expire_all()
    return db.session.scalars(select(Calendar).where(Calendar.agent_id == biz.agent.id)).all()


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_oauth_calendar_is_tested_then_connected_with_narrow_scopes(admin_client, db, calendar_sandbox, provider):
    client, biz = admin_client()
    start, done = oauth_connect(client, calendar_sandbox, provider, biz, f"tours@{provider}.example.com")
    scopes = set(parse_qs(urlsplit(start.headers["Location"]).query)["scope"][0].split())
    if provider == "google":
        assert scopes == {
            "openid",
            "email",
            "https://www.googleapis.com/auth/calendar.freebusy",
            "https://www.googleapis.com/auth/calendar.events.owned",
        }
    else:
        assert scopes == {"openid", "email", "offline_access", "https://graph.microsoft.com/Calendars.ReadWrite"}
    assert done.status_code == 302 and done.headers["Location"].endswith("#calendars")
    (calendar,) = rows(db, biz)
    assert (calendar.provider, calendar.account, calendar.status, calendar.location_id) == (
        provider,
        f"tours@{provider}.example.com",
        "connected",
        biz.location.id,
    )
    assert calendar.refresh_token and calendar.token_expires_at
    raw = db.session.execute(text("SELECT access_token, refresh_token FROM calendars")).one()
    assert calendar.access_token not in raw.access_token and calendar.refresh_token not in raw.refresh_token
    # The free/busy read happened before it was stored.
    assert any(r["path"].endswith(("/freeBusy", "/getSchedule")) for r in calendar_sandbox.requests())
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    section = page[page.index('id="calendars"') :]
    assert f"tours@{provider}.example.com" in section and "Connected" in section
    assert calendar.access_token not in page


def test_a_calendar_that_does_not_answer_is_not_connected_and_the_reason_is_shown(admin_client, db, calendar_sandbox):
    client, biz = admin_client()
    calendar_sandbox.outage("google")
    _, done = oauth_connect(client, calendar_sandbox, "google", biz, "down@google.example.com")
    body = done.get_data(as_text=True)
    assert done.status_code == 502
    assert "Nothing was connected" in body and "did not answer a free/busy read" in body
    assert rows(db, biz) == []


def test_declined_consent_connects_nothing(admin_client, db, calendar_sandbox):
    client, biz = admin_client()
    _, done = oauth_connect(client, calendar_sandbox, "microsoft", biz, "no@ms.example.com", decision="deny")
    assert "did not grant access" in done.get_data(as_text=True)
    assert rows(db, biz) == []


def test_a_callback_not_started_in_this_browser_is_refused(admin_client, app, db, calendar_sandbox):
    client, biz = admin_client()
    start = client.get(
        "/admin/integrations/calendars/oauth/google/start",
        query_string={"agent": str(biz.agent.id), "location": str(biz.location.id)},
    )
    back = urlsplit(consent(calendar_sandbox.url, start.headers["Location"], "x@google.example.com"))
    other_browser = app.test_client()  # the same admin elsewhere: no flow was started there
    switch_browser()
    login(other_browser, biz.user.email)
    answer = other_browser.get(back.path, query_string=back.query)
    assert "does not belong to a connection started in this browser" in answer.get_data(as_text=True)
    assert rows(db, biz) == []


def caldav_post(client, data):
    url = "/admin/integrations/calendars/caldav"
    page = client.get(url, query_string={"agent": data["agent"]}).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_from(page), **data})


def test_caldav_form_says_what_failed_then_connects(admin_client, db, radicale):
    client, biz = admin_client()
    url = radicale.make_calendar("ana")
    form = {"agent": str(biz.agent.id), "location": str(biz.location.id), "url": url, "username": "ana"}
    wrong = caldav_post(client, {**form, "password": "not-it"})
    assert wrong.status_code == 422
    assert "Signing in failed" in wrong.get_data(as_text=True)
    assert rows(db, biz) == []
    right = caldav_post(client, {**form, "password": USERS["ana"]})
    assert right.status_code == 302
    (calendar,) = rows(db, biz)
    assert (calendar.provider, calendar.remote_id, calendar.status) == ("caldav", url, "connected")


def test_caldav_server_with_several_calendars_offers_them(admin_client, db, radicale):
    client, biz = admin_client()
    radicale.make_calendar("ben")
    radicale.make_calendar("ben")
    form = {"agent": str(biz.agent.id), "location": str(biz.location.id), "url": f"{radicale.url}/",
            "username": "ben", "password": USERS["ben"]}  # fmt: skip
    answer = caldav_post(client, form)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "several calendars" in body
    assert '<select class="custom-select" id="calendar_name"' in body
    assert rows(db, biz) == []


def test_reconnect_a_calendar_that_needs_it(admin_client, db, connect, calendar_sandbox):
    client, biz = admin_client()
    calendar = connect(biz.location, "google", email="desk@google.example.com")
    calendar.mark_needs_reauth("Google refused the refresh token (invalid_grant)")
    db.session.commit()
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    assert "Needs reconnection" in page and "invalid_grant" in page and f"/calendars/{calendar.id}/reconnect" in page
    go = client.get(f"/admin/integrations/calendars/{calendar.id}/reconnect")
    start = client.get(go.headers["Location"])
    assert parse_qs(urlsplit(start.headers["Location"]).query)["login_hint"] == ["desk@google.example.com"]
    back = urlsplit(consent(calendar_sandbox.url, start.headers["Location"], "desk@google.example.com"))
    client.get(back.path, query_string=back.query)
    (again,) = rows(db, biz)
    assert again.id == calendar.id and again.status == "connected" and again.last_error is None


def test_reconnecting_as_someone_else_changes_nothing(admin_client, db, connect, calendar_sandbox):
    client, biz = admin_client()
    calendar = connect(biz.location, "google", email="desk@google.example.com")
    calendar.mark_needs_reauth("expired")
    db.session.commit()
    _, done = oauth_connect(
        client, calendar_sandbox, "google", biz, "other@google.example.com", calendar=str(calendar.id)
    )
    assert "this calendar is desk@google.example.com's" in unescape(done.get_data(as_text=True))
    (row,) = rows(db, biz)
    assert row.status == "needs_reauth" and row.account == "desk@google.example.com"


def test_move_test_and_disconnect_a_calendar(admin_client, db, make, connect, calendar_sandbox):
    client, biz = admin_client(locations=("Lakeside",))
    lakeside = next(loc for loc in biz.agent.locations if loc.name == "Lakeside")
    calendar = connect(biz.location, "microsoft")
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    token = csrf_from(page)
    assert (
        client.post(
            f"/admin/integrations/calendars/{calendar.id}/location", data={"location": str(lakeside.id)}
        ).status_code
        == 400
    )  # no CSRF
    client.post(
        f"/admin/integrations/calendars/{calendar.id}/location",
        data={"location": str(lakeside.id), "csrf_token": token},
    )
    assert rows(db, biz)[0].location_id == lakeside.id
    calendar_sandbox.outage("microsoft")
    client.post(f"/admin/integrations/calendars/{calendar.id}/check", data={"csrf_token": token})
    calendar_sandbox.outage("microsoft", on=False)
    checked = client.post(
        f"/admin/integrations/calendars/{calendar.id}/check", data={"csrf_token": token}, follow_redirects=True
    )
    assert "answered: free/busy read just now" in checked.get_data(as_text=True)
    client.post(f"/admin/integrations/calendars/{calendar.id}/disconnect", data={"csrf_token": token})
    (row,) = rows(db, biz)
    assert (row.status, row.is_active, row.access_token, row.refresh_token) == ("disconnected", False, None, None)


def test_another_organizations_calendar_is_not_found(admin_client, db, make, connect):
    client, biz = admin_client()
    other = make.business()
    theirs = connect(other.location, "google")
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    token = csrf_from(page)
    for path in ("check", "disconnect"):
        assert (
            client.post(f"/admin/integrations/calendars/{theirs.id}/{path}", data={"csrf_token": token}).status_code
            == 404
        )
    assert client.get(f"/admin/integrations/calendars/{theirs.id}/reconnect").status_code == 404
    moved = client.post(
        f"/admin/integrations/calendars/{theirs.id}/location",
        data={"location": str(biz.location.id), "csrf_token": token},
    )
    assert moved.status_code == 404
    start = client.get(
        "/admin/integrations/calendars/oauth/google/start",
        query_string={"agent": str(biz.agent.id), "location": str(other.location.id)},
    )
    assert start.status_code == 400
    db.session.expire_all()
    assert db.session.get(Calendar, theirs.id).status == "connected"
