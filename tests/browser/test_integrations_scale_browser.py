"""The Integrations page with the demo's scale (88 accounts over 20 communities) in headless Chromium: filtered down to
one location's accounts, needs attention first, a location change and a pause made in place (no reload, the scroll
position kept) and undone, and no sideways scroll at 390 px. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from chatpad import demo_data as D
from chatpad.models import SocialAccount
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

# 25 Pages, 20 Instagram accounts, 20 inboxes, 20 SMS numbers and 3 WhatsApp numbers: the demo's 88.
CHANNELS = (("facebook", 25), ("instagram", 20), ("email", 20), ("sms", 20), ("whatsapp", 3))


@pytest.fixture
def scaled(make, db):
    biz = make.business("MHP Communities (scale)")
    db.session.delete(biz.account)
    db.session.delete(biz.location)
    db.session.commit()
    locations = [make.location(biz.agent, loc.name) for loc in D.LOCATIONS]
    n = 0
    for channel, count in CHANNELS:
        for i in range(count):
            location = locations[i] if i < len(locations) else None
            status = "needs_reauth" if (channel, i) in (("instagram", 7), ("sms", 12)) else "connected"
            make.account(
                biz.agent,
                channel,
                location,
                account_name=f"{channel.title()} {i + 1:02d} {'· ' + location.name.split()[0] if location else ''}",
                status=status,
            )
            n += 1
    assert n == 88
    return biz, locations


def open_page(browser, live_server, user, width):
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto("/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto("/admin/integrations/")
    return context, page


def test_88_accounts_filter_to_one_location_and_change_in_place_with_undo(browser, live_server, scaled, db, artifacts):
    biz, locations = scaled
    context, page = open_page(browser, live_server, biz.user, 1366)
    rows = page.locator(".account-row")
    assert rows.count() == 88
    assert page.locator("details.integration-section").count() == 21  # 20 communities and General
    page.screenshot(path=str(artifacts / "integrations-88-by-location.png"))

    forge = next(loc for loc in locations if loc.name == "Forge at the Lake")
    page.select_option("#location-filter", str(forge.id))
    visible = page.locator(".account-row:visible")
    expected = db.session.query(SocialAccount).filter_by(location_id=forge.id).count()
    assert expected >= 4 and visible.count() == expected
    assert {r.get_attribute("data-location") for r in visible.all()} == {str(forge.id)}
    assert page.locator("#shown-count").inner_text() == f"{expected} of 88 shown"
    page.screenshot(path=str(artifacts / "integrations-one-location.png"))

    page.select_option("#location-filter", "")
    page.select_option("#health-filter", "attention")
    assert page.locator(".account-row:visible").count() == 2
    page.select_option("#health-filter", "")
    page.fill("#account-search", "whatsapp")
    assert page.locator(".account-row:visible").count() == 3
    # Every word must match: the channel and the second location's name leave that one number.
    page.fill("#account-search", f"whatsapp {locations[1].name.split()[0].lower()}")
    assert page.locator(".account-row:visible").count() == 1
    page.fill("#account-search", "")

    # Needs attention first in its location.
    first = page.locator(f"#location-{locations[7].id} .account-row").first
    assert first.get_attribute("data-health") == "attention"

    # A location change far down the page: no reload, the same scroll position, and Undo puts it back.
    target = page.locator(f"#location-{locations[15].id} .account-row").nth(1)
    target.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 200); window.__notReloaded = true")
    before = page.evaluate("window.scrollY")
    assert before > 2000
    account_name = target.locator(".account-name").inner_text()
    account = db.session.query(SocialAccount).filter_by(account_name=account_name).one()
    target.locator("select[name=location]").select_option(str(locations[0].id))
    page.wait_for_selector(f"#inplace-toast:has-text('now answers for {locations[0].name}')")
    assert page.evaluate("window.__notReloaded") is True
    assert abs(page.evaluate("window.scrollY") - before) < 5
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).location_id == locations[0].id
    page.screenshot(path=str(artifacts / "integrations-changed-in-place.png"))
    page.click("#undo-change")
    page.wait_for_selector("#inplace-toast:has-text('Undone')")
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).location_id == locations[15].id
    assert target.locator("select[name=location]").input_value() == str(locations[15].id)

    # Pausing in place, undone the same way.
    target.locator(".custom-control-label").click()
    page.wait_for_selector("#inplace-toast:has-text('is paused')")
    assert target.get_attribute("data-health") == "paused"
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).is_active is False
    page.click("#undo-change")
    page.wait_for_selector("#inplace-toast:has-text('Undone')")
    db.session.expire_all()
    assert db.session.get(SocialAccount, account.id).is_active is True
    assert page.evaluate("window.__notReloaded") is True
    assert abs(page.evaluate("window.scrollY") - before) < 5

    # Collapsing a section hides its rows.
    section = page.locator(f"#location-{locations[0].id}")
    section.locator("summary").click()
    assert section.locator(".account-row:visible").count() == 0
    context.close()


@pytest.mark.parametrize("group", ["location", "channel"])
def test_no_sideways_scroll_at_390(browser, live_server, scaled, artifacts, group):
    biz, _ = scaled
    context, page = open_page(browser, live_server, biz.user, 390)
    page.goto(f"/admin/integrations/?group={group}")
    assert page.locator(".account-row").count() == 88
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / f"integrations-88-390-{group}.png"))
    context.close()


def test_select_and_assign_steps_at_390_with_a_new_location(browser, live_server, make, db, meta_sandbox, artifacts):
    """At 390 px: Select all ticks the business Pages only, and a location added in the assignment step is chosen for
    the Page that matches it; neither step is wider than the phone."""
    import re

    biz = make.business("MHP (phone)")
    db.session.delete(biz.account)
    db.session.commit()
    for loc in D.LOCATIONS[:3]:
        make.location(biz.agent, loc.name)
    context, page = open_page(browser, live_server, biz.user, 390)
    page.click("#connect-facebook")
    page.click("button:has-text('Continue as Dana')")
    page.wait_for_url(re.compile(r".*/select(#.*)?$"))
    page.click("#select-none")
    page.click("#select-all")
    for name in ("Dana Demo Photography", "Westside Little League"):
        assert not page.locator("tr.candidate", has_text=name).locator("input").is_checked()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "integrations-select-390.png"), full_page=True)
    page.click("#select-none")
    for name in ("Riverbend MHP", "Cedar Hollow Homes"):
        page.locator("tr.candidate", has_text=name).locator("input").check()
    page.click("#to-assign")
    page.wait_for_url(re.compile(r".*/assign$"))
    page.fill("#new-location-name", "Riverbend")
    page.click("#add-location")
    page.wait_for_selector("text=Location Riverbend is added.")
    row = page.locator("tr.assignment", has_text="Riverbend MHP")
    assert row.locator("option:checked").inner_text() == "Riverbend"
    assert page.locator("tr.assignment", has_text="Cedar Hollow Homes").locator("option:checked").inner_text() == (
        "General"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "integrations-assign-390.png"), full_page=True)
    context.close()
