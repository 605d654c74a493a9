"""Integrations → Calendars, the Bookings page and a conversation's tours in a real browser at a phone's width (390
px): nothing runs off the side. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from chatpad.booking import service
from tests.factories import PASSWORD

from ..booking.test_booking import ADA, weekday_at

pytestmark = pytest.mark.browser


def test_calendars_bookings_and_tours_fit_a_phone(
    browser, live_server, make, inbox_make, connect, tour_type, db, artifacts
):
    biz = make.business()
    tour_type(biz.location)
    connect(biz.location, "google", name="Front desk")
    connect(biz.location, "microsoft", name="Maria Gonzalez — leasing")
    conversation = inbox_make.conversation(biz.account)
    inbox_make.message(conversation, "Can I see it Tuesday at 10?")
    service.book(biz.location, weekday_at(10), customer=ADA, channel="facebook", conversation=conversation)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20000)
    try:
        page.goto("/login")
        page.fill("#email", biz.user.email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        for name, url, ready in (
            (
                "integrations-calendars",
                f"/admin/integrations/?agent={biz.agent.id}#calendars",
                "#calendars .calendar-row",
            ),
            ("calendar-new", f"/admin/integrations/calendars/new?agent={biz.agent.id}", "#calendar-caldav"),
            ("calendar-caldav", f"/admin/integrations/calendars/caldav?agent={biz.agent.id}", "#caldav-form"),
            ("bookings", f"/admin/bookings/?location={biz.location.id}", ".booking-row"),
            ("conversation-tours", f"/admin/inbox/c/{conversation.id}", "#tours .booking-row"),
        ):
            page.goto(url)
            page.wait_for_selector(ready)
            page.screenshot(path=str(artifacts / f"{name}-390.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        assert page.locator(".booking-row .booking-status").first.inner_text() == "Booked"
    finally:
        context.close()
