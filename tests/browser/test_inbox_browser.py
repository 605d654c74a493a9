"""The inbox in a real browser: headless Chromium against a live server with the real database, Redis, real RQ
workers and the Meta sandbox.

A customer writes to a Facebook Page through the sandbox's simulator (a signed webhook to the live server); the
agent filters by channel, opens the conversation, takes it over, replies; the worker sends it through the Send API,
the sandbox accepts it and posts Meta's echo and delivery receipt back, and the page shows "Sent" then "Delivered"
without a reload (server-sent events). Then: merging two contacts, analytics, notifications. Screenshots of each page
go to test-artifacts/inbox-*.png.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from chatpad.models import utcnow
from chatpad.pipeline.replies import clear_reply_pending
from chatpad.queue import get_queue
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 950})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the merge button asks for confirmation
    yield page
    context.close()


@pytest.fixture
def lakeside(make, inbox_make, meta_sandbox):
    """A business whose location owns the sandbox's Forge Lake Community Page, with conversations on Facebook and
    email; Bob wrote on both."""
    biz = make.business("Lakeside Communities")
    biz.page_id = meta_sandbox.page_id(0)
    biz.account.account_id = biz.page_id
    biz.account.account_name = "Forge Lake Community"
    biz.account.access_token = meta_sandbox.page_token(biz.page_id)
    make.db.session.commit()
    biz.mail = make.account(
        biz.agent, "email", biz.location, account_id="forge@lakeside.example", account_name="forge@lakeside.example"
    )
    now = utcnow()
    ana = inbox_make.conversation(biz.account, inbox_make.contact(biz.org, "Ana Lopez"))
    inbox_make.message(ana, "Do you have 3 bedroom homes?", at=now - timedelta(minutes=40))
    inbox_make.message(
        ana, "Yes! Lot 9 has three bedrooms.", direction="outbound", status="read", at=now - timedelta(minutes=39)
    )
    bob_mail = inbox_make.conversation(
        biz.mail, inbox_make.contact(biz.org, "Bob Stone", email="bob@example.com"), subject="Lot rent"
    )
    inbox_make.message(bob_mail, "What is the lot rent?", at=now - timedelta(hours=3))
    biz.bob = inbox_make.contact(biz.org, "Bob Stone")
    biz.bob_conv = inbox_make.conversation(biz.account, biz.bob)
    inbox_make.message(biz.bob_conv, "Hi, it's Bob again", at=now - timedelta(minutes=20))
    return biz


def sign_in(page, email):
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def test_filter_take_over_reply_and_watch_it_delivered(page, app, db, lakeside, meta_sandbox, workers, artifacts):
    """The agent's day: find the conversation, take it over, answer, and see the answer delivered, live."""
    from chatpad.models import Conversation

    sent = meta_sandbox.simulate(page=lakeside.page_id, sender="Jane Doe", text="Is lot 14 still available?")
    workers.run("inbound")
    jane = db.session.scalar(select(Conversation).where(Conversation.thread_key == sent["psid"]))
    with app.app_context():  # this test answers as a person; the AI's own job is tested elsewhere
        get_queue("ai").empty()
        clear_reply_pending(jane.id)

    sign_in(page, lakeside.user.email)
    page.click("nav >> text=Inbox")
    page.wait_for_url("**/admin/inbox/")
    names = page.locator(".inbox-name")
    assert names.all_inner_texts() == ["Jane Doe", "Bob Stone", "Ana Lopez", "Bob Stone"]
    page.wait_for_selector("#live-status:has-text('Live')")
    page.screenshot(path=str(artifacts / "inbox-list.png"), full_page=True)

    page.select_option("#f-channel", "facebook")  # submits by itself
    page.wait_for_url("**channel=facebook**")
    assert names.all_inner_texts() == ["Jane Doe", "Bob Stone", "Ana Lopez"]
    page.screenshot(path=str(artifacts / "inbox-filtered.png"), full_page=True)

    page.click(".inbox-name >> text=Jane Doe")
    page.wait_for_url(f"**/admin/inbox/c/{jane.id}")
    page.wait_for_selector("#live-status:has-text('Live')")
    assert "Messenger's 24-hour window is open" in page.inner_text(".window-note")
    page.fill("#takeover-hours", "2")
    page.click("#take-over")
    page.wait_for_selector("text=The AI answers again automatically after 2 hours.")
    assert "Taken over" in page.inner_text("#takeover-badge")

    text = "Yes, lot 14 is available! Would Friday at 10 work for a tour?"
    page.fill("#reply-text", text)
    assert "61 / 2000 characters" in page.inner_text(".reply-counter")  # the channel's limit, counted as you type
    page.click("#send-button")
    page.wait_for_selector("text=Reply queued.")
    assert page.locator(".msg-human .msg-status").first.inner_text().startswith("Sending")
    page.screenshot(path=str(artifacts / "inbox-reply-sending.png"), full_page=True)

    workers.run("outbound")  # a real RQ worker sends it through the Send API
    (accepted,) = meta_sandbox.accepted()
    assert accepted["path"] == f"{lakeside.page_id}/messages"
    assert accepted["json"]["recipient"] == {"id": sent["psid"]} and accepted["json"]["message"]["text"] == text
    page.wait_for_selector(".msg-human .status-sent")

    # Meta's echo and delivery receipt come back as webhooks; the inbound worker records them.
    meta_sandbox.wait_for(lambda: len([d for d in meta_sandbox.deliveries() if d["state"] == "delivered"]) >= 3)
    workers.run("inbound")
    page.wait_for_selector(".msg-human .status-delivered")
    assert "Delivered" in page.inner_text(".msg-human .msg-status")
    assert "Taken over" in page.inner_text("#takeover-badge")  # our own echo is not a takeover by someone else
    page.screenshot(path=str(artifacts / "inbox-conversation.png"), full_page=True)


def _jane_waiting(app, db, lakeside, meta_sandbox, workers):
    """Jane wrote on Messenger and is waiting for a person (the AI's own answer is tested elsewhere)."""
    from chatpad.models import Conversation

    sent = meta_sandbox.simulate(page=lakeside.page_id, sender="Jane Doe", text="Is lot 14 still available?")
    workers.run("inbound")
    jane = db.session.scalar(select(Conversation).where(Conversation.thread_key == sent["psid"]))
    with app.app_context():
        get_queue("ai").empty()
        clear_reply_pending(jane.id)
    return jane


def test_a_reply_sent_before_the_stream_opens_still_shows_sent(page, app, db, lakeside, meta_sandbox, workers):
    """The send can finish between the page's render and its event stream's subscription (the worker is fast, the
    page reloads after Send): its event is lost, and the page must still catch up, not stay "Sending…"."""
    jane = _jane_waiting(app, db, lakeside, meta_sandbox, workers)
    sign_in(page, lakeside.user.email)
    page.goto(f"/admin/inbox/c/{jane.id}")
    page.wait_for_selector("#live-status:has-text('Live')")
    held = []

    def hold_the_stream(route):
        # The page after Send opens its stream: the worker sends the reply first, publishing to nobody.
        if not held:
            held.append(route.request.url)
            workers.run("outbound")
        route.continue_()

    page.route(lambda url: "/admin/inbox/events" in url and "conversation=" in url, hold_the_stream)
    page.fill("#reply-text", "Yes, lot 14 is available.")
    page.click("#send-button")
    page.wait_for_selector("text=Reply queued")
    page.wait_for_selector("#live-status:has-text('Live')")
    assert held and len(meta_sandbox.accepted()) == 1
    page.wait_for_selector(".msg-human .status-sent", timeout=8000)


def test_a_reply_updates_by_polling_while_it_is_in_flight(page, app, db, lakeside, meta_sandbox, workers):
    """Without a stream (a proxy that buffers, every stream taken) the page polls; while a reply of its own is on
    its way it looks again within seconds, not at the next slow poll, and Failed shows with its reason."""
    jane = _jane_waiting(app, db, lakeside, meta_sandbox, workers)
    app.config["INBOX_POLL_SECONDS"] = 120  # the slow poll cannot be what updates the page
    page.add_init_script("window.EventSource = undefined;")
    sign_in(page, lakeside.user.email)
    page.goto(f"/admin/inbox/c/{jane.id}")
    page.wait_for_selector("#live-status:has-text('Updates every')")
    page.fill("#reply-text", "First answer")
    page.click("#send-button")
    page.wait_for_selector("text=Reply queued")
    assert page.locator(".msg-human .msg-status").last.inner_text().startswith("Sending")
    workers.run("outbound")
    page.wait_for_selector(".msg-human .status-sent", timeout=8000)

    meta_sandbox.fail("blocked", count=1, path="/messages", method="POST")
    page.fill("#reply-text", "Second answer")
    page.click("#send-button")
    page.wait_for_selector("text=Reply queued")
    workers.run("outbound")
    page.wait_for_selector(".msg-human .status-failed", timeout=8000)
    assert "isn't available" in page.locator(".msg-human .status-failed").inner_text().lower()
    assert page.inner_text("#live-status") == "Updates every 120 s"  # the server's interval, said truly


def test_two_people_each_have_their_own_bell(browser, live_server, app, db, make, lakeside, meta_sandbox, workers,
                                             artifacts):  # fmt: skip
    """Dana (owner) and Pat (agent) in two browsers: a handoff rings both bells; Dana's "Mark all as read" clears
    only hers; Dana assigns Jane to Pat, and Pat's bell says so and leads to the conversation."""
    from chatpad.pipeline import take_over

    pat = make.user(lakeside.org, role="agent", email="pat@lakeside.example.com")
    pat.name = "Pat Agent"
    lakeside.user.name = "Dana Owner"
    db.session.commit()
    jane = _jane_waiting(app, db, lakeside, meta_sandbox, workers)
    take_over(jane, reason="The customer asked for a person")
    pages = {}
    for who, user, width in (("dana", lakeside.user, 1366), ("pat", pat, 390)):
        context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
        pages[who] = context.new_page()
        sign_in(pages[who], user.email)
    dana, pat_page = pages["dana"], pages["pat"]
    try:
        for page in (dana, pat_page):
            page.goto("/admin/inbox/")
            assert page.inner_text("#notification-count") == "1"
        dana.click(".notification-bell")
        dana.click("text=Mark all as read")
        dana.wait_for_selector("text=All notifications marked as read.")
        assert dana.locator("#notification-count").count() == 0
        pat_page.reload()
        assert pat_page.inner_text("#notification-count") == "1"  # Pat has not read it

        dana.goto(f"/admin/inbox/c/{jane.id}")
        dana.select_option("#assign-user", label="Pat Agent")
        dana.click("#assign-form button[type=submit]")
        dana.wait_for_selector("text=Assignment saved.")
        assert dana.locator("#notification-count").count() == 0
        pat_page.goto("/admin/inbox/notifications/")
        assert pat_page.inner_text("#notification-count") == "2"
        pat_page.screenshot(path=str(artifacts / "inbox-notifications-390.png"), full_page=True)
        assert pat_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        pat_page.click("text=Dana Owner assigned you the conversation with Jane Doe")
        pat_page.wait_for_url(f"**/admin/inbox/c/{jane.id}")
        assert pat_page.inner_text("#notification-count") == "1"
    finally:
        for page in pages.values():
            page.context.close()


def test_merge_two_contacts_in_the_browser(page, lakeside, artifacts):
    """Bob on Messenger and Bob by email become one person, with both channels in his history."""
    sign_in(page, lakeside.user.email)
    page.goto(f"/admin/inbox/c/{lakeside.bob_conv.id}")
    assert "What is the lot rent?" not in page.inner_text("#thread")
    assert "(same name)" in page.inner_text(".merge-candidates")
    page.click(".merge-button")
    page.wait_for_selector("text=1 conversation moved")
    thread = page.inner_text("#thread")
    assert "What is the lot rent?" in thread and "Hi, it's Bob again" in thread
    assert page.locator("#thread a:has-text('Email · forge@lakeside.example')").count() == 1
    assert "bob@example.com" in page.inner_text(".contact-card")
    page.screenshot(path=str(artifacts / "inbox-merged.png"), full_page=True)

    page.click(".split-button")
    page.wait_for_selector("text=went back")
    assert "What is the lot rent?" not in page.inner_text("#thread")


def test_analytics_and_notifications_pages(page, db, make, lakeside, inbox_make, artifacts):
    """Analytics reads at a glance (SVG drawn by the server, no internet), and the bell leads to notifications."""
    from chatpad.models import Notification

    north = make.location(lakeside.agent, "North Shore")
    ig = make.account(
        lakeside.agent,
        "instagram",
        north,
        account_name="@northshore",
        status="needs_reauth",
        last_error="Error validating access token: the session has expired",
    )
    now = utcnow()
    for day in range(28):  # a month of traffic: answered by the AI, handed over, failed, unanswered
        for n, account in enumerate((lakeside.account, ig, lakeside.mail)[: 1 + day % 3]):
            at = now - timedelta(days=day, hours=n)
            conv = inbox_make.conversation(account, at=at)
            inbox_make.message(conv, "Is the pool open?", at=at)
            outcome = (day + n) % 4
            if outcome in (0, 1):
                inbox_make.message(conv, "Yes, 9 to 9.", direction="outbound", at=at + timedelta(seconds=20 + day))
            if outcome == 2:
                inbox_make.message(
                    conv,
                    "Let me check.",
                    direction="outbound",
                    sender_type="human",
                    status="delivered",
                    at=at + timedelta(minutes=5 + day),
                )
            if outcome == 3 and day % 2:
                inbox_make.message(
                    conv,
                    "Yes",
                    direction="outbound",
                    status="failed",
                    at=at + timedelta(seconds=5),
                    error="(#10) This message is sent outside of allowed window.",
                )
    db.session.add(
        Notification(
            organization_id=lakeside.org.id,
            user_id=lakeside.user.id,
            kind="handoff",
            title="Ana Lopez is waiting for a person",
            body="The customer asked for a person",
        )
    )
    db.session.commit()
    sign_in(page, lakeside.user.email)
    page.click("nav >> text=Analytics")
    page.wait_for_url("**/admin/analytics/")
    assert page.locator("svg.chart").count() == 6
    assert page.locator("#by-channel tbody tr").count() == 3
    assert "1 account needs reconnection" in page.inner_text("#reconnect")
    page.screenshot(path=str(artifacts / "inbox-analytics.png"), full_page=True)
    page.click(".notification-bell")
    page.wait_for_url("**/admin/inbox/notifications/")
    page.screenshot(path=str(artifacts / "inbox-notifications.png"), full_page=True)


def test_the_inbox_pages_pass_the_csp(watched_page, make, inbox_make):
    """Inbox, conversation (with a customer's photo from Meta's CDN), notifications and analytics load, refresh
    live and submit filters without a single Content-Security-Policy report."""
    biz = make.business()
    conv = inbox_make.conversation(biz.account, inbox_make.contact(biz.org, "Ana Lopez"))
    inbox_make.message(conv, "Look", media=[{"type": "image", "url": "https://scontent.xx.fbcdn.net/v/photo.jpg"}])
    inbox_make.message(conv, "Nice!", direction="outbound", status="delivered")
    page = watched_page
    page.sign_in(biz.user.email)
    page.goto("/admin/inbox/")
    page.wait_for_selector("#live-status:has-text('Live')")  # inbox.js ran and the event stream opened
    for url in (
        f"/admin/inbox/c/{conv.id}",
        "/admin/inbox/notifications/",
        "/admin/analytics/",
        "/admin/analytics/?days=7",
    ):
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
    page.goto("/admin/inbox/")
    page.select_option("#f-channel", "facebook")  # data-autosubmit through chatpad/static/admin.js
    page.wait_for_url("**channel=facebook**")
    page.goto(f"/admin/inbox/c/{conv.id}")
    page.wait_for_selector("#live-status:not(:empty)")  # live, or polling when the streams are still busy
    page.fill("#reply-text", "Counting")
    assert "8 / 2000 characters" in page.inner_text(".reply-counter")
    assert page.violations() == []
