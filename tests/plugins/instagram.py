"""Driving the sandbox's Instagram from tests over HTTP (/sandbox-api/meta/instagram), on top of `meta_sandbox`, and
a connected Instagram account in ChatPad linked to the demo's first Page."""

from __future__ import annotations

from typing import Any

import pytest

from chatpad import demo_data as D


class InstagramSandbox:
    """A thin HTTP client for the sandbox's Instagram (chatpad/sandbox/meta/instagram.py)."""

    def __init__(self, meta):
        self.meta = meta
        self.url = meta.url

    def _call(self, method: str, path: str, **kw) -> Any:
        return self.meta._call(method, f"instagram/{path}", **kw)

    @staticmethod
    def account_id(index: int = 0) -> str:
        return D.instagram_id(D.LOCATIONS[index])

    @staticmethod
    def username(index: int = 0) -> str:
        return D.LOCATIONS[index].ig_username

    @staticmethod
    def page_id(index: int = 0) -> str:
        return D.page_id(D.LOCATIONS[index])

    def simulate(self, text: str | None = None, *, account: str | None = None, sender: str = "Jane Doe", **spec):
        """A customer action (spec["kind"], text by default), posted to ChatPad as a signed webhook."""
        return self._call(
            "POST", "simulate", json={"account": account or self.account_id(), "from": sender, "text": text, **spec}
        )

    def business_reply(self, igsid: str, text: str, account: str | None = None) -> dict:
        return self._call(
            "POST", "business-reply", json={"account": account or self.account_id(), "igsid": igsid, "text": text}
        )

    def thread(self, igsid: str, account: str | None = None) -> dict:
        return self._call("GET", "thread", params={"account": account or self.account_id(), "igsid": igsid})

    def new_story(self, ttl_seconds: float | None = None, account: str | None = None) -> dict:
        return self._call("POST", "stories", json={"account": account or self.account_id(), "ttl_seconds": ttl_seconds})

    def expire_story(self, story_id: str) -> dict:
        return self._call("POST", f"stories/{story_id}/expire", json={})

    def age(self, igsid: str, hours: float, account: str | None = None) -> dict:
        return self._call("POST", "age", json={"account": account or self.account_id(), "igsid": igsid, "hours": hours})

    def sends(self) -> list[dict]:
        """Send API calls that carried a message, in order (what ChatPad really sent)."""
        return self.meta.sends()

    def accepted_texts(self) -> list[str]:
        return [r["json"]["message"].get("text") for r in self.meta.accepted()]

    def wait_for(self, predicate, timeout: float = 20.0):
        return self.meta.wait_for(predicate, timeout)


@pytest.fixture
def ig_sandbox(meta_sandbox) -> InstagramSandbox:
    """The sandbox's Instagram, reset, with its webhooks going to the live app server."""
    return InstagramSandbox(meta_sandbox)


@pytest.fixture
def ig_account(make, ig_sandbox):
    """The demo's first Instagram account (@forgelakemhp or the like) connected in ChatPad: linked to its Page, with
    the Page's token, at a location that has a story-mention reply of its own."""
    business = make.business()
    business.location.settings = {"story_mention_reply": "Thank you for the shout-out! 💙 — Forge Lake"}
    account = make.account(
        business.agent,
        "instagram",
        business.location,
        account_id=ig_sandbox.account_id(),
        account_name=f"@{ig_sandbox.username()}",
        access_token=ig_sandbox.meta.page_token(ig_sandbox.page_id()),
        meta={"page_id": ig_sandbox.page_id(), "username": ig_sandbox.username()},
    )
    business.ig = account
    return business
