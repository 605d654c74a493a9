"""Setup → Import knowledge in a real browser at a phone's width (390 px): the form, a CSV's preview with its bad
row, and the import, with nothing running off the side. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
import requests

from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_importing_a_csv_of_listings_works_at_390_px(browser, live_server, sandbox_server, make, artifacts, tmp_path):
    biz = make.business()
    csv_file = tmp_path / "listings.csv"
    csv_file.write_bytes(requests.get(f"{sandbox_server.url}/site/forge-at-the-lake/listings.csv", timeout=5).content)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20000)

    def fits(name: str) -> None:
        page.screenshot(path=str(artifacts / f"{name}-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name

    try:
        page.goto("/login")
        page.fill("#email", biz.user.email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        page.goto("/admin/knowledge-import/")
        fits("knowledge-import")
        page.click("label[for=source-csv]")
        page.set_input_files("#file", str(csv_file))
        page.select_option("#location", str(biz.location.id))
        page.click("#import-preview")
        page.wait_for_selector("#import-items")
        fits("knowledge-import-preview")
        assert "is not a number" in page.inner_text("#import-problems")
        count = page.locator(".import-item").count()
        page.click("#import-confirm")
        page.wait_for_url("**/admin/knowledge/**")
        assert f"{count} new, 0 updated" in page.inner_text("body")
        fits("knowledge-imported")

        page.goto("/admin/knowledge-import/")  # the demo community page, by its address
        page.fill("#url", f"{sandbox_server.url}/site/forge-at-the-lake/")
        page.click("#import-preview")
        page.wait_for_selector("#import-items")
        fits("knowledge-import-page-preview")
        assert "Living at Forge at the Lake — Pet policy" in page.inner_text("#import-items")
    finally:
        context.close()
