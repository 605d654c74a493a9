"""Webhooks the sandbox posts to the app, signed and retried like Meta's.

Bodies are serialized with json.dumps and its default ensure_ascii=True (Meta escapes non-ASCII as \\uXXXX and signs
those bytes), and carry X-Hub-Signature-256 plus the legacy sha1 X-Hub-Signature. A non-200 answer, a timeout or a
refused connection is retried after the delays in the world's settings; reset() drops pending retries.
https://developers.facebook.com/docs/messenger-platform/webhooks#security
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from typing import Any

import requests
from urllib3.util.retry import Retry

from chatpad.channels.meta.signature import sign_body
from chatpad.http import PooledSession

from .world import Delivery, World, now_ms

log = logging.getLogger("chatpad.sandbox.meta.webhooks")

# Which Page subscription field an item is delivered under.
ITEM_FIELDS = {
    "message": "messages",
    "echo": "message_echoes",
    "postback": "messaging_postbacks",
    "delivery": "message_deliveries",
    "read": "message_reads",
    "reaction": "message_reactions",
    "referral": "messaging_referrals",
    "message_edit": "message_edits",
}


def item_field(item: dict[str, Any]) -> str:
    message = item.get("message")
    if isinstance(message, dict):
        return ITEM_FIELDS["echo" if message.get("is_echo") else "message"]
    for key, name in ITEM_FIELDS.items():
        if key in item:
            return name
    return "messages"


def envelope(obj: str, entries: list[tuple[str, list[dict[str, Any]], bool]]) -> dict[str, Any]:
    """{"object", "entry": [...]}: one entry per (account id, items, standby)."""
    return {
        "object": obj,
        "entry": [
            {"id": account_id, "time": now_ms(), ("standby" if standby else "messaging"): items}
            for account_id, items, standby in entries
        ],
    }


class Dispatcher:
    """Posts deliveries from a background thread; first attempts can also be made inline (wait=True)."""

    def __init__(self, world: World):
        self.world = world
        # Many simulated customers post at once (keep that many connections), and a kept-alive connection the app's
        # server has just closed fails the next POST on it: that is a transport hiccup, resent at once on a new
        # connection (Meta's delivery retries as well; the app takes a delivery twice without harm).
        self.session = PooledSession(
            64, max_retries=Retry(total=1, connect=1, read=1, status=0, allowed_methods=None, raise_on_status=False)
        )
        self._heap: list[tuple[float, int, Delivery, int]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # Held while a background attempt is in flight, so reset() can wait for it (tests never see a stray POST).
        self.in_flight = threading.Lock()

    def quiesce(self) -> None:
        """Wait for the background attempt in flight, if any (pending retries are dropped by the world's reset)."""
        with self.in_flight:
            pass

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-meta-webhooks", daemon=True)
            self._thread.start()

    def submit(self, obj: str, payload: dict[str, Any], *, wait: bool = False, body: str | None = None) -> Delivery:
        """Queue one POST of `payload` (or exact `body`) to the app's callback URL for `obj` ("page"/"instagram")."""
        world = self.world
        body = body if body is not None else json.dumps(payload)  # ensure_ascii=True, like Meta
        with world.lock:
            url = world.webhook_urls.get(obj)
            headers = {"Content-Type": "application/json", **sign_body(body.encode(), world.app_secret)}
            delivery = Delivery(
                id=next(world._ids),
                object=obj,
                url=url,
                body=body,
                headers=headers,
                created_at=time.time(),
                generation=world.generation,
            )
            world.deliveries.append(delivery)
        if not url:
            delivery.state = "no_target"
            return delivery
        if wait:
            self._attempt(delivery, 0)
        else:
            self._schedule(delivery, 0, 0.0)
        return delivery

    def _schedule(self, delivery: Delivery, attempt: int, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), delivery, attempt))
            self._cond.notify()
        self._ensure_thread()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                _, _, delivery, attempt = heapq.heappop(self._heap)
            # Deliveries run one at a time, in order, like one Meta delivery stream per app.
            try:
                with self.in_flight:
                    self._attempt(delivery, attempt)
            except Exception:  # never let the dispatcher thread die
                log.exception("webhook delivery %s crashed", delivery.id)

    def _attempt(self, delivery: Delivery, attempt: int) -> None:
        world = self.world
        if delivery.generation != world.generation:
            return  # the world was reset: Meta forgot about it
        started = time.time()
        # Like Meta, each attempt goes to the callback URL configured now (a fixed URL starts receiving retries).
        url = world.webhook_urls.get(delivery.object) or delivery.url
        delivery.url = url
        try:
            response = self.session.post(
                url,
                data=delivery.body.encode(),
                headers=delivery.headers,
                timeout=float(world.settings["webhook_timeout"]),
            )
            status: int | None = response.status_code
            error = None if status == 200 else f"HTTP {status}"
        except requests.RequestException as exc:
            status, error = None, type(exc).__name__
        with world.lock:
            delivery.attempts.append({"at": started, "url": url, "status": status, "error": error})
            if status == 200:
                delivery.state = "delivered"
                return
            delays = world.settings["retry_delays"]
            if attempt < len(delays) and delivery.generation == world.generation:
                delivery.state = "retrying"
                retry_in = float(delays[attempt])
            else:
                delivery.state = "failed"
                retry_in = None
        log.info(
            "webhook %s to %s failed (%s)%s", delivery.id, delivery.url, error, " — will retry" if retry_in else ""
        )
        if retry_in is not None:
            self._schedule(delivery, attempt + 1, retry_in)
