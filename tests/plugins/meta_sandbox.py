"""Driving the sandbox's Meta from tests, over HTTP: reset, simulate customers, inject failures, read what ChatPad
sent. `meta_sandbox` resets it before each test and points its webhooks at the live server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from chatpad import demo_data as D
from config import TestConfig

# Fast Meta-style retries in tests (Meta waits longer; docs/sandbox.md).
TEST_RETRY_DELAYS = [0.1, 0.3, 1.0]


class MetaSandbox:
    """A thin HTTP client for /sandbox-api/meta (see chatpad/sandbox/meta/control.py)."""

    def __init__(self, url: str, webhook_base: str | None):
        self.url = url
        self.graph_url = f"{url}/graph"
        self.webhook_base = webhook_base
        self.http = requests.Session()
        self.app_secret = TestConfig.META_APP_SECRET
        self.app_id = TestConfig.META_APP_ID

    def _call(self, method: str, path: str, **kw) -> Any:
        response = self.http.request(method, f"{self.url}/sandbox-api/meta/{path}", timeout=60, **kw)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")
        urls = {"page": f"{self.webhook_base}/api/webhooks/facebook" if self.webhook_base else None}
        if self.webhook_base:
            urls["instagram"] = f"{self.webhook_base}/api/webhooks/instagram"
            urls["whatsapp_business_account"] = f"{self.webhook_base}/api/webhooks/whatsapp"
        self._call("PATCH", "settings", json={"settings": {"retry_delays": TEST_RETRY_DELAYS}, "webhook_urls": urls})

    # --- the demo's Pages ---

    @staticmethod
    def page_id(index: int = 0) -> str:
        return D.page_id(D.LOCATIONS[index])

    def page_token(self, page_id: str) -> str:
        return D.sandbox_token(self.app_secret, "page", page_id)

    def add_page(self, name: str) -> dict:
        return self._call("POST", "pages", json={"name": name})

    # --- what ChatPad sent ---

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict]:
        params = {k: v for k, v in (("path", path), ("method", method)) if v}
        return self._call("GET", "requests", params=params)

    def sends(self) -> list[dict]:
        """Send API calls that carried a message (not sender actions), in order."""
        return [
            r for r in self.requests("/messages", "POST") if isinstance(r.get("json"), dict) and "message" in r["json"]
        ]

    def accepted(self) -> list[dict]:
        """Messages the sandbox accepted (HTTP 200)."""
        return [r for r in self.sends() if r["status"] == 200]

    # --- customers and the Page ---

    def simulate(self, page: str | None = None, sender: str = "Jane Doe", text: str | None = None, **spec) -> dict:
        return self._call(
            "POST", "simulate", json={"page": page or self.page_id(), "from": sender, "text": text, **spec}
        )

    def batch(self, events: list[dict]) -> dict:
        return self._call("POST", "batch", json={"events": events})

    def page_reply(self, page: str, psid: str, text: str, **spec) -> dict:
        return self._call("POST", "page-reply", json={"page": page, "psid": psid, "text": text, **spec})

    def read(self, page: str, psid: str) -> dict:
        return self._call("POST", "read", json={"page": page, "psid": psid, "wait": True})

    def thread(self, page: str, psid: str) -> dict:
        return self._call("GET", "thread", params={"page": page, "psid": psid})

    def age(self, page: str, psid: str, hours: float) -> dict:
        return self._call("POST", "age", json={"page": page, "psid": psid, "hours": hours})

    def block(self, page: str, psid: str) -> None:
        self._call("POST", "people/block", json={"page": page, "psid": psid})

    def invalidate_token(self, page: str, subcode: int = 463) -> None:
        self._call("POST", "tokens/invalidate", json={"page": page, "subcode": subcode})

    def deliveries(self, body: bool = False) -> list[dict]:
        return self._call("GET", "deliveries", params={"limit": 1000, "body": int(body)})

    # --- behaviour ---

    def fail(self, kind: str, **options) -> dict:
        return self._call("POST", "failures", json={"kind": kind, **options})

    def settings(self, **settings) -> dict:
        return self._call("PATCH", "settings", json={"settings": settings})

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
        """Poll until predicate() is truthy (webhooks are asynchronous, as Meta's are); fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
            time.sleep(interval)


@pytest.fixture
def meta_sandbox(sandbox_server, live_server) -> Iterator[MetaSandbox]:
    """The sandbox's Meta, reset, with its webhooks going to the live app server; reset again when the test ends, so
    webhooks it still had to send (WhatsApp's statuses come a moment after the send) never reach the next test."""
    sandbox = MetaSandbox(sandbox_server.url, live_server.url)
    sandbox.reset()
    yield sandbox
    sandbox.reset()
