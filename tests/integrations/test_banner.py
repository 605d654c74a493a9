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


def test_tab_lists_every_channel_with_location_health_and_last_message(app, make, db):
    """One section per channel; each row shows its location (or General), its health and when it last had a message;
    widget rows appear with a note when the widget's settings page is not installed."""
    from datetime import timedelta

    from chatpad.models import utcnow

    biz = make.business("Rows")
    biz.account.account_name = "Forge Lake Community"
    biz.account.last_message_at = utcnow() - timedelta(hours=2, minutes=5)
    make.account(biz.agent, "instagram", account_name="@forgelakemhp", status="error", last_error="Meta said no.")
    make.account(biz.agent, "email", account_name="info@example.com", account_id="info@example.com")
    make.account(biz.agent, "widget", account_name="forgelake.com", account_id="wk_123")
    db.session.commit()
    client = app.test_client()
    login(client, biz.user.email)
    html = client.get("/admin/integrations/").get_data(as_text=True)
    facebook = html.split('id="facebook"')[1].split("</details>")[0]
    assert "Forge Lake Community" in facebook and "Last message: 2 hours ago" in facebook
    assert f'<option value="{biz.location.id}" selected>' in facebook
    instagram = html.split('id="instagram"')[1].split("</details>")[0]
    assert "status-bad" in instagram and "Meta said no." in instagram and "Reconnect" in instagram
    email = html.split('id="email"')[1].split("</details>")[0]
    assert "info@example.com" in email and '<option value="" selected>General</option>' in email
    widget = html.split('id="widget"')[1].split("</details>")[0]
    assert "forgelake.com" in widget
    assert "+ Connect More Pages" in html and "+ Connect Instagram" in html and "+ Connect Email" in html


def test_network_failure_shows_its_reason_and_no_reconnect_banner(app, make, db):
    """An inbox whose mail server can't be reached (DNS) is failing, with the network reason on Integrations, but no
    page asks to reconnect it: reconnecting can't fix DNS (issue 16 item 13)."""
    biz = make.business("Dunes")
    reason = "imap.gmail.com:993: could not resolve the server's name (DNS)"
    make.account(
        biz.agent,
        "email",
        account_name="leasing@dunes.test",
        account_id="leasing@dunes.test",
        status="error",
        last_error=reason,
    )
    db.session.commit()
    client = app.test_client()
    login(client, biz.user.email)
    assert "to be reconnected" not in client.get("/admin/").get_data(as_text=True)
    html = client.get("/admin/integrations/").get_data(as_text=True)
    assert "to be reconnected" not in html
    email = html.split('id="email"')[1].split("</section>")[0]
    assert "status-bad" in email and "could not resolve the server&#39;s name (DNS)" in email
