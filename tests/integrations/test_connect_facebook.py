"""Connecting Facebook Pages through every screen against the sandbox's Facebook Login and Graph API, and every way
it can fail: denied consent, a declined permission, an expired or forged state, a Graph error at each step, a Page
another organization holds, a failed webhook subscription."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text

from chatpad.integrations.meta import MESSENGER_FIELDS
from chatpad.models import AuditLog, SocialAccount
from chatpad.queue import get_redis
from tests.conftest import csrf_from, login
from tests.plugins.connect import post_form, run_flow, switch_browser

LOCATIONS = ("Forge at the Lake", "Clearview Estates", "Bluebonnet Meadows")


def accounts_of(db, org_id, channel="facebook"):
    db.session.expire_all()
    return db.session.scalars(
        select(SocialAccount).where(SocialAccount.tenant_clause(org_id), SocialAccount.channel == channel)
    ).all()


def audit_actions(db, org_id) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog.action).where(AuditLog.organization_id == org_id)))


def subscribed(meta_sandbox, page_id) -> list[str]:
    page = next(p for p in meta_sandbox._call("GET", "pages") if p["id"] == page_id)
    return page["subscribed_fields"]


@pytest.fixture
def business(admin_client):
    client, biz = admin_client(locations=LOCATIONS)
    return client, biz


def test_dialog_asks_only_for_the_needed_scopes_with_a_state(business, meta_sandbox):
    """Connect Facebook opens Meta's dialog with the four Page permissions, a state, and the callback URL."""
    client, biz = business
    response = client.get(f"/admin/integrations/connect/facebook?agent={biz.agent.id}")
    url = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/facebook/v25.0/dialog/oauth"
    assert query["scope"] == (
        "pages_show_list,pages_messaging,pages_manage_metadata,pages_read_engagement,business_management"
    )
    assert query["client_id"] == "sandbox-app" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://localhost/admin/integrations/facebook/callback"
    assert len(query["state"]) >= 32

    instagram = client.get(f"/admin/integrations/connect/instagram?agent={biz.agent.id}")
    scope = parse_qs(urlsplit(instagram.headers["Location"]).query)["scope"][0]
    assert (
        scope == "pages_show_list,pages_manage_metadata,instagram_basic,instagram_manage_messages,business_management"
    )


def test_connect_pages_end_to_end(business, fb_login, meta_sandbox, db):
    """Three Pages selected, located by name, subscribed to Messenger's fields, stored encrypted and audited."""
    client, biz = business
    names = ["Forge Lake Community", "Clearview MHP", "Riverbend MHP"]
    ids = fb_login.ids(names)
    response = run_flow(client, fb_login, biz.agent.id, ids)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Connected 3 Pages." in page

    accounts = {a.account_name: a for a in accounts_of(db, biz.org.id)}
    assert set(accounts) == set(names)
    assert accounts["Forge Lake Community"].location.name == "Forge at the Lake"
    assert accounts["Clearview MHP"].location.name == "Clearview Estates"
    assert accounts["Riverbend MHP"].location is None  # no location of that name: General
    for account in accounts.values():
        assert account.status == "connected" and account.is_active
        assert account.token_expires_at is None  # a Page token from a long-lived user token never expires
        assert account.access_token == fb_login.page(account.account_name)["access_token"]
        assert sorted(subscribed(meta_sandbox, account.account_id)) == sorted(MESSENGER_FIELDS)
        raw = db.session.execute(
            text("SELECT access_token FROM social_accounts WHERE id = :id"),
            {"id": account.id.hex} if db.engine.dialect.name == "sqlite" else {"id": account.id},
        ).scalar()
        assert raw and account.access_token not in raw  # encrypted at rest
    assert audit_actions(db, biz.org.id).count("account.connect") == 3
    # The flow's tokens are gone from Redis once it is done.
    assert not list(get_redis().scan_iter("chatpad:connect-flow:*"))


def test_me_accounts_is_read_through_every_page(business, fb_login, meta_sandbox):
    """The demo user's 28 Pages come in two Graph pages (25 + 3) and all of them are offered."""
    client, biz = business
    response = run_flow(client, fb_login, biz.agent.id, None)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for p in fb_login.pages():
        assert p["name"] in page
    calls = meta_sandbox.requests("me/accounts", "GET")
    assert len(calls) == 2
    assert "after" not in calls[0]["query"] and calls[1]["query"]["after"]
    assert all(c["token_source"] == "bearer" for c in calls)  # the user token never rides in a URL


def test_selection_marks_connected_and_preselects_matching_pages(business, fb_login, db, make):
    """Pages matching a location are pre-ticked, personal ones are not, connected ones are marked and cannot be
    ticked, and a Page where the user is only an analyst is refused with the reason."""
    client, biz = business
    run_flow(client, fb_login, biz.agent.id, fb_login.ids(["Forge Lake Community"]))
    response = run_flow(client, fb_login, biz.agent.id, None)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    forge, clearview, personal, investors = fb_login.ids(
        ["Forge Lake Community", "Clearview MHP", "Westside Little League", "MHP Communities Investor Relations"]
    )
    assert f'value="{forge}" id="c-{forge}"  disabled' in html
    assert "Already connected" in html
    assert f'value="{clearview}" id="c-{clearview}" checked' in html
    assert f'value="{personal}" id="c-{personal}"  >' in html
    assert f'value="{investors}" id="c-{investors}"  disabled' in html
    assert "Your role on this Page does not include messaging (your tasks: Analyze)" in html


def test_connect_more_pages_adds_without_duplicating(business, fb_login, db):
    """A second pass adds the new Pages; a forged request for an already-connected one changes nothing."""
    client, biz = business
    first = fb_login.ids(["Forge Lake Community", "Clearview MHP"])
    run_flow(client, fb_login, biz.agent.id, first)
    more = fb_login.ids(["Bluebonnet Meadows Homes"])
    response = run_flow(client, fb_login, biz.agent.id, [*first, *more])
    assert response.status_code == 302
    accounts = accounts_of(db, biz.org.id)
    assert sorted(a.account_name for a in accounts) == [
        "Bluebonnet Meadows Homes",
        "Clearview MHP",
        "Forge Lake Community",
    ]
    assert db.session.scalar(select(func.count()).select_from(SocialAccount)) == 3


def test_denied_consent_connects_nothing(business, fb_login, db):
    """Cancel in Meta's dialog: the admin reads what happened and what to do; nothing is stored; it is audited."""
    client, biz = business
    response = run_flow(client, fb_login, biz.agent.id, [], action="cancel")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "dialog was cancelled, or access was declined" in html
    assert "press Connect again and choose Continue" in html
    assert accounts_of(db, biz.org.id) == []
    assert "account.connect_denied" in audit_actions(db, biz.org.id)
    assert not list(get_redis().scan_iter("chatpad:connect-flow:*"))


def test_declined_permission_is_named_with_why_and_rerequested(business, fb_login, db, meta_sandbox):
    """Switching off pages_manage_metadata stops the flow before any Page is read, explains why ChatPad needs it, and
    offers a retry that asks Meta to re-request it."""
    client, biz = business
    response = run_flow(client, fb_login, biz.agent.id, [], decline=("pages_manage_metadata",))
    html = response.get_data(as_text=True)
    assert "Some permissions ChatPad needs were switched off" in html
    assert "<code>pages_manage_metadata</code>: to subscribe ChatPad to the Pages&#39; webhooks" in html
    assert accounts_of(db, biz.org.id) == []
    assert meta_sandbox.requests("me/accounts") == []
    retry = client.get(f"/admin/integrations/connect/facebook?agent={biz.agent.id}&rerequest=1")
    assert parse_qs(urlsplit(retry.headers["Location"]).query)["auth_type"] == ["rerequest"]


def test_without_business_management_no_page_is_called_personal_and_select_all_ticks_every_page(
    business, fb_login, db, meta_sandbox
):
    """Graph gives a Page's owning business only to a token with business_management, which is optional: declined,
    the Pages step must not call every Page personal (and tick none with Select all), but say what it doesn't know."""
    client, biz = business
    response = run_flow(client, fb_login, biz.agent.id, None, decline=("business_management",))
    assert response.status_code == 302, response.get_data(as_text=True)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Personal Page" not in html
    assert 'id="owners-unknown"' in html and "Select all ticks every Page" in html
    assert 'data-business="0"' not in html
    assert accounts_of(db, biz.org.id) == []  # nothing connected until the admin picks


def test_with_business_management_the_personal_pages_are_named(business, fb_login, db, meta_sandbox):
    client, biz = business
    response = run_flow(client, fb_login, biz.agent.id, None)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert html.count("Personal Page (no business portfolio)") == 2  # the demo user's two personal Pages
    assert 'id="owners-unknown"' not in html


def test_expired_state_is_refused(business, fb_login, db, meta_sandbox):
    """A callback after the flow's time ran out (its record expired in Redis) exchanges nothing and says so."""
    client, biz = business
    start = client.get(f"/admin/integrations/connect/facebook?agent={biz.agent.id}")
    back = fb_login.answer(start.headers["Location"])
    for key in get_redis().scan_iter("chatpad:connect-flow:*"):
        get_redis().delete(key)
    response = client.get(back)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This connection attempt expired" in html
    assert meta_sandbox.requests("oauth/access_token") == []
    assert accounts_of(db, biz.org.id) == []


def test_forged_state_is_refused(business, fb_login, app, meta_sandbox, db):
    """A callback whose state was not started in this browser session (login CSRF) is refused before any exchange."""
    client, biz = business
    start = client.get(f"/admin/integrations/connect/facebook?agent={biz.agent.id}")
    back = fb_login.answer(start.headers["Location"])  # a real code and state, started in another browser
    other_browser = app.test_client()  # the same admin elsewhere: no flow was started there
    switch_browser()
    login(other_browser, biz.user.email)
    response = other_browser.get(back)
    assert response.status_code == 400
    assert "does not belong to a connection started in this browser" in response.get_data(as_text=True)
    made_up = other_browser.get("/admin/integrations/facebook/callback?code=AQxyz&state=made-up-state")
    assert made_up.status_code == 400
    assert meta_sandbox.requests("oauth/access_token") == []
    assert accounts_of(db, biz.org.id) == []


STEPS = [
    # (what fails, Graph path, method, skip: requests let through first)
    ("code exchange", "/oauth/access_token", "POST", 0),
    ("long-lived exchange", "/oauth/access_token", "POST", 1),
    ("permissions", "/me/permissions", "GET", 0),
    ("who logged in", "/me", "GET", 1),
    ("first page of Pages", "/me/accounts", "GET", 0),
    ("second page of Pages", "/me/accounts", "GET", 1),
]
ERRORS = [
    ("server_error", "temporary problem", "try again in a few minutes"),
    ("permission", "refused a permission", "keep every permission switched on"),
    ("expired_token", "no longer valid", "log in to Facebook when asked"),
]


@pytest.mark.parametrize("step,path,method,skip", STEPS, ids=[s[0] for s in STEPS])
@pytest.mark.parametrize("kind,what,todo", ERRORS, ids=[e[0] for e in ERRORS])
def test_graph_error_at_each_step_leaves_nothing(
    business, fb_login, meta_sandbox, db, step, path, method, skip, kind, what, todo
):
    """Whatever step Meta fails, the admin sees what happened and what to do, and nothing is half-connected."""
    client, biz = business
    meta_sandbox.fail(kind, path=path, method=method, skip=skip)
    response = run_flow(client, fb_login, biz.agent.id, None)
    html = response.get_data(as_text=True)
    assert response.status_code == 502, html
    if kind == "server_error" and path == "/oauth/access_token":
        assert "Facebook answered HTTP 500" in html
    else:
        assert what in html
    low = html.lower()
    assert "what to do:" in low and (todo.lower() in low or "try again in a few minutes" in low)
    assert accounts_of(db, biz.org.id) == []
    assert "account.connect_failed" in audit_actions(db, biz.org.id)
    assert not list(get_redis().scan_iter("chatpad:connect-flow:*"))


def test_used_code_and_wrong_redirect_uri_are_explained(business, fb_login, meta_sandbox):
    """Meta's own OAuth errors (a code used twice) come back as a sentence, chosen by subcode."""
    client, biz = business
    start = client.get(f"/admin/integrations/connect/facebook?agent={biz.agent.id}")
    back = fb_login.answer(start.headers["Location"])
    code = parse_qs(urlsplit(back).query)["code"][0]
    redirect_uri = "http://localhost/admin/integrations/facebook/callback"
    meta_sandbox.http.post(
        f"{meta_sandbox.graph_url}/v25.0/oauth/access_token",
        data={
            "client_id": "sandbox-app",
            "client_secret": "sandbox-app-secret",
            "code": code,
            "redirect_uri": redirect_uri,
        },
    )  # someone (a reload) already used the code
    html = client.get(back).get_data(as_text=True)
    assert "already used (a page reload or the back button)" in html


def test_subscription_failure_stores_only_what_worked_then_retry(business, fb_login, meta_sandbox, db):
    """One Page's subscription fails: the other two are connected and green, the failed one is not stored and is
    explained; "Try the failed ones again" connects it."""
    client, biz = business
    # Pages the sandbox's app is not subscribed to yet (the demo's community Pages start subscribed).
    ids = fb_login.ids(["Riverbend MHP", "Cedar Hollow Homes", "Lakeview Terrace Community"])
    assert all(subscribed(meta_sandbox, i) == [] for i in ids)
    meta_sandbox.fail("permission", path="/subscribed_apps", method="POST", skip=1)
    response = run_flow(client, fb_login, biz.agent.id, ids)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 connected, 1 not connected" in html
    assert "Facebook refused a permission while subscribing ChatPad to the Page&#39;s messages" in html
    accounts = accounts_of(db, biz.org.id)
    assert len(accounts) == 2 and all(a.status == "connected" for a in accounts)
    failed = next(i for i in ids if i not in {a.account_id for a in accounts})
    assert subscribed(meta_sandbox, failed) == []

    flow_id = html.split("/admin/integrations/flows/")[1].split("/")[0]
    retried = client.post(f"/admin/integrations/flows/{flow_id}/retry", data={"csrf_token": csrf_from(html)})
    assert retried.status_code == 302
    assert len(accounts_of(db, biz.org.id)) == 3
    assert sorted(subscribed(meta_sandbox, failed)) == sorted(MESSENGER_FIELDS)


def test_page_held_by_another_organization_is_refused(business, fb_login, make, db, meta_sandbox):
    """Another organization's Page is shown as unavailable, naming nobody; forcing it through is refused and their
    account is untouched."""
    client, biz = business
    other = make.business("Rival Homes LLC")
    forge = fb_login.page("Forge Lake Community")
    other.account.account_id = forge["id"]
    other.account.account_name = "Forge Lake Community"
    db.session.commit()

    response = run_flow(client, fb_login, biz.agent.id, None)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Connected to another ChatPad organization" in html
    assert "Rival Homes" not in html and other.agent.name not in html

    # A hand-made form that ticks it anyway: the selection ignores it, the assignment never sees it.
    response = run_flow(client, fb_login, biz.agent.id, [forge["id"], fb_login.ids(["Clearview MHP"])[0]])
    assert [a.account_name for a in accounts_of(db, biz.org.id)] == ["Clearview MHP"]
    db.session.refresh(other.account)
    assert other.account.agent_id == other.agent.id and other.account.status == "connected"


def test_page_of_another_organization_refused_at_connect(app, db, make, fb_login):
    """Should two organizations race for one Page, the one that comes second is refused with a clear message."""
    from chatpad.integrations import connect

    mine, theirs = make.business("Mine"), make.business("Theirs")
    forge = fb_login.page("Forge Lake Community")
    theirs.account.account_id = forge["id"]
    db.session.commit()
    candidate = {"id": forge["id"], "name": forge["name"], "access_token": forge["access_token"]}
    [outcome] = connect.connect_meta(
        kind="facebook", org_id=mine.org.id, agent=mine.agent, user_id=mine.user.id, selections=[(candidate, None)]
    )
    assert outcome.status == "refused"
    assert "already connected to another ChatPad organization" in outcome.what
    assert "Theirs" not in outcome.what + outcome.todo


def test_disconnect_unsubscribes_deactivates_and_keeps_history(business, fb_login, meta_sandbox, db, make):
    """Disconnect: the app leaves the Page's webhooks, the row stays (inactive, tokens dropped) with its
    conversations, and the admin can connect it again later."""
    from chatpad.models import Contact, Conversation

    client, biz = business
    [forge] = fb_login.ids(["Forge Lake Community"])
    run_flow(client, fb_login, biz.agent.id, [forge])
    account = accounts_of(db, biz.org.id)[0]
    contact = Contact(organization_id=biz.org.id, name="Jane")
    db.session.add(contact)
    db.session.flush()
    db.session.add(
        Conversation(
            organization_id=biz.org.id,
            agent_id=biz.agent.id,
            social_account_id=account.id,
            contact_id=contact.id,
            channel="facebook",
        )
    )
    db.session.commit()

    index = f"/admin/integrations/?agent={biz.agent.id}"
    response = post_form(client, f"/admin/integrations/accounts/{account.id}/disconnect", page_url=index)
    assert response.status_code == 302
    db.session.expire_all()
    account = db.session.get(SocialAccount, account.id)
    assert account.status == "disconnected" and not account.is_active
    assert account.access_token is None
    assert subscribed(meta_sandbox, forge) == []
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1
    assert "account.disconnected" in audit_actions(db, biz.org.id)
    html = client.get(index).get_data(as_text=True)
    assert "Connect again" in html

    # Connecting it again reuses the same row (history and all).
    response = run_flow(client, fb_login, biz.agent.id, [forge])
    db.session.expire_all()
    again = accounts_of(db, biz.org.id)
    assert [a.id for a in again] == [account.id] and again[0].status == "connected"


def test_toggle_and_location_and_other_orgs_rows(business, fb_login, db, make):
    """The active toggle pauses an account, the location dropdown moves it; another organization's account cannot be
    touched by id (404)."""
    client, biz = business
    run_flow(client, fb_login, biz.agent.id, fb_login.ids(["Forge Lake Community"]))
    account = accounts_of(db, biz.org.id)[0]
    index = f"/admin/integrations/?agent={biz.agent.id}"
    post_form(client, f"/admin/integrations/accounts/{account.id}/active", {"active": "0"}, page_url=index)
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).is_active is False
    clearview = next(loc for loc in biz.agent.locations if loc.name == "Clearview Estates")
    post_form(
        client, f"/admin/integrations/accounts/{account.id}/location", {"location": str(clearview.id)}, page_url=index
    )
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).location_id == clearview.id

    other = make.business("Elsewhere")
    for action in ("disconnect", "active", "location"):
        response = post_form(client, f"/admin/integrations/accounts/{other.account.id}/{action}", page_url=index)
        assert response.status_code == 404
    assert client.get(f"/admin/integrations/accounts/{other.account.id}/reconnect").status_code == 404
    assert client.get(f"/admin/integrations/?agent={other.agent.id}").status_code == 404
    db.session.refresh(other.account)
    assert other.account.status == "connected" and other.account.is_active


def test_agents_role_cannot_connect(app, make):
    """Only owners and admins reach the Integrations tab."""
    biz = make.business()
    agent_user = make.user(biz.org, role="agent")
    client = app.test_client()
    login(client, agent_user.email)
    assert client.get("/admin/integrations/").status_code == 403
    assert client.get(f"/admin/integrations/connect/facebook?agent={biz.agent.id}").status_code == 403
