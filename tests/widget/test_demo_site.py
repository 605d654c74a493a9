"""The demo a `make run` user tries: every community gets a widget, and the sandbox's demo website (another origin)
embeds the right one with its one script tag under a strict CSP."""

from __future__ import annotations

import requests
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import SocialAccount
from tests.plugins.widget import WidgetVisitor


def test_the_demo_site_embeds_the_seeded_widget_of_its_community(app, db, client, widget_site, live_server):
    """The sandbox page's script tag names the widget `chatpad demo` seeded, which allows the sandbox's origin."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["chatpad", "demo"]).exit_code == 0
    forge = next(loc for loc in D.LOCATIONS if loc.slug == "forge-at-the-lake")
    widget = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == "Widget • forgelake.com"))
    assert widget.account_id == D.widget_key(app.config["META_APP_SECRET"], forge)
    assert widget_site.url in widget.meta["allowed_origins"]

    page = requests.get(f"{widget_site.url}/widget/forge-at-the-lake", timeout=10)
    assert page.status_code == 200
    assert f'<script src="{live_server.url}/widget.js" data-chatpad-key="{widget.account_id}" async>' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp

    config = WidgetVisitor(client, widget.account_id, origin=widget_site.url).get("config")
    assert config.status_code == 200 and config.get_json()["config"]["title"] == "Forge at the Lake"


def test_the_demo_site_lists_the_communities_and_refuses_nonsense(widget_site):
    """An index of the demo sites; unknown communities are 404 and malformed keys 400."""
    index = requests.get(f"{widget_site.url}/widget/", timeout=10)
    assert index.status_code == 200 and "Forge at the Lake" in index.text
    assert requests.get(f"{widget_site.url}/widget/nowhere", timeout=10).status_code == 404
    bad = requests.get(f'{widget_site.url}/widget/forge-at-the-lake?key="><script>', timeout=10)
    assert bad.status_code == 400
    assert "Demo websites" in requests.get(f"{widget_site.url}/", timeout=10).text
