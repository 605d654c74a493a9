"""Integrations → Connect WhatsApp against the sandbox: Embedded Signup through its Facebook Login (a business token
for the shared WhatsApp Business Account), the WABA's numbers from debug_token's granular scopes and
GET /{waba-id}/phone_numbers, a location per number, POST /{waba-id}/subscribed_apps, a check of each number before
it says Connected, templates synced; and the ways it stops: a declined permission, no account shared, a refused
subscription."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from chatpad import demo_data as D
from chatpad.models import Message, MessageTemplate, SocialAccount
from tests.conftest import csrf_from

LOCATIONS = ("Forge at the Lake", "Clearview Estates")


@pytest.fixture
def business(admin_client):
    return admin_client(locations=LOCATIONS)


def accounts(db, org_id) -> list[SocialAccount]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(SocialAccount).where(SocialAccount.tenant_clause(org_id), SocialAccount.channel == "whatsapp")
        )
    )


def embedded_signup(client, fb_login, agent_id, *, share_waba=True, decline=()) -> str:
    """Connect WhatsApp → Facebook's dialog (answered like a browser) → back to ChatPad's callback; the callback's
    answer's Location (or the page, when it does not redirect)."""
    start = client.get(f"/admin/integrations/connect/whatsapp?agent={agent_id}")
    assert start.status_code == 302
    dialog_url = start.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(dialog_url).query).items()}
    assert query["scope"] == "whatsapp_business_management,whatsapp_business_messaging"
    dialog = fb_login.http.get(dialog_url, timeout=10)
    assert dialog.status_code == 200 and "Which WhatsApp Business account" in dialog.text
    form = {**query, "user_id": fb_login.demo_user()["id"], "action": "continue"}
    for scope in query["scope"].split(","):
        if scope not in decline:
            form[f"scope:{scope}"] = "1"
    if share_waba:
        form["waba"] = D.waba_id()
    answer = fb_login.http.post(dialog_url.split("?")[0], data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    return client.get(f"{target.path}?{target.query}")


def test_connect_whatsapp_end_to_end(business, fb_login, meta_sandbox, whatsapp_sandbox, workers, db):
    client, biz = business
    response = embedded_signup(client, fb_login, biz.agent.id)
    assert response.status_code == 302 and "/whatsapp/flows/" in response.headers["Location"]
    numbers_url = response.headers["Location"]
    page = client.get(numbers_url).get_data(as_text=True)
    assert page.count('class="card mb-2 whatsapp-number"') == len(D.LOCATIONS)
    forge, clearview = (D.LOCATIONS[0], D.LOCATIONS[1])
    assert forge.name == "Forge at the Lake" and clearview.name == "Clearview Estates"
    # Numbers named like a location are preselected with it; the rest are not.
    checked = re.findall(r'name="number" value="(\d+)" id="n-\d+" checked', page)
    assert set(checked) == {D.whatsapp_phone_number_id(forge), D.whatsapp_phone_number_id(clearview)}
    assert not accounts(db, biz.org.id)  # nothing stored before the checks

    form = {"csrf_token": csrf_from(page), "number": checked}
    for number_id in checked:
        match = re.search(rf'name="location-{number_id}".*?<option value="([0-9a-f-]+)" selected>', page, re.S)
        form[f"location-{number_id}"] = match.group(1)
    done = client.post(numbers_url, data=form)
    assert done.status_code == 302, done.get_data(as_text=True)
    index = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Connected 2 WhatsApp numbers" in index and "Templates: 3 approved of 5" in index

    stored = {a.account_id: a for a in accounts(db, biz.org.id)}
    assert set(stored) == set(checked)
    account = stored[D.whatsapp_phone_number_id(forge)]
    assert account.status == "connected" and account.is_active and account.location.name == "Forge at the Lake"
    assert account.meta["waba_id"] == D.waba_id() and account.meta["display_phone_number"] == D.whatsapp_number(forge)
    assert account.meta.get("tested_at") and account.token_expires_at is None
    token = account.access_token
    assert token and token != whatsapp_sandbox.token  # the business token from the signup, not the seeded one
    # The app is subscribed to the WABA (POST /{waba-id}/subscribed_apps reached the sandbox).
    assert D.waba_id() in whatsapp_sandbox._call("GET", "subscriptions")
    assert (
        db.session.scalar(select(func.count(MessageTemplate.id)).where(MessageTemplate.organization_id == biz.org.id))
        == 5
    )
    # And it works: a customer writes to the number, ChatPad stores it in that location and answers with the token.
    whatsapp_sandbox.write("Do you have lots available?")
    workers.run()
    db.session.expire_all()
    inbound = db.session.scalar(select(Message).where(Message.direction == "inbound"))
    assert inbound.conversation.social_account_id == account.id
    assert inbound.conversation.location.name == "Forge at the Lake"
    assert whatsapp_sandbox.replies()


def test_a_declined_permission_connects_nothing(business, fb_login, meta_sandbox, db):
    client, biz = business
    response = embedded_signup(client, fb_login, biz.agent.id, decline=("whatsapp_business_messaging",))
    html = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "whatsapp_business_messaging" in html and "read and answer the WhatsApp numbers" in html
    assert not accounts(db, biz.org.id)


def test_no_whatsapp_account_shared_says_so(business, fb_login, meta_sandbox, db):
    client, biz = business
    response = embedded_signup(client, fb_login, biz.agent.id, share_waba=False)
    html = response.get_data(as_text=True)
    assert "No WhatsApp Business account was shared" in html
    assert not accounts(db, biz.org.id)


def test_a_refused_subscription_is_not_called_connected(business, fb_login, meta_sandbox, db):
    client, biz = business
    response = embedded_signup(client, fb_login, biz.agent.id)
    numbers_url = response.headers["Location"]
    page = client.get(numbers_url).get_data(as_text=True)
    number_id = D.whatsapp_phone_number_id(D.LOCATIONS[0])
    meta_sandbox.fail("permission", path="/subscribed_apps", method="POST", count=5)
    html = client.post(numbers_url, data={"csrf_token": csrf_from(page), "number": [number_id]}).get_data(as_text=True)
    assert "could not be connected" in html and "refused to subscribe ChatPad" in html
    assert not accounts(db, biz.org.id)
    assert "Connected" not in re.sub(r"<[^>]+>", " ", html).replace("Connect the selected", "")
