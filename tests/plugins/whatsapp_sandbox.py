"""Driving the sandbox's WhatsApp Cloud API from tests, over HTTP (chatpad/sandbox/meta/whatsapp.py): a customer
writes to a demo number, ChatPad's sends and read receipts are read back. Reset with the rest of the sandbox's Meta
(meta_sandbox), whose webhooks go to the live server."""

from __future__ import annotations

from typing import Any

import pytest

from chatpad import demo_data as D
from config import TestConfig


class WhatsAppSandbox:
    token = D.whatsapp_token(TestConfig.META_APP_SECRET)

    def __init__(self, meta):
        self.meta = meta
        self.http = meta.http
        self.url = meta.url

    def _call(self, method: str, path: str, **kw) -> Any:
        response = self.http.request(method, f"{self.url}/sandbox-api/whatsapp/{path}", timeout=60, **kw)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    @staticmethod
    def number_id(index: int = 0) -> str:
        return D.whatsapp_phone_number_id(D.LOCATIONS[index])

    def write(self, text: str = "", *, location: int = 0, sender: str = "+15125550123", **spec) -> dict:
        """The customer writes; the signed webhook has been answered when this returns."""
        where = D.LOCATIONS[location].slug
        return self._call("POST", "simulate", json={"location": where, "from": sender, "text": text, **spec})

    def age(self, hours: float, *, location: int = 0, sender: str = "+15125550123") -> None:
        self._call("POST", "age", json={"location": D.LOCATIONS[location].slug, "from": sender, "hours": hours})

    def thread(self, location: int = 0, sender: str = "+15125550123") -> list[dict]:
        params = {"location": D.LOCATIONS[location].slug, "from": sender}
        return self._call("GET", "thread", params=params)["messages"]

    def replies(self, location: int = 0, sender: str = "+15125550123") -> list[dict]:
        return [m for m in self.thread(location, sender) if m["sender"] == "business"]

    def templates(self) -> list[dict]:
        return self._call("GET", "templates")

    def set_template(self, name: str, **spec) -> dict:
        """Add or change a template of the demo WABA (approved, rejected …), as WhatsApp Manager would."""
        return self._call("POST", "templates", json={"name": name, **spec})

    def delete_template(self, name: str) -> None:
        self._call("DELETE", f"templates/{name}")

    def wait_for(self, predicate, timeout: float = 20.0, interval: float = 0.1):
        return self.meta.wait_for(predicate, timeout=timeout, interval=interval)


@pytest.fixture
def whatsapp_sandbox(meta_sandbox) -> WhatsAppSandbox:
    return WhatsAppSandbox(meta_sandbox)


@pytest.fixture
def whatsapp_account(make):
    """A business whose location's WhatsApp number is the first demo number (the sandbox WABA's token)."""

    def build(business=None, index: int = 0):
        biz = business or make.business()
        loc = D.LOCATIONS[index]
        account = make.account(
            biz.agent,
            "whatsapp",
            biz.location,
            account_id=D.whatsapp_phone_number_id(loc),
            account_name=f"{loc.name} WhatsApp",
            access_token=WhatsAppSandbox.token,
            meta={"waba_id": D.waba_id(), "display_phone_number": D.whatsapp_number(loc)},
        )
        return biz, account

    return build
