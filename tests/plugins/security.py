"""Browser fixtures for the security tests: pages that record every CSP violation and script dialog."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD

# Runs before any page script: every violation the browser reports lands in window.__cspViolations.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample,
                               source: e.sourceFile + ':' + e.lineNumber});
});
"""


class WatchedPage:
    """A Playwright page plus what it reported: CSP violations (DOM events and console errors) and dialogs."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))

        def on_dialog(dialog):
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def __getattr__(self, name):
        return getattr(self.page, name)

    def violations(self) -> list:
        events = self.page.evaluate("window.__cspViolations || []")
        console = [e for e in self.console_errors if "Content Security Policy" in e]
        return events + console

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.page.goto("/login")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/admin/")


@pytest.fixture
def watched_page(browser, live_server):
    """A fresh browser context on the live server whose page records CSP violations and dialogs."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = WatchedPage(context.new_page())
    yield page
    context.close()
