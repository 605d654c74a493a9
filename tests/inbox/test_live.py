"""Live updates over real HTTP: server-sent events relayed from Redis pub/sub, bounded per process (503) and per
person (429), with the polling fallback; the web process refuses streams at once (they are the stream process's)."""

from __future__ import annotations

import re
import threading

import pytest
import requests

from chatpad.realtime import publish
from tests.conftest import login
from tests.factories import PASSWORD


def signed_in(live_server, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{live_server.url}/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = session.post(
        f"{live_server.url}/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, timeout=10
    )
    assert response.ok
    return session


def events(response, limit: int = 20):
    """(event, data) pairs as they arrive on an open text/event-stream response.

    Redis pub/sub ignores the database number, so test sessions running in parallel on one Redis server hear each
    other's chatpad:org:<id> events: tests look for their own conversation ids (UUIDs) rather than "the next event".
    """
    name, data = None, []
    for line in response.iter_lines(chunk_size=1, decode_unicode=True):
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif line == "" and name:
            yield name, "\n".join(data)
            name, data = None, []
            limit -= 1
            if limit <= 0:
                return


@pytest.fixture
def fast_streams(app, monkeypatch):
    """Heartbeats every half second so a closed stream frees its slot quickly."""
    monkeypatch.setitem(app.config, "INBOX_SSE_HEARTBEAT_SECONDS", 0.5)
    monkeypatch.setitem(app.config, "INBOX_SSE_MAX_SECONDS", 30)


def test_new_messages_reach_an_open_inbox_without_a_reload(app, live_server, make, inbox_make, fast_streams):
    """A message stored for this organization is announced on the inbox's stream; another one's is not."""
    biz = make.business()
    rival = make.business("Rival")
    mine = inbox_make.conversation(biz.account)
    theirs = inbox_make.conversation(rival.account)
    session = signed_in(live_server, biz.user.email)
    with session.get(f"{live_server.url}/admin/inbox/events", stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Accel-Buffering"] == "no"
        stream = events(response)
        assert next(stream)[0] == "ready"
        with app.app_context():
            publish(rival.org.id, theirs.id, "message.created", {"message_id": 1})
            publish(biz.org.id, mine.id, "message.created", {"message_id": 2})
        seen = []
        for name, data in stream:
            seen.append(data)
            if str(mine.id) in data:
                assert name == "message.created"
                break
        assert not any(str(theirs.id) in d for d in seen)


def test_a_conversations_stream_carries_its_own_events(app, live_server, make, inbox_make, fast_streams):
    """The open conversation hears about its messages and the AI typing, not about other conversations."""
    biz = make.business()
    open_one = inbox_make.conversation(biz.account)
    other = inbox_make.conversation(biz.account)
    session = signed_in(live_server, biz.user.email)
    url = f"{live_server.url}/admin/inbox/events?conversation={open_one.id}"
    with session.get(url, stream=True, timeout=10) as response:
        stream = events(response)
        assert next(stream)[0] == "ready"
        with app.app_context():
            publish(biz.org.id, other.id, "message.created", {"message_id": 1})
            publish(biz.org.id, open_one.id, "typing", {"started": True})
        name, data = next(stream)  # conversation channels are named by UUID: nobody else publishes here
        assert name == "typing" and '"started":true' in data and str(open_one.id) in data


def test_streams_are_bounded_and_the_overflow_polls(app, live_server, make, monkeypatch, fast_streams):
    """With every stream slot of the process taken the answer is 503 (the page polls); a closed stream frees its
    slot."""
    monkeypatch.setitem(app.config, "STREAMS_MAX_PER_PROCESS", 1)
    monkeypatch.delitem(app.extensions, "chatpad.streams.slots", raising=False)
    biz = make.business()
    session = signed_in(live_server, biz.user.email)
    url = f"{live_server.url}/admin/inbox/events"
    first = session.get(url, stream=True, timeout=10)
    assert next(events(first))[0] == "ready"
    second = session.get(url, stream=True, timeout=10)
    assert second.status_code == 503, f"a second stream was let in: {second.status_code}"
    assert second.headers["Retry-After"] == "30"
    first.close()
    for _ in range(120):  # the server notices the closed socket at its next heartbeats (slower on a busy machine)
        third = session.get(url, stream=True, timeout=10)
        if third.status_code == 200:
            break
        third.close()
        threading.Event().wait(0.25)
    assert third.status_code == 200, "the closed stream's slot never came back"
    third.close()
    # Polling still works meanwhile, with ETags.
    listing = session.get(f"{live_server.url}/admin/inbox/?partial=1", timeout=10)
    assert listing.status_code == 200
    again = session.get(
        f"{live_server.url}/admin/inbox/?partial=1", headers={"If-None-Match": listing.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304, (listing.headers["ETag"], again.headers.get("ETag"))
    app.extensions.pop("chatpad.streams.slots", None)


def test_one_person_may_hold_only_so_many_streams_then_429(app, live_server, make, monkeypatch, fast_streams):
    """Past STREAMS_MAX_PER_USER open streams (tabs) the next gets 429 with Retry-After and the page polls;
    a colleague signed in elsewhere still gets theirs."""
    monkeypatch.setitem(app.config, "STREAMS_MAX_PER_USER", 2)
    biz = make.business()
    colleague = make.user(biz.org, email="colleague@example.com")
    session = signed_in(live_server, biz.user.email)
    url = f"{live_server.url}/admin/inbox/events"
    held = [session.get(url, stream=True, timeout=10) for _ in range(2)]
    try:
        assert [next(events(r))[0] for r in held] == ["ready", "ready"]
        refused = session.get(url, stream=True, timeout=10)
        assert refused.status_code == 429, refused.status_code
        assert refused.headers["Retry-After"] == str(app.config["STREAMS_RETRY_AFTER"])
        other = signed_in(live_server, colleague.email).get(url, stream=True, timeout=10)
        assert next(events(other))[0] == "ready"
        other.close()
    finally:
        for response in held:
            response.close()


def test_the_web_process_refuses_streams_at_once(app, client, make, monkeypatch):
    """The web process serves no stream (it would hold a thread): 503 at once, and the page polls."""
    monkeypatch.setitem(app.config, "SERVES_STREAMS", False)
    biz = make.business()
    login(client, biz.user.email)
    response = client.get("/admin/inbox/events")
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_pages_find_the_stream_process_on_its_port_and_may_use_it_across_origins(
    app, live_server, make, monkeypatch, fast_streams
):
    """With the stream process on another port (make run), the inbox's live URL points there, the page's CSP lets
    it connect, and the stream answers the app's own page with CORS for its cookie; a foreign origin gets none."""
    monkeypatch.setitem(app.config, "STREAMS_PORT", 5999)
    biz = make.business()
    session = signed_in(live_server, biz.user.email)
    page = session.get(f"{live_server.url}/admin/inbox/", timeout=10)
    assert 'data-live-url="http://127.0.0.1:5999/admin/inbox/events"' in page.text
    assert "connect-src 'self' http://127.0.0.1:5999" in page.headers["Content-Security-Policy"]
    url = f"{live_server.url}/admin/inbox/events"
    own = session.get(url, headers={"Origin": "http://127.0.0.1:5000"}, stream=True, timeout=10)
    assert own.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5000"
    assert own.headers["Access-Control-Allow-Credentials"] == "true"
    own.close()
    foreign = session.get(url, headers={"Origin": "https://evil.test"}, stream=True, timeout=10)
    assert "Access-Control-Allow-Origin" not in foreign.headers
    foreign.close()


def test_a_stream_ends_after_its_time_limit(app, live_server, make, monkeypatch, fast_streams):
    """Streams close after INBOX_SSE_MAX_SECONDS so no thread is held forever (EventSource reconnects)."""
    monkeypatch.setitem(app.config, "INBOX_SSE_MAX_SECONDS", 1)
    biz = make.business()
    session = signed_in(live_server, biz.user.email)
    with session.get(f"{live_server.url}/admin/inbox/events", stream=True, timeout=10) as response:
        names = [name for name, _ in events(response, limit=1000)]
    assert names[0] == "ready" and names[-1] == "bye"


def test_signed_out_browsers_get_no_stream(live_server):
    """The event stream is behind sign-in like every inbox page."""
    response = requests.get(f"{live_server.url}/admin/inbox/events", allow_redirects=False, timeout=10)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
