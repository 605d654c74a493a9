"""Streams never take the threads that serve webhooks and pages: with 200 visitor streams open, real processes as
production runs them (gunicorn gthread for wsgi:app, the gevent stream process for wsgi:streams) keep acknowledging
signed Meta webhooks and serving a signed-in admin's pages. Real sockets, real servers; no test client."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from chatpad.channels.meta import sign_body
from chatpad.models import WebhookEvent
from tests.factories import PASSWORD
from tests.plugins.reliability import free_port
from tests.plugins.widget import ORIGIN, make_widget

pytestmark = pytest.mark.slow

STREAMS = 200
# Visitors come from 10 addresses (any of 127.0.0.0/8 reaches a loopback server), 20 each: the default per-IP limit.
ADDRESSES = [f"127.0.1.{n}" for n in range(1, 11)]
META_APP_SECRET = "sandbox-app-secret"  # noqa: S105 (TestConfig's; the processes run with CHATPAD_ENV=test)


class RawStream:
    """One visitor's EventSource as bytes on a socket of its own: the request, then reading until "ready"."""

    def __init__(self, url: str, source: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60, source_address=(source, 0))
        request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nOrigin: {ORIGIN}\r\n"
        request += "Accept: text/event-stream\r\n\r\n"
        self.sock.sendall(request.encode())
        self.received = b""

    def wait_ready(self, deadline: float) -> bool:
        while b"event: ready" not in self.received:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            if not chunk:
                return False
            self.received += chunk
        return self.received.startswith(b"HTTP/1.1 200")

    def still_open(self) -> bool:
        """No EOF and no error: the server still holds this stream (it may have sent pings meanwhile)."""
        self.sock.settimeout(0)
        try:
            return self.sock.recv(65536) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def close(self) -> None:
        self.sock.close()


def new_session(web: str, key: str, source: str) -> dict:
    """POST /session from `source`, as the widget script does on a visitor's first page view."""
    parts = urlsplit(web)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
    conn.request("POST", f"/api/widget/{key}/session", body=b"{}", headers={"Origin": ORIGIN})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 200, body
    return body


def signed_in(web: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{web}/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(f"{web}/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, timeout=30)
    assert answer.ok and "/login" not in answer.url
    return session


def webhook(page_id: str, n: int) -> bytes:
    now = int(time.time() * 1000)
    event = {
        "sender": {"id": f"{7100000000000000 + n}"},
        "recipient": {"id": page_id},
        "timestamp": now,
        "message": {"mid": f"m_isolation_{n}_{now}", "text": f"Is lot {n} available?"},
    }
    return json.dumps({"object": "page", "entry": [{"id": page_id, "time": now, "messaging": [event]}]}).encode()


def test_webhooks_and_the_admin_keep_answering_while_200_streams_are_open(stack, make, db):
    biz = make.business()
    widget = make_widget(make, biz, [ORIGIN])
    streams_port = free_port()
    # The web process as `make run` and the README run it (2 workers x 8 threads), told where the streams are.
    web = stack.app(workers=2, threads=8, STREAMS_PORT=str(streams_port))
    stack.streams(port=streams_port, STREAMS_PORT=str(streams_port))

    opened: list[RawStream] = []
    try:
        sessions = [new_session(web, widget.account_id, ADDRESSES[i % len(ADDRESSES)]) for i in range(STREAMS)]
        assert urlsplit(sessions[0]["stream_url"]).port == streams_port
        for i, session in enumerate(sessions):
            opened.append(RawStream(session["stream_url"], ADDRESSES[i % len(ADDRESSES)]))
        deadline = time.monotonic() + 120
        ready = sum(stream.wait_ready(deadline) for stream in opened)
        assert ready == STREAMS, f"{ready} of {STREAMS} streams opened:\n{stack.logs()}"

        # While every stream is held: signed Meta webhooks are acknowledged (and stored), the signed-in admin's
        # pages and the health check answer, each within its socket timeout.
        acked = 0
        for n in range(20):
            body = webhook(biz.account.account_id, n)
            headers = {"Content-Type": "application/json", **sign_body(body, META_APP_SECRET)}
            answer = requests.post(f"{web}/api/webhooks/facebook", data=body, headers=headers, timeout=10)
            acked += answer.status_code == 200
        assert acked == 20
        admin = signed_in(web, biz.user.email)
        for path in ("/admin/", "/admin/inbox/", "/admin/inbox/?partial=1"):
            page = admin.get(web + path, timeout=10)
            assert page.status_code == 200, (path, page.status_code)
        assert requests.get(f"{web}/healthz", timeout=10).text == "ok"
        stored = db.session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.channel == "facebook")
        )
        assert stored == 20

        # ... and the streams were held all along.
        assert sum(stream.still_open() for stream in opened) == STREAMS
    finally:
        for stream in opened:
            stream.close()


def test_the_stream_process_answers_only_stream_routes(stack, make):
    """Pages, webhooks and the rest of the API are the web process's: the stream process answers them 404."""
    port = stack.streams()
    base = f"http://127.0.0.1:{urlsplit(port).port}"
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    for method, path in (("GET", "/admin/"), ("GET", "/login"), ("POST", "/api/webhooks/facebook")):
        assert requests.request(method, base + path, timeout=10).status_code == 404, path
    biz = make.business()
    widget = make_widget(make, biz, [ORIGIN])
    sent = requests.post(f"{base}/api/widget/{widget.account_id}/messages", json={"text": "hi"}, timeout=10)
    assert sent.status_code == 404
    config = requests.get(f"{base}/api/widget/{widget.account_id}/events", headers={"Origin": ORIGIN}, timeout=10)
    assert config.status_code == 401  # a stream route: the view answers (no ticket)
