"""The sandbox's Instagram page, in a real browser: DM an account, mention it in a story, get thanked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad.models import Message

pytestmark = pytest.mark.browser


def test_mention_an_account_in_a_story_and_get_thanked(
    app, db, ig_account, ig_sandbox, sandbox_server, browser, workers, artifacts
):
    """The 📣 button posts a story mention ChatPad stores as a link; the location's thank-you shows in the thread,
    under the story the customer posted."""
    page = browser.new_page(viewport={"width": 1200, "height": 760})
    page.goto(f"{sandbox_server.url}/instagram")
    page.click(f"#pages li[data-name='{ig_sandbox.username()}']")
    page.fill("#me", "Jane Doe")
    page.dispatch_event("#me", "change")
    page.click("#mention")
    page.wait_for_selector(".row.customer .story img")

    # The page asks for the webhook without waiting for it: wait until ChatPad has acknowledged it.
    ig_sandbox.wait_for(lambda: any(d["state"] == "delivered" for d in ig_sandbox.meta.deliveries()))
    workers.run("inbound", "outbound")
    (stored,) = db.session.scalars(select(Message).where(Message.direction == "inbound")).all()
    assert stored.media[0]["type"] == "story_mention"
    page.wait_for_selector(".row.page .bubble:has-text('Thank you for the shout-out!')")

    page.fill("#text", "Do you have lots with a lake view?")
    page.press("#text", "Enter")
    page.wait_for_selector(".row.customer .bubble:has-text('lake view')")
    page.screenshot(path=str(artifacts / "sandbox-instagram.png"))
    page.close()
