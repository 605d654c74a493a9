"""The Integrations tab in a real browser (headless Chromium) against the sandbox's Facebook Login: connect 25 Pages
and assign their locations, deny consent, and watch an expired token turn into "Reconnect" and back to green.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.models import SocialAccount
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

PERSONAL = ("Dana Demo Photography", "Westside Little League")


@pytest.fixture
def mhp(make, db):
    """A business with the demo's 20 community locations and no accounts yet."""
    biz = make.business("MHP Communities (browser)")
    db.session.delete(biz.account)
    db.session.commit()
    for loc in D.LOCATIONS:
        make.location(biz.agent, loc.name)
    return biz


@pytest.fixture
def page(browser, live_server, mhp):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto("/login")
    page.fill("#email", mhp.user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    yield page
    context.close()


def connected_rows(page):
    return page.locator(".account-row[data-channel='facebook'][data-status='connected']")


def test_connect_25_pages_and_assign_locations(page, mhp, db, meta_sandbox, artifacts):
    """From an empty tab: Meta's dialog, Select all (the business Pages, not the personal ones), 20 locations
    pre-selected by name, and 25 green rows with their locations."""
    page.goto("/admin/integrations/")
    page.screenshot(path=str(artifacts / "integrations-empty.png"), full_page=True)
    page.click("#connect-facebook")
    page.wait_for_url(re.compile(r".*/facebook/v\d+\.\d+/dialog/oauth.*"))
    assert page.locator("input[name='page']").count() == 28
    page.screenshot(path=str(artifacts / "facebook-dialog.png"), full_page=True)
    page.click("button:has-text('Continue as Dana')")

    page.wait_for_url(re.compile(r".*/select(#.*)?$"))
    assert page.locator("tr.candidate").count() == 28
    assert page.locator("#selected-count").inner_text() == "20"  # the ones matching a location
    page.click("#select-all")
    # "Select all" ticks the Pages a business portfolio owns (Graph's Page `business`), never the personal ones.
    assert page.locator("#selected-count").inner_text() == "25"
    for name in PERSONAL:
        row = page.locator("tr.candidate", has_text=name)
        assert not row.locator("input").is_checked()
        assert "Personal Page (no business portfolio)" in row.inner_text()
    assert "MHP Communities" in page.locator("tr.candidate", has_text="Forge Lake Community").inner_text()
    page.fill("#filter", "lakeview")
    assert page.locator("tr.candidate:visible").count() == 1
    page.fill("#filter", "")
    assert page.locator("#selected-count").inner_text() == "25"
    page.screenshot(path=str(artifacts / "integrations-select-pages.png"), full_page=True)
    page.click("#to-assign")

    page.wait_for_url(re.compile(r".*/assign$"))
    selects = page.locator("select.location-select")
    assert selects.count() == 25
    preselected = [s for s in selects.all() if s.input_value() != ""]
    assert len(preselected) == 20
    forge = page.locator("tr.assignment", has_text="Forge Lake Community").locator("select")
    assert forge.locator("option:checked").inner_text() == "Forge at the Lake"
    page.screenshot(path=str(artifacts / "integrations-assign-locations.png"), full_page=True)
    page.click("#connect-selected")

    page.wait_for_url(re.compile(r".*/admin/integrations/\?agent=[^/]*$"))
    assert "Connected 25 Pages." in page.content()
    assert connected_rows(page).count() == 25
    assert page.locator(".account-row[data-channel='facebook'] .status-ok").count() == 25
    row = page.locator(".account-row[data-channel='facebook']", has_text="Clearview MHP")
    assert row.locator("select option:checked").inner_text() == "Clearview Estates"
    assert "Last message: no messages yet" in row.inner_text()
    page.screenshot(path=str(artifacts / "integrations-25-pages.png"), full_page=True)

    db.session.expire_all()
    accounts = db.session.scalars(select(SocialAccount).where(SocialAccount.tenant_clause(mhp.org.id))).all()
    assert len(accounts) == 25 and {a.status for a in accounts} == {"connected"}
    assert sum(1 for a in accounts if a.location_id) == 20


def test_deny_consent(page, mhp, db, meta_sandbox, artifacts):
    """Cancel in Meta's dialog: a page that says what happened and what to do; no rows."""
    page.goto("/admin/integrations/")
    page.click("#connect-facebook")
    page.wait_for_url(re.compile(r".*/dialog/oauth.*"))
    page.click("button:has-text('Cancel')")
    page.wait_for_selector(".connect-error")
    text = page.locator(".connect-error").inner_text()
    assert "dialog was cancelled, or access was declined" in text
    assert "press Connect again and choose Continue" in text
    page.screenshot(path=str(artifacts / "integrations-consent-denied.png"), full_page=True)
    page.click("text=Back to Integrations")
    assert page.locator(".account-row").count() == 0


def test_expired_token_turns_to_reconnect_then_back(page, mhp, db, meta_sandbox, workers, artifacts):
    """Connect one Page; its token expires; the daily check turns the row to "Reconnect" with a banner; Reconnect goes
    through Meta's dialog and the same row is green again."""
    from jobs.accounts import check_accounts_health

    page.goto("/admin/integrations/")
    page.click("#connect-facebook")
    page.wait_for_url(re.compile(r".*/dialog/oauth.*"))
    page.click("button:has-text('Continue as Dana')")
    page.wait_for_url(re.compile(r".*/select(#.*)?$"))
    page.click("#select-none")
    page.locator("tr.candidate", has_text="Forge Lake Community").locator("input").check()
    page.click("#to-assign")
    page.wait_for_url(re.compile(r".*/assign$"))
    page.click("#connect-selected")
    page.wait_for_url(re.compile(r".*/admin/integrations/\?agent=[^/]*$"))
    assert connected_rows(page).count() == 1
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.tenant_clause(mhp.org.id)))
    old_token = account.access_token

    meta_sandbox.invalidate_token(account.account_id, subcode=463)
    check_accounts_health()
    workers.run("default")
    page.reload()
    row = page.locator(".account-row[data-channel='facebook']", has_text="Forge Lake Community")
    assert row.get_attribute("data-status") == "needs_reauth"
    assert "Needs reconnection" in row.inner_text() and "Its access token expired." in row.inner_text()
    assert "1 account needs to be reconnected" in page.locator(".reauth-banner").inner_text()
    page.screenshot(path=str(artifacts / "integrations-needs-reconnect.png"), full_page=True)

    row.locator("a.reconnect").click()
    page.wait_for_url(re.compile(r".*/dialog/oauth.*auth_type=rerequest.*"))
    page.click("button:has-text('Continue as Dana')")
    page.wait_for_url(re.compile(r".*/admin/integrations/\?agent=[^/]*$"))
    assert "Forge Lake Community is reconnected." in page.content()
    assert connected_rows(page).count() == 1
    assert page.locator(".reauth-banner").count() == 0
    page.screenshot(path=str(artifacts / "integrations-reconnected.png"), full_page=True)
    db.session.expire_all()
    again = db.session.get(SocialAccount, account.id)
    assert again.status == "connected" and again.access_token != old_token
