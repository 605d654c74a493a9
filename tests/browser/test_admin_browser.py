"""The admin in a real browser: headless Chromium signs in, edits a location's hours, and screenshots the pages."""

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def test_sign_in_and_see_the_admin(page, make, artifacts):
    biz = make.business("Lakeside Communities")
    page.goto("/admin/")
    assert "/login" in page.url
    page.fill("#email", biz.user.email)
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert page.locator(".alert").inner_text() == "Wrong email or password."

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    assert "Lakeside Communities" in page.content()
    page.screenshot(path=str(artifacts / "admin-home.png"), full_page=True)

    page.goto("/admin/locations/")
    assert biz.location.name in page.locator("table").inner_text()
    page.screenshot(path=str(artifacts / "admin-locations.png"), full_page=True)


def test_edit_hours_in_the_browser(page, make, db, artifacts):
    from chatpad.models import Location

    biz = make.business()
    page.goto("/login")
    page.fill("#email", biz.user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")

    page.goto(f"/admin/locations/edit/?id={biz.location.id}")
    page.fill("input[name='hours-sat-open-0']", "09:00")
    page.fill("input[name='hours-sat-close-0']", "13:00")
    page.check("input[name='hours-fri-closed']")
    page.fill("input[name='hours-exc-0-date']", "2026-12-31")
    page.fill("input[name='hours-exc-0-open']", "09:00")
    page.fill("input[name='hours-exc-0-close']", "12:00")
    page.fill("input[name='hours-exc-0-note']", "New Year's Eve")
    page.screenshot(path=str(artifacts / "admin-location-hours.png"), full_page=True)
    page.click("input[type=submit][value='Save']")
    page.wait_for_url("**/admin/locations/**")
    assert "Record was successfully saved." in page.content()

    db.session.expire_all()
    hours = db.session.get(Location, biz.location.id).hours
    assert hours["weekly"]["sat"] == [["09:00", "13:00"]]
    assert hours["weekly"]["fri"] == []
    assert hours["exceptions"] == [{"date": "2026-12-31", "hours": [["09:00", "12:00"]], "note": "New Year's Eve"}]
