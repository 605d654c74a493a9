"""Driving the sandbox's Twilio from tests, over HTTP: reset, text a demo number as a customer, inject failures,
read what ChatPad sent. `twilio_sandbox` resets it before each test, points the demo numbers' webhooks at the live
server, and sets PUBLIC_URL to it (the StatusCallback ChatPad gives Twilio with every send)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from chatpad import demo_data as D
from config import TestConfig


class TwilioSandbox:
    """A thin HTTP client for /sandbox-api/twilio (chatpad/sandbox/twilio/control.py)."""

    account_sid = D.twilio_account_sid()
    auth_token = D.twilio_auth_token(TestConfig.META_APP_SECRET)
    service_sid = D.twilio_service_sid()

    def __init__(self, url: str, webhook_base: str):
        self.url = url
        self.webhook_base = webhook_base
        self.http = requests.Session()

    def _call(self, method: str, path: str, **kw) -> Any:
        response = self.http.request(method, f"{self.url}/sandbox-api/twilio/{path}", timeout=60, **kw)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset", json={"webhook_base": self.webhook_base})

    @staticmethod
    def number(index: int = 0) -> str:
        return D.sms_number(D.LOCATIONS[index])

    @staticmethod
    def location(index: int = 0) -> D.DemoLocation:
        return D.LOCATIONS[index]

    def text(self, text: str = "", *, location: int | str = 0, sender: str = "+15125550123", **spec) -> dict:
        """A customer texts a demo number (the index of a demo location, or its name); the webhook is posted before
        this returns."""
        where = D.LOCATIONS[location].slug if isinstance(location, int) else location
        return self._call("POST", "simulate", json={"location": where, "from": sender, "text": text, **spec})

    def thread(self, location: int = 0, sender: str = "+15125550123") -> dict:
        return self._call("GET", "thread", params={"location": D.LOCATIONS[location].slug, "from": sender})

    def replies(self, location: int = 0, sender: str = "+15125550123") -> list[dict]:
        """What the business sent the customer through the API (not Twilio's automatic replies)."""
        return [
            m for m in self.thread(location, sender)["messages"] if m["sender"] == "business" and not m.get("automatic")
        ]

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict]:
        params = {k: v for k, v in (("path", path), ("method", method)) if v}
        return self._call("GET", "requests", params=params)

    def sends(self) -> list[dict]:
        return self.requests("/Messages.json", "POST")

    def deliveries(self) -> list[dict]:
        return self._call("GET", "deliveries", params={"limit": 1000})

    def fail(self, kind: str, **options) -> dict:
        return self._call("POST", "failures", json={"kind": kind, **options})

    def settings(self, **settings) -> dict:
        return self._call("PATCH", "settings", json={"settings": settings})

    def block(self, location: int = 0, sender: str = "+15125550123") -> None:
        self._call("POST", "opt-outs", json={"location": D.LOCATIONS[location].slug, "from": sender})

    def numbers(self) -> list[dict]:
        return self._call("GET", "numbers")

    def add_api_key(self) -> dict:
        return self._call("POST", f"accounts/{self.account_sid}/keys")

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
            time.sleep(interval)


@pytest.fixture
def twilio_sandbox(app, sandbox_server, live_server, monkeypatch) -> TwilioSandbox:
    """The sandbox's Twilio, reset, its demo numbers' webhooks going to the live app server."""
    from chatpad.channels.sms.credentials import forget_signing_keys

    monkeypatch.setitem(app.config, "PUBLIC_URL", live_server.url)
    forget_signing_keys()
    sandbox = TwilioSandbox(sandbox_server.url, live_server.url)
    sandbox.reset()
    return sandbox


@pytest.fixture
def sms_account(make):
    """A business whose location texts from the first demo number (the sandbox's Twilio account's credentials)."""

    def build(business=None, index: int = 0, **meta):
        biz = business or make.business()
        loc = D.LOCATIONS[index]
        pool = D.sms_in_pool(loc)
        account = make.account(
            biz.agent,
            "sms",
            biz.location,
            account_id=D.sms_number(loc),
            account_name=f"{loc.name} texting line",
            access_token=TwilioSandbox.auth_token,
            meta={
                "provider": "twilio",
                "account_sid": TwilioSandbox.account_sid,
                "number_sid": D.sms_number_sid(loc),
                "messaging_service_sid": TwilioSandbox.service_sid if pool else None,
                **meta,
            },
        )
        return biz, account

    return build
