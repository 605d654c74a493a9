"""The Content-Security-Policy in a real browser: every admin page (and the public ones) works under it and the
browser reports no violation, while an injected inline script is refused."""

from __future__ import annotations

import time

import pytest

from chatpad.privacy.meta import make_signed_request
from config import TestConfig

pytestmark = pytest.mark.browser


def admin_pages(world) -> list[str]:
    biz = world.biz
    contact = world.customer.id
    return [
        "/admin/",
        "/admin/agents/",
        "/admin/agents/new/",
        f"/admin/agents/edit/?id={biz.agent.id}",
        f"/admin/agents/details/?id={biz.agent.id}",
        "/admin/locations/",
        "/admin/locations/new/",
        f"/admin/locations/edit/?id={biz.location.id}",
        "/admin/accounts/",
        f"/admin/accounts/edit/?id={biz.account.id}",
        f"/admin/accounts/details/?id={biz.account.id}",
        "/admin/knowledge/",
        "/admin/knowledge/new/",
        "/admin/users/",
        "/admin/invitations/",
        "/admin/invitations/new/",
        f"/admin/users/edit/?id={biz.user.id}",
        "/admin/customer-data/",
        "/admin/customer-data/?q=dana",
        f"/admin/customer-data/{contact}",
        f"/admin/customer-data/{contact}/erase",
        "/admin/retention/",
        "/admin/audit/",
        "/admin/integrations/",
        "/admin/integrations/email/new",
        "/admin/integrations/email/imap",
        "/admin/widgets/",
        "/admin/widgets/new",
    ]


def test_every_admin_page_passes_the_csp(watched_page, db, make, world, artifacts):
    """Each page loads and runs its scripts (Flask-Admin's included) without a single CSP report."""
    make.knowledge(world.biz.agent, world.biz.location)
    page = watched_page
    page.sign_in(world.biz.user.email)
    failures = {}
    for url in admin_pages(world):
        response = page.goto(url)
        page.wait_for_load_state("networkidle")
        assert response.status == 200, url
        # Flask-Admin's scripts ran (the nonce let them): jQuery is there.
        assert page.evaluate("typeof window.jQuery") == "function", url
        if page.violations():
            failures[url] = page.violations()
        page.page.evaluate("window.__cspViolations = []")
        page.console_errors.clear()
    assert failures == {}
    page.goto("/admin/audit/")
    page.screenshot(path=str(artifacts / "admin-audit-log.png"), full_page=True)


def test_the_admins_interactions_pass_the_csp(watched_page, db, make, world):
    """Menus, filters, the delete confirmation and inert links work without inline handlers or javascript: URLs."""
    make.knowledge(world.biz.agent, world.biz.location)
    page = watched_page
    page.sign_in(world.biz.user.email)
    page.goto("/admin/knowledge/")
    page.click("text=Add Filter")
    page.click("a.filter >> nth=0")
    assert page.locator("#filter_form tr").count() == 1  # Flask-Admin's filter row was added
    page.click("a.nav-link.active")  # "List": a javascript:void(0) link
    page.click("text=Privacy")  # a menu category dropdown
    page.click("button[title='Delete Record']")  # asks first (dismissed by the fixture)
    assert page.dialogs == ["confirm: Are you sure you want to delete this record?"]
    assert page.locator("table.model-list tbody tr").count() == 1  # still there: the confirmation was dismissed
    assert page.violations() == []


def test_erasing_in_the_browser_passes_the_csp(watched_page, db, world, artifacts):
    """The whole erase flow (search, open, confirm) in Chromium, without CSP reports."""
    page = watched_page
    page.sign_in(world.biz.user.email)
    page.goto("/admin/customer-data/")
    page.fill("#q", "dana@example")
    page.click("#search-button")
    page.click("#customer-results a")
    page.screenshot(path=str(artifacts / "privacy-customer.png"), full_page=True)
    page.click("#erase-button")
    page.screenshot(path=str(artifacts / "privacy-erase.png"), full_page=True)
    page.check("#confirm")
    page.click("#confirm-erase")
    page.wait_for_url("**/admin/customer-data/")
    assert "The customer was erased" in page.locator(".alert").inner_text()
    assert page.violations() == []


def test_public_pages_pass_the_csp(watched_page, client, db, world):
    """The sign-in page and a deletion status page (shown to people coming from Facebook) pass too."""
    signed = make_signed_request("1", TestConfig.META_APP_SECRET, issued_at=int(time.time()))
    code = client.post("/api/privacy/meta-data-deletion", data={"signed_request": signed}).get_json()[
        "confirmation_code"
    ]
    for url in ("/login", f"/privacy/deletion/{code}", "/privacy/deletion/unknown0"):
        watched_page.goto(url)
        watched_page.wait_for_load_state("networkidle")
    assert watched_page.violations() == []


def test_the_policy_is_enforced(watched_page, world):
    """An inline script injected into a page is refused and reported: the policy is not just a header."""
    page = watched_page
    page.sign_in(world.biz.user.email)
    page.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                   document.body.appendChild(s);
                   const i = document.createElement('img'); i.setAttribute('onerror', 'window.__ran = 2');
                   i.src = 'data:,nope'; document.body.appendChild(i); }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in str(v) for v in page.violations())
