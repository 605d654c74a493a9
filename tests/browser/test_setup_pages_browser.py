"""Home's setup checklist, the forgot-password page, a location's page, the listing form and the audit log in
headless Chromium at 1366 and 390 px: what they show, and nothing wider than the window. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1366, 390])
def test_new_organization_home_checklist_forgot_password_and_audit_log(browser, live_server, make, artifacts, width):
    org = make.org("Brand New Parks")
    owner = make.user(org, role="owner")
    agent = make.agent(org)
    forge = make.location(agent, "Forge at the Lake")
    make.location(agent, "Clearview Estates")
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto("/login")
    page.click("#forgot-password")
    page.wait_for_url("**/forgot")
    page.fill("#email", "someone@example.com")
    page.click("button[type=submit]")
    assert "If someone@example.com has a ChatPad account" in page.locator(".forgot-sent").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts / f"forgot-password-{width}.png"), full_page=True)

    page.goto("/login")
    page.fill("#email", owner.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    steps = page.locator("#setup-checklist .setup-step")
    assert steps.count() == 5
    # Locations and hours are done (the factory gives a location weekday hours); the rest are to do.
    assert [s.get_attribute("data-done") for s in steps.all()] == ["1", "1", "0", "0", "0"]
    assert "2 of 5 steps done" in page.locator("#setup-progress").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts / f"home-setup-checklist-{width}.png"), full_page=True)

    page.goto(f"/admin/location/{forge.id}")
    assert "Copy these hours to other locations" in page.content()
    page.click("summary:has-text('Copy these hours')")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts / f"location-page-{width}.png"), full_page=True)

    page.goto("/admin/knowledge/new/")
    assert page.locator("select#status option").count() == 6 and page.locator("textarea#data").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts / f"knowledge-listing-form-{width}.png"), full_page=True)

    page.goto("/admin/audit/")
    assert "auth.sign_in" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts / f"audit-log-{width}.png"), full_page=True)
    context.close()
