"""The bad inputs issue 16 item 6 found answering 500, each now a clear 4xx (the sweep over every route is in
test_fuzz.py; these are the reported cases, by name)."""

from __future__ import annotations

import pytest

from chatpad.channels.meta import sign_body
from chatpad.http import bounded_int, json_depth, loads_json, parse_day, parse_uuid
from tests.conftest import csrf_from, login
from tests.plugins.widget import ORIGIN, make_widget

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.fixture
def owner(app, make):
    biz = make.business()
    client = app.test_client()
    assert login(client, biz.user.email).status_code == 302
    return client, biz


def test_deep_json_on_the_widget_session_api_is_400(app, make, client):
    """No token needed to reach it: JSON nested 5,000 deep is refused as bad JSON, not a RecursionError."""
    biz = make.business()
    widget = make_widget(make, biz, [ORIGIN])
    response = client.post(
        f"/api/widget/{widget.account_id}/session",
        data=DEEP,
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_json"


def test_deep_json_on_a_signed_webhook_is_400(app, client):
    body = b'{"object":"page","entry":[' + DEEP + b"]}"
    headers = {"Content-Type": "application/json", **sign_body(body, app.config["META_APP_SECRET"])}
    assert client.post("/api/webhooks/facebook", data=body, headers=headers).status_code == 400


def test_analytics_at_the_end_of_the_calendar_says_why(owner):
    """9999-12-31 plus a day overflowed (500): now the page says which dates it takes and shows the default period,
    as for any other date it cannot read."""
    client, _ = owner
    response = client.get("/admin/analytics/?start=9999-12-30&end=9999-12-31")
    assert response.status_code == 200
    assert "between 2000 and 2999" in response.get_data(as_text=True)
    assert client.get("/admin/analytics/export.csv?start=9999-12-30&end=9999-12-31").status_code < 500


def test_a_twenty_digit_page_number_shows_the_first_page(owner):
    client, biz = owner
    response = client.get("/admin/users/?page=" + "9" * 20)
    assert response.status_code == 200 and biz.user.email in response.get_data(as_text=True)
    assert client.get("/admin/users/?page=-3").status_code == 200
    assert client.get("/admin/users/details/?id=" + "9" * 20).status_code in (302, 404)


def test_a_widget_form_with_an_agent_that_is_not_a_uuid_says_so(owner):
    client, biz = owner
    page = client.get("/admin/widgets/new").get_data(as_text=True)
    form = {
        "csrf_token": csrf_from(page),
        "location": "general",
        "agent": "not-a-uuid",
        "site": "forgelake.test",
        "allowed_origins": ORIGIN,
        "rating_scale": "thumbs",
        "greeting": "Hi! How can we help?",
        "launcher_text": "Chat with us",
        "color": "#1d4ed8",
        "text_color": "#ffffff",
        "position": "right",
    }
    response = client.post("/admin/widgets/new", data=form)
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)
    # The same form with the business's own agent is saved: the refusal above was the agent's, nothing else's.
    assert client.post("/admin/widgets/new", data={**form, "agent": str(biz.agent.id)}).status_code == 302


def test_a_nul_character_in_a_query_or_form_is_400(owner):
    """PostgreSQL cannot hold a NUL in text: every list's search and every form that saved one answered 500."""
    client, _ = owner
    assert client.get("/admin/accounts/?search=a%00b").status_code == 400
    page = client.get("/admin/agents/new/").get_data(as_text=True)
    assert client.post("/admin/agents/new/", data={"csrf_token": csrf_from(page), "name": "a\x00b"}).status_code == 400


def test_a_huge_int_in_a_path_is_404(owner, app, monkeypatch):
    """An id past bigint in a path (<int:…>) cannot exist: 404, not the database's 'bigint out of range'."""
    client, _ = owner
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # reach the lookup, as a valid token would
    assert client.post("/admin/inbox/notifications/" + "9" * 20 + "/open").status_code in (400, 404)


def test_the_readers_refuse_what_is_out_of_bounds():
    with pytest.raises(ValueError):
        loads_json(DEEP)
    with pytest.raises(ValueError):
        loads_json("[" * 65 + "]" * 65)
    assert loads_json("[" * 64 + "]" * 64) and json_depth({"a": [1, {"b": []}]}) == 4
    with pytest.raises(ValueError):
        parse_day("9999-12-31")
    assert parse_day("2026-01-31").isoformat() == "2026-01-31"
    assert parse_uuid("not-a-uuid") is None and parse_uuid(" 00000000-0000-0000-0000-000000000001 ").int == 1
    for bad in ("9" * 20, "1e9", "-1", "", "٣"):
        with pytest.raises(ValueError):
            bounded_int(bad)
    assert bounded_int("", default=7) == 7 and bounded_int("42") == 42
