"""The split as a browser meets it: real processes (gunicorn gthread serving wsgi:app, the gevent stream process on
another port, as `make run` starts them), headless Chromium. The widget on a customer's site and the inbox get their
live updates from the stream process across origins; when it refuses them (429), both fall back to polling the web
process and still show what happens."""

from __future__ import annotations

import time

import pytest

from chatpad.messages import OutboundReply
from chatpad.models import Conversation
from chatpad.pipeline import queue_reply, take_over
from tests.browser.test_widget_browser import visitor_message, wait_for
from tests.factories import PASSWORD
from tests.plugins.reliability import free_port
from tests.plugins.widget import make_widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def split(stack):
    """Start web and stream processes; returns (web URL, stream port, a starter taking the stream process's env)."""
    port = free_port()
    web = stack.app(workers=1, threads=4, STREAMS_PORT=str(port))

    def start_streams(**env: str) -> None:
        stack.streams(port=port, STREAMS_PORT=str(port), **env)

    return web, port, start_streams


def chat_until_a_person_answers(browser, sandbox_server, make, db, workers, split, monkeypatch, requests_seen):
    """A visitor on the demo site (another origin) writes; after the caller's checks a person answers, and the
    visitor must see it."""
    web, port, _start = split
    monkeypatch.setitem(sandbox_server.app.config, "PUBLIC_URL", web)
    monkeypatch.setitem(sandbox_server.app.config, "STREAMS_PORT", port)  # the demo site's CSP allows it
    biz = make.business("Forge Communities")
    widget = make_widget(make, biz, [sandbox_server.url])
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.on("request", lambda r: requests_seen.append(r.url))
        page.goto(f"{sandbox_server.url}/widget/forge-at-the-lake?key={widget.account_id}")
        page.click(".cp-launcher")
        page.fill("#cp-input", "Anyone there?")
        page.keyboard.press("Enter")
        message = wait_for(lambda: visitor_message(db, "Anyone there?"), what="the visitor's message")
        yield page
        conversation = db.session.get(Conversation, message.conversation_id)
        take_over(conversation, user=biz.user, reason="A person answers")
        queue_reply(conversation, OutboundReply("Yes, we are here!", sender_type="human"), user=biz.user)
        workers.run("outbound")
        page.locator(".cp-from-human", has_text="Yes, we are here!").wait_for(timeout=45000)
    finally:
        context.close()


def test_the_widget_gets_replies_live_from_the_stream_process(
    browser, sandbox_server, make, db, workers, split, monkeypatch
):
    web, port, start_streams = split
    start_streams()
    seen: list[str] = []
    for page in chat_until_a_person_answers(browser, sandbox_server, make, db, workers, split, monkeypatch, seen):
        saw(page, seen, lambda url: f":{port}/api/widget/" in url and "/events?" in url, "a stream")
    assert not any("/messages?after=" in url for url in seen), "the widget polled although its stream worked"


def test_a_visitor_refused_streams_and_long_polls_still_gets_replies_by_polling(
    browser, sandbox_server, make, db, workers, split, monkeypatch
):
    """STREAMS_MAX_PER_VISITOR=0: every stream and long poll is refused (429); the widget polls the web process
    without waiting, every few seconds, and the person's reply still arrives."""
    web, port, start_streams = split
    start_streams(STREAMS_MAX_PER_VISITOR="0")
    seen: list[str] = []
    for page in chat_until_a_person_answers(browser, sandbox_server, make, db, workers, split, monkeypatch, seen):
        saw(page, seen, lambda url: url.startswith(f"{web}/api/widget/") and "/messages?after=" in url, "a short poll")
    short = [u for u in seen if u.startswith(f"{web}/api/widget/") and "/messages?after=" in u]
    assert short and all("wait=" not in u for u in short)


def saw(page, seen: list[str], wanted, what: str, timeout: float = 60.0) -> None:
    """Wait until the page has requested a URL that `wanted` accepts (Playwright delivers its events to the test
    only while the test calls it: hence wait_for_timeout rather than sleep)."""
    deadline = time.monotonic() + timeout
    while not any(wanted(url) for url in seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never requested {what}: {seen}")
        page.wait_for_timeout(250)


def sign_in(page, web: str, email: str) -> None:
    page.goto(f"{web}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def test_the_inbox_is_live_across_origins_and_a_refused_tab_polls(browser, make, split):
    """The inbox opens its stream on the stream process's port with its cookie (CORS with credentials) and shows
    Live; with STREAMS_MAX_PER_USER=1 a second tab is refused (429) and says it updates by polling."""
    web, port, start_streams = split
    start_streams(STREAMS_MAX_PER_USER="1")
    biz = make.business()
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        first = context.new_page()
        sign_in(first, web, biz.user.email)
        first.goto(f"{web}/admin/inbox/")
        first.wait_for_selector("#live-status:has-text('Live')", timeout=20000)
        second = context.new_page()
        second.goto(f"{web}/admin/inbox/")
        second.wait_for_selector("#live-status:has-text('Updates every')", timeout=20000)
        assert "Live" in first.inner_text("#live-status")
    finally:
        context.close()
