"""The inbox in a real browser: headless Chromium against a live server with the real database, Redis and workers.

Filter by channel, open a conversation, take over, reply, watch the reply go from "Sending…" to "Sent" to
"Delivered" without reloading (server-sent events), merge two contacts, open analytics. Screenshots of each page
go to test-artifacts/inbox-*.png.

The reply travels through the shared pipeline and a real RQ worker to the loopback channel (tests/plugins/loopback.py):
the Meta sandbox is not on main yet. Pointing this at the sandbox means making Jane's account a facebook account
served by the sandbox and reading the delivery from the sandbox's webhook instead of ingesting one here.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chatpad.channels import get_channel
from chatpad.extensions import db as _db
from chatpad.models import utcnow
from chatpad.pipeline import ingest
from tests.factories import PASSWORD
from tests.plugins.loopback import sent_messages

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 950})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the merge button asks for confirmation
    yield page
    context.close()


@pytest.fixture
def lakeside(make, inbox_make):
    """A business with conversations on Facebook, email and the loopback channel; Bob wrote on two channels."""
    biz = make.business("Lakeside Communities")
    biz.loop = make.account(biz.agent, "loopback", biz.location, account_id="loop-1", account_name="Lakeside Page")
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
    inbox_make.identity(biz.bob, biz.loop, "psid-bob")
    biz.bob_conv = inbox_make.conversation(biz.loop, biz.bob, thread_key="psid-bob")
    inbox_make.message(biz.bob_conv, "Hi, it's Bob again", at=now - timedelta(minutes=20))
    jane = inbox_make.contact(biz.org, "Jane Doe")
    inbox_make.identity(jane, biz.loop, "cust-1")
    biz.jane = inbox_make.conversation(biz.loop, jane, thread_key="cust-1")
    inbox_make.message(biz.jane, "Is lot 14 still available?", at=now - timedelta(minutes=2))
    return biz


def sign_in(page, email):
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def test_filter_take_over_reply_and_watch_it_delivered(page, app, lakeside, workers, artifacts):
    """The agent's day: find the conversation, take it over, answer, and see the answer delivered, live."""
    sign_in(page, lakeside.user.email)
    page.click("nav >> text=Inbox")
    page.wait_for_url("**/admin/inbox/")
    names = page.locator(".inbox-name")
    assert names.all_inner_texts() == ["Jane Doe", "Bob Stone", "Ana Lopez", "Bob Stone"]
    page.wait_for_selector("#live-status:has-text('Live')")
    page.screenshot(path=str(artifacts / "inbox-list.png"), full_page=True)

    page.select_option("#f-channel", "facebook")  # submits by itself
    page.wait_for_url("**channel=facebook**")
    assert names.all_inner_texts() == ["Ana Lopez"]
    page.screenshot(path=str(artifacts / "inbox-filtered.png"), full_page=True)
    page.click("text=Clear")
    page.wait_for_url("**/admin/inbox/")

    page.click(".inbox-name >> text=Jane Doe")
    page.wait_for_url(f"**/admin/inbox/c/{lakeside.jane.id}")
    page.wait_for_selector("#live-status:has-text('Live')")
    page.fill("#takeover-hours", "2")
    page.click("#take-over")
    page.wait_for_selector("text=The AI answers again automatically after 2 hours.")
    assert "Taken over" in page.inner_text("#takeover-badge")

    page.fill("#reply-text", "Yes, lot 14 is available! Would Friday at 10 work for a tour?")
    assert "61 / 50 characters" in page.inner_text(".reply-counter")  # the channel's limit, counted as you type
    page.click("#send-button")
    page.wait_for_selector("text=Reply queued as 2 messages")
    assert page.locator(".msg-human .msg-status").first.inner_text().startswith("Sending")
    page.screenshot(path=str(artifacts / "inbox-reply-sending.png"), full_page=True)

    workers.run("outbound")  # a real RQ worker sends through the channel's client
    sent = [s["text"] for s in sent_messages()]
    assert len(sent) == 2 and " ".join(sent) == "Yes, lot 14 is available! Would Friday at 10 work for a tour?"
    page.wait_for_function("document.querySelectorAll('.msg-human .status-sent').length === 2")

    mids = [s["mid"] for s in sent_messages()]
    body = json.dumps(
        {"account": "loop-1", "events": [{"kind": "delivery", "sender": "cust-1", "target": m} for m in mids]}
    ).encode()
    with app.app_context():
        for event in get_channel("loopback").parse(body):
            ingest(event)
        _db.session.remove()
    page.wait_for_function("document.querySelectorAll('.msg-human .status-delivered').length === 2")
    assert "Delivered" in page.locator(".msg-human .msg-status").last.inner_text()
    page.screenshot(path=str(artifacts / "inbox-conversation.png"), full_page=True)


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


def test_analytics_and_notifications_pages(page, lakeside, artifacts):
    """Analytics reads at a glance (SVG drawn by the server, no internet), and the bell leads to notifications."""
    sign_in(page, lakeside.user.email)
    page.click("nav >> text=Analytics")
    page.wait_for_url("**/admin/analytics/")
    assert page.locator("svg.chart").count() == 6
    assert page.locator("#by-channel tbody tr").count() == 3
    page.screenshot(path=str(artifacts / "inbox-analytics.png"), full_page=True)
    page.click(".notification-bell")
    page.wait_for_url("**/admin/inbox/notifications/")
    page.screenshot(path=str(artifacts / "inbox-notifications.png"), full_page=True)
