"""Widget test helpers: a business with a web widget, a visitor that drives the API the way widget.js does, and
the sandbox's demo website served on another port (another origin) for browser tests."""

from __future__ import annotations

import contextlib
import threading

import pytest

from chatpad.channels.widget.settings import new_widget_key

ORIGIN = "https://www.forgelake.test"


@pytest.fixture
def widget(make):
    """A business whose location has a widget allowed on https://www.forgelake.test."""
    biz = make.business()
    biz.widget = make_widget(make, biz, [ORIGIN, "https://*.forgelake.test"])
    return biz


def make_widget(make, biz, origins, location="default", **meta):
    key = new_widget_key()
    return make.account(
        biz.agent,
        "widget",
        biz.location if location == "default" else location,
        account_id=key,
        account_name="Widget • forgelake.test",
        access_token=None,
        meta={"site": "forgelake.test", "allowed_origins": list(origins), **meta},
    )


class WidgetVisitor:
    """A visitor's browser, as far as the API sees it: an Origin, a token in the Authorization header."""

    def __init__(self, client, key: str, origin: str | None = ORIGIN):
        self.client = client
        self.key = key
        self.origin = origin
        self.token: str | None = None
        self.session: dict | None = None

    def headers(self, token: str | None = None, **extra) -> dict:
        headers = dict(extra)
        if self.origin:
            headers["Origin"] = self.origin
        token = token if token is not None else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def url(self, path: str) -> str:
        return f"/api/widget/{self.key}/{path}"

    def post(self, path: str, json=None, *, token: str | None = None, **kwargs):
        return self.client.post(self.url(path), json=json, headers=self.headers(token), **kwargs)

    def get(self, path: str, *, token: str | None = None, **kwargs):
        return self.client.get(self.url(path), headers=self.headers(token), **kwargs)

    def start(self, **profile) -> dict:
        response = self.post("session", profile)
        assert response.status_code == 200, response.get_json()
        self.session = response.get_json()
        self.token = self.session["token"]
        return self.session

    def send(self, text: str, **extra):
        return self.post("messages", {"text": text, **extra})


@pytest.fixture
def visitor(client, widget):
    return WidgetVisitor(client, widget.widget.account_id)


@pytest.fixture
def widget_site(sandbox_server, live_server, monkeypatch):
    """The sandbox's demo website (another port, so another origin) embedding widgets of the live app."""
    monkeypatch.setitem(sandbox_server.app.config, "PUBLIC_URL", live_server.url)
    return sandbox_server


class EventStream:
    """A visitor's EventSource, read in a thread: server-sent events parsed into (event, id, data) as they arrive.

    Built on http.client over a socket it owns, so close() can cut the connection while the reader is blocked."""

    def __init__(self, url: str, headers: dict | None = None, source: str | None = None):
        import http.client
        import queue
        import socket
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.events: queue.Queue = queue.Queue()
        # source: the client's address (any of 127.0.0.0/8 reaches a loopback server), for per-IP limits.
        self.sock = socket.create_connection(
            (parts.hostname, parts.port), timeout=60, source_address=(source, 0) if source else None
        )
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        conn.sock = self.sock
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""), headers=headers or {})
        self.response = conn.getresponse()
        self.status_code = self.response.status
        self.headers = self.response.headers
        self.body = None
        if self.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            import json

            self.body = json.loads(self.response.read() or b"{}")

    def _read(self) -> None:
        import json

        event, event_id, data = "message", None, []
        with contextlib.suppress(OSError, ValueError, AttributeError):  # the test closed the stream
            while True:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if data:
                        self.events.put((event, event_id, json.loads("\n".join(data))))
                    event, event_id, data = "message", None, []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        self.events.put(("closed", None, None))

    def next(self, *kinds: str, timeout: float = 15.0):
        """The next event of one of these kinds (others are skipped); fails the test if none comes in time."""
        import queue

        while True:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {kinds} event within {timeout} s") from None
            if event[0] in kinds or event[0] == "closed":
                return event

    def close(self) -> None:
        import contextlib
        import socket

        with contextlib.suppress(OSError):  # already closed by the server
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
