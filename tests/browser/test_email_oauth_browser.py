"""Connecting a Google inbox in a real browser at phone width (390 px), through the sandbox's consent page: a mail
server that can't be reached is said to be a network problem and nothing is connected; a working one says Connected
and the inbox is listed. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from chatpad.models import SocialAccount
from tests.factories import PASSWORD

from ..plugins.mail import free_port, oauth_server_config

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser, live_server, mail_app, make):
    """(page, business): signed in at 390 px, with OAuth redirects coming back to the live server."""
    biz = make.business("Inbox on a phone")
    saved = mail_app.config.get("PUBLIC_URL")
    mail_app.config["PUBLIC_URL"] = live_server.url
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto("/login")
    page.fill("#email", biz.user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    yield page, biz
    context.close()
    mail_app.config["PUBLIC_URL"] = saved


def _connect_google(page, biz, address: str) -> None:
    page.goto(
        f"/integrations/email/oauth/google/start?agent_id={biz.agent.id}&location_id={biz.location.id}"
        f"&next=/admin/integrations/?agent={biz.agent.id}"
    )
    page.wait_for_url(re.compile(r".*/google/o/oauth2/v2/auth.*"))
    page.fill("#email", address)
    page.click("button[value=allow]")
    page.wait_for_url(re.compile(r".*/admin/integrations/.*"))


def test_unreachable_google_mail_server_is_shown_as_a_network_problem(phone, mail_app, db, artifacts):
    page, biz = phone
    closed = free_port()
    mail_app.config.update(oauth_server_config(("127.0.0.1", closed), ("127.0.0.1", closed)))
    _connect_google(page, biz, "phone.offline@gmail.example")
    body = page.locator("body").inner_text()
    page.screenshot(path=str(artifacts / "email-oauth-unreachable-390.png"), full_page=True)
    assert "could not reach its IMAP server" in body and "network problem" in body
    assert "Connected phone.offline@gmail.example" not in body
    assert (
        db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == "phone.offline@gmail.example"))
        is None
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_working_google_mailbox_says_connected(phone, db, artifacts):
    page, biz = phone
    _connect_google(page, biz, "phone.works@gmail.example")
    body = page.locator("body").inner_text()
    page.screenshot(path=str(artifacts / "email-oauth-connected-390.png"), full_page=True)
    assert "Connected phone.works@gmail.example." in body
    db.session.expire_all()
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == "phone.works@gmail.example"))
    assert account is not None and account.status == "connected"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
