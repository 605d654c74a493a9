"""Issue 18's pages at a phone's width in Chromium: the location form's languages and handoff topics, and a Spanish
conversation handed off on a topic in the inbox (language beside each message, the topic's badge)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import Location, Message

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    yield page
    context.close()


def _sign_in(page) -> None:
    page.goto("/login")
    page.fill("#email", D.ADMIN_EMAIL)
    page.fill("#password", D.ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/**")


def test_languages_and_topics_on_a_phone(phone, demo, talk, db, artifacts):
    from chatpad.ai import compose_reply
    from chatpad.models import SocialAccount
    from chatpad.pipeline.takeover import take_over

    forge = db.session.scalar(select(Location).where(Location.name == D.LOCATIONS[0].name))
    _sign_in(phone)
    phone.goto(f"/admin/locations/edit/?id={forge.id}")
    assert phone.locator("input[name=languages][value=es]").is_checked()
    assert not phone.locator("input[name=languages][value=fr]").is_checked()
    phone.fill("textarea[name=handoff_topics]", "rent increase: rent going up, aumento de renta")
    phone.check("input[name=languages][value=fr]")
    phone.screenshot(path=str(artifacts / "location-languages-390.png"), full_page=True)
    # The new fields fit the phone and nothing lies over them (the opening-hours table above is wider: not these).
    for selector in ("#languages", "textarea[name=handoff_topics]"):
        box = phone.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
    list_box = phone.locator("#languages").bounding_box()
    help_box = phone.locator("#languages ~ small, #languages + small").first.bounding_box()
    assert help_box is None or help_box["y"] >= list_box["y"] + list_box["height"], (list_box, help_box)
    phone.click("input[type=submit][value='Save']")
    phone.wait_for_url("**/admin/locations/**")
    db.session.expire_all()
    forge = db.session.get(Location, forge.id)
    assert forge.languages == ["en", "es", "fr"]
    assert forge.handoff_topics == [{"name": "rent increase", "keywords": ["rent going up", "aumento de renta"]}]

    page_account = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == "Forge Lake Community"))
    conversation = talk.conversation(page_account)
    talk.say(conversation, "Me cobraron dos veces la renta del lote este mes")
    reply = compose_reply(conversation)
    db.session.add(
        Message(
            conversation_id=conversation.id,
            channel=conversation.channel,
            direction="outbound",
            sender_type="ai",
            content=reply.text,
            status="sent",
            language=reply.extra["language"],
        )
    )
    take_over(conversation, reason=reply.extra["handoff_reason"], topic=reply.extra["handoff_topic"], notify=False)
    phone.goto(f"/admin/inbox/c/{conversation.id}")
    assert phone.locator(".handoff-topic").inner_text() == "Topic: billing dispute"
    assert phone.locator(".msg-language").first.inner_text() == "Spanish"
    phone.screenshot(path=str(artifacts / "inbox-language-topic-390.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
