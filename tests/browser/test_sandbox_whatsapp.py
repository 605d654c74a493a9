"""The sandbox's WhatsApp and SMS pages (one shared layout, sandbox/_phone_chat.html), in a real browser at 390 px:
write as a customer, see ChatPad's stored message and its reply, tap a reply button, step outside the window."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import Message

pytestmark = pytest.mark.browser


def test_write_on_whatsapp_as_a_customer_and_see_the_answer(
    app, db, whatsapp_account, whatsapp_sandbox, sandbox_server, browser, workers, artifacts
):
    whatsapp_account()
    page = browser.new_page(viewport={"width": 390, "height": 760})
    page.goto(f"{sandbox_server.url}/whatsapp")
    page.select_option("#location", D.LOCATIONS[0].slug)
    page.fill("#me", "+15125550123")
    page.fill("#text", "What are your office hours?")
    page.press("#text", "Enter")
    page.wait_for_selector(".row.customer .bubble:has-text('What are your office hours?')")
    workers.run()
    (stored,) = db.session.scalars(select(Message).where(Message.direction == "inbound")).all()
    assert stored.content == "What are your office hours?"
    page.wait_for_selector(".row.business .meta:has-text('delivered')")
    page.wait_for_selector("#status.good")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#age")
    page.wait_for_selector(".notice:has-text('Outside the 24-hour window')")
    page.screenshot(path=str(artifacts / "sandbox-whatsapp.png"), full_page=True)
    page.close()


def test_the_sms_page_still_texts_on_the_shared_layout(
    app, db, sms_account, twilio_sandbox, sandbox_server, browser, workers, artifacts
):
    sms_account()
    page = browser.new_page(viewport={"width": 390, "height": 760})
    page.goto(f"{sandbox_server.url}/sms")
    page.select_option("#location", D.LOCATIONS[0].slug)
    page.fill("#text", "Hello by text")
    page.press("#text", "Enter")
    page.wait_for_selector(".row.customer .bubble:has-text('Hello by text')")
    page.wait_for_selector("#status.good")
    workers.run()
    page.wait_for_selector(".row.business .bubble")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "sandbox-sms.png"), full_page=True)
    page.close()
