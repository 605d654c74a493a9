"""The reconnection banner: on every admin page, for every role, while an account of the organization needs it."""

from __future__ import annotations

from tests.conftest import login


def test_banner_shows_on_every_admin_page_until_reconnected(app, make, db):
    """An account needing reconnection puts a banner on the home, the lists and Integrations; an agent-role user sees
    it too (without the button); another organization does not."""
    biz = make.business("Lakeside")
    biz.account.account_name = "Lakeside Page"
    biz.account.mark_needs_reauth("Its access token expired.")
    db.session.commit()
    client = app.test_client()
    login(client, biz.user.email)
    for url in ("/admin/", "/admin/locations/", "/admin/integrations/", "/admin/accounts/"):
        html = client.get(url).get_data(as_text=True)
        assert "1 account needs to be reconnected" in html and "Lakeside Page" in html, url
        assert "Open Integrations" in html

    biz.account.mark_healthy()
    db.session.commit()
    assert "to be reconnected" not in client.get("/admin/").get_data(as_text=True)


def test_banner_is_per_organization_and_role(app, make, db):
    """Agents see the banner without the admin-only button; other organizations see nothing."""
    from tests.plugins.connect import switch_browser

    biz = make.business()
    biz.account.mark_needs_reauth("expired")
    db.session.commit()
    agent_user = make.user(biz.org, role="agent")
    other = make.business("Other")
    client = app.test_client()
    login(client, agent_user.email)
    html = client.get("/admin/").get_data(as_text=True)
    assert "1 account needs to be reconnected" in html and "Open Integrations" not in html
    switch_browser()
    stranger = app.test_client()
    login(stranger, other.user.email)
    assert "to be reconnected" not in stranger.get("/admin/").get_data(as_text=True)
