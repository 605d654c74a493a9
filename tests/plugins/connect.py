"""Connecting accounts in tests: a signed-in admin's test client, and Facebook's login dialog answered over real HTTP
the way a browser would (GET the dialog, POST Continue or Cancel, follow the redirect back to ChatPad)."""

from __future__ import annotations

import re
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import csrf_from, login


class FacebookLogin:
    """Drives the sandbox's dialog: what the demo Meta user grants, then back to the app's callback."""

    def __init__(self, meta_sandbox):
        self.sandbox = meta_sandbox
        self.http = requests.Session()

    def demo_user(self) -> dict:
        users = self.sandbox._call("GET", "users")
        return next(u for u in users if u["name"] == "Dana Demo")

    def pages(self) -> list[dict]:
        """Every Page in the sandbox, with its id, name, token and linked Instagram account."""
        return self.sandbox._call("GET", "pages")

    def page(self, name: str) -> dict:
        return next(p for p in self.pages() if p["name"] == name)

    def ids(self, names, instagram: bool = False) -> list[str]:
        """Page ids (or, with instagram, the linked Instagram account ids) of Pages or usernames, in order."""
        pages = self.pages()
        if instagram:
            return [next(p["instagram_id"] for p in pages if p["instagram_username"] == n) for n in names]
        return [next(p["id"] for p in pages if p["name"] == n) for n in names]

    def answer(
        self,
        dialog_url: str,
        *,
        action: str = "continue",
        pages: list[str] | None = None,
        decline: tuple[str, ...] = (),
    ) -> str:
        """Open the dialog like a browser, then press Continue (granting `pages`, all by default, and every permission
        but `decline`) or Cancel. Returns the app URL (path and query) the dialog redirects to."""
        page = self.http.get(dialog_url, timeout=10)
        assert page.status_code == 200, page.text
        query = {k: v[0] for k, v in parse_qs(urlsplit(dialog_url).query).items()}
        user = self.demo_user()
        form = {**query, "user_id": user["id"], "action": action}
        for scope in re.split(r"[ ,]+", query.get("scope", "")):
            if scope and scope not in decline:
                form[f"scope:{scope}"] = "1"
        form["page"] = user["page_ids"] if pages is None else pages
        response = self.http.post(dialog_url.split("?")[0], data=form, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        target = urlsplit(response.headers["Location"])
        return f"{target.path}?{target.query}"


@pytest.fixture
def fb_login(meta_sandbox) -> FacebookLogin:
    return FacebookLogin(meta_sandbox)


@pytest.fixture
def admin_client(app, make):
    """(client, business): an owner of a fresh business, signed in through the real form. The business has an agent and
    one location, and no accounts."""

    def factory(name: str | None = None, locations: tuple[str, ...] = ()):
        business = make.business(name)
        make.db.session.delete(business.account)
        make.db.session.commit()
        for loc in locations:
            make.location(business.agent, loc)
        client = app.test_client()
        response = login(client, business.user.email)
        assert response.status_code == 302
        return client, business

    return factory


class _Inbox:
    def __init__(self):
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content})
        return "250 OK"


@pytest.fixture
def alert_smtp(app):
    """A real SMTP server (aiosmtpd) catching the alert emails ChatPad sends to admins: ALERT_SMTP_URL points at it
    for the test. `.messages` lists what arrived."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    saved = app.config.get("ALERT_SMTP_URL")
    app.config["ALERT_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    yield inbox
    app.config["ALERT_SMTP_URL"] = saved
    controller.stop()


def switch_browser() -> None:
    """Before another test client acts: forget what Flask-Login and Flask-WTF cached on `g` for the previous one (the
    test's app context outlives requests, so `g` would carry one browser's user and CSRF token into the next)."""
    from flask import g

    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def post_form(client, url: str, data: dict | None = None, *, page_url: str | None = None):
    """POST a form with the CSRF token of the page it came from (page_url, or url itself)."""
    page = client.get(page_url or url)
    body = {"csrf_token": csrf_from(page.get_data(as_text=True)), **(data or {})}
    return client.post(url, data=body)


def run_flow(
    client,
    fb_login: FacebookLogin,
    agent_id,
    select: list[str] | None,
    *,
    kind: str = "facebook",
    assign: dict[str, str] | None = None,
    **answer,
):
    """Connect through every screen: start → dialog → callback → selection (`select`: candidate ids; None stops at the
    selection screen) → assignment (`assign`: candidate id → location id, default: what the screen pre-selected).
    Returns the last response."""
    start = client.get(f"/admin/integrations/connect/{kind}?agent={agent_id}")
    assert start.status_code == 302, start.get_data(as_text=True)
    back = fb_login.answer(start.headers["Location"], **answer)
    callback = client.get(back)
    if callback.status_code != 302 or select is None:
        return callback
    select_url = callback.headers["Location"]
    page = client.get(select_url)
    chosen = client.post(select_url, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "candidate": select})
    if chosen.status_code != 302:
        return chosen
    assign_url = chosen.headers["Location"]
    page = client.get(assign_url).get_data(as_text=True)
    values = dict(re.findall(r'<select name="location-(\w+)"[^>]*>.*?<option value="([^"]*)" selected', page, re.S))
    for cid in select:
        values.setdefault(cid, "")
    values.update(assign or {})
    data = {"csrf_token": csrf_from(page), **{f"location-{cid}": loc for cid, loc in values.items()}}
    return client.post(assign_url, data=data)
