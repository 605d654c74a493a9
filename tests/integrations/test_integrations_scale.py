"""The Integrations page at scale, without a browser: grouped by location once there are many accounts, needs
attention first, and location and on/off changes answered in JSON (the page's in-place changes) with what undo
sends back."""

from __future__ import annotations

from chatpad.models import SocialAccount
from tests.conftest import csrf_from, login


def _signed_in(app, make):
    biz = make.business("Scale")
    locations = [biz.location] + [make.location(biz.agent, f"Community {n}") for n in range(1, 6)]
    for n in range(14):
        make.account(biz.agent, "email", locations[n % len(locations)], account_name=f"inbox{n:02d}@example.com")
    broken = make.account(biz.agent, "sms", locations[3], account_name="Zed line", status="needs_reauth")
    client = app.test_client()
    login(client, biz.user.email)
    return client, biz, locations, broken


def test_many_accounts_group_by_location_with_attention_first(app, make):
    client, biz, locations, broken = _signed_in(app, make)
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    assert f'id="location-{locations[3].id}"' in page and 'id="location-filter"' in page
    section = page[page.index(f'id="location-{locations[3].id}"') :]
    section = section[: section.index("</details>")]
    # "Zed line" sorts last by name but needs attention, so it comes first in its location.
    assert section.index("Zed line") < section.index("inbox")
    assert "1 needs attention" in section
    by_channel = client.get(f"/admin/integrations/?agent={biz.agent.id}&group=channel").get_data(as_text=True)
    assert 'id="email"' in by_channel and f'id="location-{locations[3].id}"' not in by_channel


def test_location_change_and_toggle_answer_json_for_undo(app, make, db):
    client, biz, locations, broken = _signed_in(app, make)
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    token = csrf_from(page)
    account = biz.account
    json = {"Accept": "application/json"}
    url = f"/admin/integrations/accounts/{account.id}/location"
    answer = client.post(url, data={"csrf_token": token, "location": str(locations[2].id)}, headers=json)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] and body["location_label"] == "Community 2" and body["undo"] == str(locations[0].id)
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).location_id == locations[2].id
    back = client.post(url, data={"csrf_token": token, "location": body["undo"]}, headers=json).get_json()
    assert back["location"] == str(locations[0].id)
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).location_id == locations[0].id

    bad = client.post(url, data={"csrf_token": token, "location": "not-a-location"}, headers=json)
    assert bad.status_code == 400 and bad.get_json()["error"] == "Unknown location."

    toggle = f"/admin/integrations/accounts/{account.id}/active"
    paused = client.post(toggle, data={"csrf_token": token, "active": "0"}, headers=json).get_json()
    assert paused["ok"] and paused["active"] is False and paused["health"] == "paused" and paused["undo"] == "1"
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).is_active is False
