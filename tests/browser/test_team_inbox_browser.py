"""The team inbox in Chromium with two people in two browser contexts (issue 21): the owner of MHP and Mia, the
on-site manager of Forge at the Lake. Mia types "/" in the reply box, picks a canned reply whose variables the server
filled, and sends it; the owner ticks two rows and resolves them together; Mia's list shows hers resolved, her picker
never offers Pine Ridge's reply, and Pine Ridge's conversation answers 404 to her by its URL. Mia's pages are 390 px
wide and must not scroll sideways. Screenshots go to test-artifacts/team-*.png.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatpad.models import CannedReply, Conversation, Message
from tests.browser.test_inbox_browser import sign_in
from tests.inbox.test_locations import mhp  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width}px wide at 390"


def test_canned_reply_and_bulk_resolve_by_two_people(browser, live_server, db, mhp, artifacts):  # noqa: F811
    db.session.add_all(
        [
            CannedReply(
                organization_id=mhp.org.id,
                location_id=mhp.location.id,
                title="Welcome",
                body="Hi {first_name}, {location} here. How can we help?",
            ),
            CannedReply(organization_id=mhp.org.id, location_id=mhp.pine.id, title="Pine gate", body="Pine only."),
        ]
    )
    db.session.commit()
    owner_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    mia_context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    try:
        owner, mia = owner_context.new_page(), mia_context.new_page()
        sign_in(owner, mhp.user.email)
        sign_in(mia, mhp.mia.email)

        # Mia: "/" opens the picker with Forge's reply filled in; Enter inserts it; Send sends it as filled.
        mia.goto(f"/admin/inbox/c/{mhp.forge_conv.id}")
        mia.click("#reply-text")
        mia.keyboard.type("/")
        assert mia.is_visible("#canned-picker")
        assert mia.locator(".canned-choice").all_inner_texts()[0].startswith("Welcome")
        assert "Pine only." not in mia.content()
        mia.screenshot(path=str(artifacts / "team-canned-picker.png"), full_page=True)
        _no_sideways_scroll(mia)
        mia.keyboard.press("Enter")
        assert mia.input_value("#reply-text") == "Hi Walker, Forge at the Lake here. How can we help?"
        mia.click("#send-button")
        mia.wait_for_selector(".alert:has-text('Reply queued')")
        db.session.expire_all()
        sent = db.session.scalar(select(Message.content).where(Message.sender_type == "human"))
        assert sent == "Hi Walker, Forge at the Lake here. How can we help?"

        # The owner ticks Forge's and Pine's conversations and resolves them together.
        owner.goto("/admin/inbox/")
        owner.check(f".bulk-tick[value='{mhp.forge_conv.id}']")
        owner.check(f".bulk-tick[value='{mhp.pine_conv.id}']")
        assert owner.inner_text("#bulk-count") == "2 ticked"
        owner.select_option("#bulk-action", "resolve")
        owner.click("#bulk-apply")
        owner.wait_for_selector(".alert:has-text('Resolved 2 conversations.')")
        owner.screenshot(path=str(artifacts / "team-bulk-resolved.png"), full_page=True)
        db.session.expire_all()
        statuses = {c.id: c.status for c in db.session.scalars(select(Conversation))}
        assert statuses[mhp.forge_conv.id] == statuses[mhp.pine_conv.id] == "resolved"
        assert statuses[mhp.general_conv.id] != "resolved"

        # Mia's list shows hers resolved and nothing of Pine Ridge; Pine Ridge's URL is a 404 to her.
        mia.goto("/admin/inbox/")
        row = mia.locator(f".inbox-row[data-conversation='{mhp.forge_conv.id}']")
        assert "Resolved" in row.inner_text()
        assert mia.locator(".inbox-row").count() == 1
        _no_sideways_scroll(mia)
        mia.screenshot(path=str(artifacts / "team-list-390.png"), full_page=True)
        response = mia.goto(f"/admin/inbox/c/{mhp.pine_conv.id}")
        assert response.status == 404
    finally:
        owner_context.close()
        mia_context.close()


def test_keyboard_shortcuts(browser, live_server, db, mhp):  # noqa: F811
    db.session.add(CannedReply(organization_id=mhp.org.id, title="Thanks", body="Thanks {first_name}!"))
    db.session.commit()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    try:
        owner = context.new_page()
        sign_in(owner, mhp.user.email)
        owner.goto("/admin/inbox/")
        owner.wait_for_load_state("load")
        owner.keyboard.press("?")
        assert owner.is_visible("#shortcut-help") and "Ctrl" in owner.inner_text("#shortcut-help")
        owner.keyboard.press("Escape")
        assert not owner.is_visible("#shortcut-help")
        # Newest first: General, Pine Ridge, Forge. j j lands on Pine Ridge's; e resolves it alone.
        owner.keyboard.press("j")
        owner.keyboard.press("j")
        current = owner.get_attribute(".inbox-row.kb-current", "data-conversation")
        assert current == str(mhp.pine_conv.id)
        owner.keyboard.press("k")
        owner.keyboard.press("j")
        owner.keyboard.press("e")
        owner.wait_for_selector(".alert:has-text('Resolved 1 conversation.')")
        db.session.expire_all()
        statuses = {c.id: c.status for c in db.session.scalars(select(Conversation))}
        assert statuses[mhp.pine_conv.id] == "resolved"
        assert statuses[mhp.forge_conv.id] != "resolved" and statuses[mhp.general_conv.id] != "resolved"

        # In a conversation: / opens the canned replies; letters typed in the reply box stay text; Ctrl+Enter sends.
        owner.goto(f"/admin/inbox/c/{mhp.forge_conv.id}")
        owner.keyboard.press("/")
        assert owner.is_visible("#canned-picker")
        owner.keyboard.press("Enter")
        owner.keyboard.type(" e a j")
        assert owner.input_value("#reply-text") == "Thanks Walker! e a j"
        owner.keyboard.press("Control+Enter")
        owner.wait_for_selector(".alert:has-text('Reply queued')")
        owner.wait_for_load_state("load")  # the shortcuts are listened for once the page's script has run
        db.session.expire_all()
        assert db.session.get(Conversation, mhp.forge_conv.id).status != "resolved"
        assert (
            db.session.scalar(select(Message.content).where(Message.sender_type == "human")) == "Thanks Walker! e a j"
        )
        owner.keyboard.press("e")
        owner.wait_for_selector("#reopen")
    finally:
        context.close()


def test_phone_width_pages_and_actions_above_the_reply_box(browser, live_server, db, mhp, inbox_make):  # noqa: F811
    from chatpad.notify import notify_assigned

    notify_assigned(mhp.forge_conv, mhp.user, by=mhp.mia, note="A long note " + "x" * 120)
    db.session.commit()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    try:
        owner = context.new_page()
        sign_in(owner, mhp.user.email)
        for url in ("/admin/inbox/notifications/", "/admin/inbox/", "/admin/inbox/?status=waiting"):
            owner.goto(url)
            _no_sideways_scroll(owner)
        owner.goto(f"/admin/inbox/c/{mhp.forge_conv.id}")
        _no_sideways_scroll(owner)
        reply_top = owner.locator("#reply-text").bounding_box()["y"]
        for button in ("#m-take-over", "#m-resolve"):
            box = owner.locator(button).bounding_box()
            assert box is not None and box["y"] < reply_top, button
        owner.click("#m-take-over")
        owner.wait_for_selector(".alert:has-text('You took over')")
        owner.click("#m-resolve")
        owner.wait_for_selector(".alert:has-text('Resolved.')")
    finally:
        context.close()
