"""Live updates over real HTTP: the event stream and long polling deliver replies, takeover, typing and endings to
the visitor's browser as they happen, resume after a reconnect, and refuse what the API refuses."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from chatpad.messages import OutboundReply
from chatpad.models import Conversation
from chatpad.pipeline import queue_reply, take_over
from chatpad.realtime import publish
from tests.plugins.widget import ORIGIN, EventStream, WidgetVisitor


@pytest.fixture
def chat(client, widget, db):
    """A visitor who has written once, with their conversation."""
    visitor = WidgetVisitor(client, widget.widget.account_id)
    visitor.start()
    posted = visitor.send("Is lot 14 still available?").get_json()
    widget.visitor = visitor
    widget.conversation = db.session.get(Conversation, uuid.UUID(posted["conversation"]["id"]))
    widget.first_message_id = posted["message"]["id"]
    return widget


def open_stream(live_server, visitor, **params) -> EventStream:
    url = live_server.url + visitor.session["stream_url"]
    extra = "".join(f"&{k}={v}" for k, v in params.items() if k != "last_event_id")
    headers = {"Origin": ORIGIN}
    if "last_event_id" in params:
        headers["Last-Event-ID"] = str(params["last_event_id"])
    return EventStream(url + extra, headers)


def test_the_stream_sends_history_then_replies_takeover_and_typing_live(live_server, chat, db, workers):
    """A reply from the inbox, the takeover and the AI's typing reach the visitor's open stream as they happen."""
    stream = open_stream(live_server, chat.visitor)
    try:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert stream.headers["Cache-Control"] == "no-cache, no-transform"
        event, event_id, data = stream.next("message")
        assert data["text"] == "Is lot 14 still available?" and int(event_id) == chat.first_message_id
        assert stream.next("ready")[0] == "ready"

        publish(chat.org.id, chat.conversation.id, "typing", {"started": True})
        assert stream.next("typing")[2] == {"typing": True}

        take_over(chat.conversation, user=chat.user, reason="A person answers")
        state = stream.next("state")[2]
        assert state["human"] is True

        queue_reply(chat.conversation, OutboundReply("Yes! Want a tour Saturday?", sender_type="human"), user=chat.user)
        workers.run("outbound")
        event, event_id, data = stream.next("message")
        assert data["text"] == "Yes! Want a tour Saturday?" and data["from"] == "human"
        assert int(event_id) > chat.first_message_id
    finally:
        stream.close()


def test_a_reconnect_with_last_event_id_resumes_without_repeats(live_server, chat, db, workers):
    """After a dropped connection, EventSource's Last-Event-ID brings only what the visitor has not seen."""
    queue_reply(chat.conversation, OutboundReply("Reply one", sender_type="human"), user=chat.user)
    workers.run("outbound")
    stream = open_stream(live_server, chat.visitor, last_event_id=chat.first_message_id)
    try:
        _, _, data = stream.next("message", "ready")
        assert data["text"] == "Reply one"
        assert stream.next("message", "ready")[0] == "ready"
    finally:
        stream.close()


def test_the_stream_ends_on_time_so_the_browser_reconnects(app, live_server, chat, monkeypatch):
    """Streams end after WIDGET_STREAM_MAX_SECONDS (freeing the thread); heartbeats keep proxies open meanwhile."""
    monkeypatch.setitem(app.config, "WIDGET_STREAM_MAX_SECONDS", 2)
    monkeypatch.setitem(app.config, "WIDGET_HEARTBEAT_SECONDS", 0.5)
    stream = open_stream(live_server, chat.visitor)
    try:
        assert stream.next("ping")[0] == "ping"
        assert stream.next("closed")[0] == "closed"
    finally:
        stream.close()


def test_the_stream_refuses_bad_tickets_and_other_origins(live_server, chat):
    """A forged ticket is 401, another page's origin 403: the same rules as the rest of the API."""
    key = chat.widget.account_id
    forged = requests.get(
        f"{live_server.url}/api/widget/{key}/events?ticket=forged", headers={"Origin": ORIGIN}, timeout=10
    )
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_ticket"
    token_as_ticket = requests.get(
        f"{live_server.url}/api/widget/{key}/events?ticket={chat.visitor.token}", headers={"Origin": ORIGIN}, timeout=10
    )
    assert token_as_ticket.status_code == 401  # a visitor token is not a stream ticket
    url = live_server.url + chat.visitor.session["stream_url"]
    elsewhere = requests.get(url, headers={"Origin": "https://evil.test"}, timeout=10)
    assert elsewhere.status_code == 403


def test_a_full_stream_process_answers_503_with_a_retry_hint(app, live_server, chat, client, widget, monkeypatch):
    """Beyond STREAMS_MAX_PER_PROCESS a stream process says 503 with Retry-After (another may have room) instead of
    hanging; a closed stream gives its slot back."""
    monkeypatch.setitem(app.config, "STREAMS_MAX_PER_PROCESS", 1)
    monkeypatch.delitem(app.extensions, "chatpad.streams.slots", raising=False)
    other = WidgetVisitor(client, widget.widget.account_id)
    other.start()
    first = open_stream(live_server, chat.visitor)
    try:
        assert first.status_code == 200
        second = open_stream(live_server, other)
        assert second.status_code == 503 and second.headers["Retry-After"] == "30"
        assert second.body["error"] == "busy"
        second.close()
    finally:
        first.close()
    app.extensions.pop("chatpad.streams.slots", None)


def open_streams(live_server, visitor, n: int, source: str = "127.0.0.1") -> list[EventStream]:
    return [EventStream(live_server.url + visitor.session["stream_url"], {"Origin": ORIGIN}, source) for _ in range(n)]


def test_one_visitor_may_hold_only_so_many_streams_and_long_polls_then_429(app, live_server, chat, monkeypatch):
    """Past STREAMS_MAX_PER_VISITOR open streams a visitor's next stream, and their long poll, get 429 with
    Retry-After (the script then polls); closing one lets the next in."""
    monkeypatch.setitem(app.config, "STREAMS_MAX_PER_VISITOR", 2)
    held = open_streams(live_server, chat.visitor, 2)
    try:
        assert [s.status_code for s in held] == [200, 200]
        refused = open_streams(live_server, chat.visitor, 1)[0]
        assert refused.status_code == 429, refused.status_code
        assert refused.body["error"] == "too_many_streams"
        assert refused.headers["Retry-After"] == str(app.config["STREAMS_RETRY_AFTER"])
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {chat.visitor.token}"}
        poll_url = f"{live_server.url}{chat.visitor.session['long_poll_url']}?after=999999999&wait=20"
        poll = requests.get(poll_url, headers=headers, timeout=10)
        assert poll.status_code == 429 and poll.json()["error"] == "too_many_streams"
        held.pop().close()
        for _ in range(80):  # the server frees the slot when it notices the closed socket (its next write)
            again = open_streams(live_server, chat.visitor, 1)[0]
            if again.status_code == 200:
                break
            threading.Event().wait(0.25)
        assert again.status_code == 200, "the closed stream's slot never came back"
        again.close()
    finally:
        for stream in held:
            stream.close()


def test_one_address_may_hold_only_so_many_streams_then_429(app, live_server, client, widget, monkeypatch):
    """Past STREAMS_MAX_PER_IP streams from one address, a new visitor from it gets 429; another address (here
    127.0.0.2) is not affected."""
    monkeypatch.setitem(app.config, "STREAMS_MAX_PER_IP", 3)
    visitors = []
    for _ in range(5):
        visitor = WidgetVisitor(client, widget.widget.account_id)
        visitor.start()
        visitors.append(visitor)
    held = [open_streams(live_server, v, 1)[0] for v in visitors[:3]]
    try:
        assert [s.status_code for s in held] == [200, 200, 200]
        refused = open_streams(live_server, visitors[3], 1)[0]
        assert refused.status_code == 429 and refused.body["error"] == "too_many_streams"
        elsewhere = open_streams(live_server, visitors[4], 1, source="127.0.0.2")[0]
        held.append(elsewhere)
        assert elsewhere.status_code == 200
    finally:
        for stream in held:
            stream.close()


def test_a_dead_process_s_streams_stop_counting_when_their_leases_lapse(app, live_server, chat, monkeypatch):
    """A stream process that died cannot release its slots; their leases lapse and the visitor gets streams again."""
    from redis import Redis

    monkeypatch.setitem(app.config, "STREAMS_MAX_PER_VISITOR", 1)
    key = f"chatpad:streams:visitor:{chat.widget.id}:{chat.visitor.session['visitor']['id']}"
    redis = Redis.from_url(app.config["REDIS_URL"])
    redis.zadd(key, {"crashed-live": time.time() + 60})
    refused = open_streams(live_server, chat.visitor, 1)[0]
    assert refused.status_code == 429
    redis.zadd(key, {"crashed-live": time.time() - 1})  # its lease ran out
    stream = open_streams(live_server, chat.visitor, 1)[0]
    try:
        assert stream.status_code == 200
    finally:
        stream.close()


def test_the_web_process_never_waits_it_refuses_streams_and_answers_polls_at_once(app, chat, monkeypatch):
    """On the web process (SERVES_STREAMS off) a stream is refused at once with 503 and a long poll answers without
    waiting, with retry_ms: the script polls again then, and no web thread waits for a reply."""
    monkeypatch.setitem(app.config, "SERVES_STREAMS", False)
    stream = chat.visitor.client.get(chat.visitor.session["stream_url"], headers={"Origin": ORIGIN})
    assert stream.status_code == 503 and stream.get_json()["error"] == "streams_elsewhere"
    assert stream.headers["Retry-After"]
    started = time.monotonic()
    poll = chat.visitor.get(f"messages?after={chat.visitor.session['cursor']}&wait=20")
    assert poll.status_code == 200 and time.monotonic() - started < 10  # not the 20 s it asked for
    assert poll.get_json()["retry_ms"] == app.config["WIDGET_POLL_SECONDS"] * 1000


def test_the_session_points_streams_at_the_stream_process(app, client, widget, monkeypatch):
    """The visitor's stream and long poll go to the stream process (here on STREAMS_PORT of the same host), short
    polls and everything else to the app."""
    monkeypatch.setitem(app.config, "STREAMS_PORT", 5999)
    session = WidgetVisitor(client, widget.widget.account_id).start()
    key = widget.widget.account_id
    assert session["stream_url"].startswith(f"http://localhost:5999/api/widget/{key}/events?ticket=")
    assert session["long_poll_url"] == f"http://localhost:5999/api/widget/{key}/wait"
    assert session["poll_url"] == f"/api/widget/{key}/messages"
    monkeypatch.setitem(app.config, "STREAMS_URL", "https://streams.example.com/")
    session = WidgetVisitor(client, widget.widget.account_id).start()
    assert session["long_poll_url"] == f"https://streams.example.com/api/widget/{key}/wait"


def test_long_polling_returns_as_soon_as_a_reply_is_delivered(live_server, chat, workers):
    """Without a stream, a long poll waits for the next reply (not just any event) and returns it with a new
    cursor."""
    key = chat.widget.account_id
    headers = {"Origin": ORIGIN, "Authorization": f"Bearer {chat.visitor.token}"}
    cursor = chat.visitor.session["cursor"]
    first = requests.get(
        f"{live_server.url}/api/widget/{key}/messages?after={cursor}", headers=headers, timeout=10
    ).json()
    cursor = first["cursor"]
    assert [m["text"] for m in first["messages"]] == ["Is lot 14 still available?"]

    result = {}

    def poll():
        result["body"] = requests.get(
            f"{live_server.url}/api/widget/{key}/messages?after={cursor}&wait=20", headers=headers, timeout=30
        ).json()

    waiter = threading.Thread(target=poll)
    waiter.start()
    queue_reply(chat.conversation, OutboundReply("Yes, it is.", sender_type="human"), user=chat.user)
    workers.run("outbound")
    waiter.join(timeout=30)
    texts = [m["text"] for m in result["body"]["messages"]]
    assert texts[-1] == "Yes, it is."  # (a message from the last few seconds may come again; the script dedupes)
    assert int(result["body"]["cursor"].split(".")[0]) > int(cursor.split(".")[0])


def test_the_visitor_channel_wakes_a_stream_opened_before_the_first_message(live_server, client, widget, db):
    """A visitor who opens the chat (stream first) and then writes sees their conversation's events."""
    visitor = WidgetVisitor(client, widget.widget.account_id)
    visitor.start()
    stream = open_stream(live_server, visitor)
    try:
        stream.next("ready")
        posted = visitor.send("First words").get_json()
        _, _, data = stream.next("message")
        assert data["text"] == "First words" and data["id"] == posted["message"]["id"]
        conversation = db.session.get(Conversation, uuid.UUID(posted["conversation"]["id"]))
        publish(widget.org.id, conversation.id, "typing", {"started": True})
        assert stream.next("typing")[2] == {"typing": True}
    finally:
        stream.close()
