"""A loopback channel for testing the shared pipeline on its own: a platform that lives in Redis.

It is registered only in tests. It lets the pipeline's own rules (idempotency, bursts, takeover, windows, retries,
crash recovery) be exercised without any one platform's quirks; every real channel has its own end-to-end tests
against the sandbox. What it "sends" lands in a Redis list the test reads; the next sends can be told to fail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chatpad.channels import CHANNELS, Channel, get_channel
from chatpad.channels.errors import AnomalousPayloadError, AuthExpiredError, PermanentSendError, TransientSendError
from chatpad.messages import InboundEvent, MessageMetadata, OutboundPart, UnifiedMessage
from chatpad.queue import get_redis

SENT_KEY = "loopback:sent"
FAIL_KEY = "loopback:fail"


class LoopbackChannel(Channel):
    key = "loopback"
    event_types = ("message", "echo", "delivery", "edit", "delete")
    max_text = 50

    def parse(self, body, headers=None):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise AnomalousPayloadError(f"not JSON: {exc}") from None
        events = []
        for item in data["events"]:
            ts = datetime.fromtimestamp(item.get("ts", datetime.now(UTC).timestamp()), UTC)
            message = None
            if item["kind"] in ("message", "echo"):
                message = UnifiedMessage(
                    channel="loopback",
                    channel_account_id=data["account"],
                    direction="inbound" if item["kind"] == "message" else "outbound",
                    content=item.get("text", ""),
                    created_at=ts,
                    metadata=MessageMetadata(external_id=item.get("mid"), sender_name=item.get("name")),
                )
            events.append(
                InboundEvent(
                    kind=item["kind"],
                    channel="loopback",
                    account_id=data["account"],
                    sender_id=item.get("sender"),
                    timestamp=ts,
                    message=message,
                    target_external_id=item.get("target"),
                    data=item.get("data", {}),
                )
            )
        return events

    def format(self, reply, ctx):
        words, parts, current = reply.text.split(), [], ""
        for word in words:
            if current and len(current) + 1 + len(word) > self.max_text:
                parts.append(current)
                current = word
            else:
                current = f"{current} {word}".strip()
        parts.append(current)
        return [OutboundPart(text=p, payload={"to": ctx.recipient_id, "text": p}) for p in parts]

    def check_window(self, ctx):
        """Messenger-like: the AI within 24 hours of the customer's last message, a person within 7 days."""
        if ctx.last_inbound_at is None:
            return None
        age = datetime.now(UTC) - ctx.last_inbound_at
        if age > timedelta(days=7):
            return "Outside the 7-day window"
        if age > timedelta(hours=24) and ctx.sender_type != "human":
            return "Outside the 24-hour window"
        return None

    def send(self, payload, ctx):
        redis = get_redis()
        failure = redis.lpop(FAIL_KEY)
        if failure:
            kind = failure.decode()
            if kind == "transient":
                raise TransientSendError("HTTP 503 from loopback", code=503)
            if kind == "ratelimit":
                raise TransientSendError("rate limited", code=613, retry_after=0.2)
            if kind == "auth":
                raise AuthExpiredError("Error validating access token: the session has expired", code=190)
            if kind == "crash":  # a bug in the sending code, not a platform error
                raise RuntimeError("loopback crashed")
            raise PermanentSendError("(#100) Invalid parameter", code=100)
        mid = f"out-{redis.incr('loopback:mid')}"
        redis.rpush(SENT_KEY, json.dumps({"account": ctx.account.account_id, "mid": mid, **payload}))
        return mid


def sent_messages() -> list[dict]:
    return [json.loads(x) for x in get_redis().lrange(SENT_KEY, 0, -1)]


def fail_next(*kinds: str) -> None:
    get_redis().rpush(FAIL_KEY, *kinds)


@pytest.fixture(scope="session", autouse=True)
def _register_loopback():
    CHANNELS["loopback"] = "tests.plugins.loopback:LoopbackChannel"
    get_channel.cache_clear()
    yield
    CHANNELS.pop("loopback", None)
    get_channel.cache_clear()
