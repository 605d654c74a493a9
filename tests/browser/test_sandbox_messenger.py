"""The sandbox's Messenger page, in a real browser: what a new user tries first after `make run`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad.models import Message

pytestmark = pytest.mark.browser


def test_write_as_a_customer_and_see_the_page_answer(
    app, db, make, meta_sandbox, sandbox_server, browser, workers, artifacts
):
    """Typing in the page posts a signed webhook ChatPad stores; the Page's answer appears in the thread."""
    business = make.business()
    page_id = meta_sandbox.page_id(0)
    business.account.account_id = page_id
    business.account.access_token = meta_sandbox.page_token(page_id)
    db.session.commit()

    page = browser.new_page(viewport={"width": 1200, "height": 760})
    page.goto(f"{sandbox_server.url}/messenger")
    page.click("#pages li[data-name='Forge Lake Community']")
    page.fill("#me", "Jane Doe")
    page.fill("#text", "Is lot 14 available?")
    page.press("#text", "Enter")
    page.wait_for_selector(".row.customer .bubble:has-text('Is lot 14 available?')")
    page.wait_for_selector("#status.good")

    workers.run("inbound")
    (stored,) = db.session.scalars(select(Message).where(Message.direction == "inbound")).all()
    assert stored.content == "Is lot 14 available?"

    page.click("details.inbox summary")
    page.fill("#inbox-text", "Yes! Want a tour on Saturday?")
    page.press("#inbox-text", "Enter")
    page.wait_for_selector(".row.page .bubble:has-text('Want a tour on Saturday?')")
    page.screenshot(path=str(artifacts / "sandbox-messenger.png"))
    page.close()
