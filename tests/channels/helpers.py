"""check_webhook: one fixture in, the expected events out (in the spirit of Zulip's WebhookTestCase.check_webhook)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatpad.channels import get_channel
from chatpad.messages import InboundEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_path(channel: str, name: str) -> Path:
    return FIXTURES / channel / f"{name}.json"


def load_fixture(channel: str, name: str) -> bytes:
    """The fixture's bytes, as the platform would post them."""
    return fixture_path(channel, name).read_bytes()


def flatten(event: InboundEvent) -> dict[str, Any]:
    """An event as a flat dict of the things a test asserts on."""
    flat: dict[str, Any] = {
        "kind": event.kind,
        "account_id": event.account_id,
        "sender_id": event.sender_id,
        "timestamp": event.timestamp.isoformat(),
        "standby": event.standby,
        "target": event.target_external_id,
        "watermark": event.watermark.isoformat() if event.watermark else None,
        "data": event.data,
    }
    if event.message is not None:
        m = event.message
        flat.update(
            content=m.content,
            external_id=m.metadata.external_id,
            direction=m.direction,
            thread_id=m.metadata.thread_id,
            media=[(media.type, media.url) for media in m.media],
            extra=m.metadata.extra,
        )
    return flat


def check_webhook(
    channel: str,
    fixture: str,
    expected: list[dict[str, Any]] | None = None,
    *,
    expect_noop: bool = False,
) -> list[InboundEvent]:
    """Parse a fixture with the channel's adapter and compare each event with the expected (partial) dicts.

    expect_noop: the delivery is well-formed but nothing in it is acted on (every event is "unsupported")."""
    adapter = get_channel(channel)
    events = adapter.parse(load_fixture(channel, fixture), {})
    if expect_noop:
        assert events and all(e.kind == "unsupported" for e in events), [flatten(e) for e in events]
        return events
    assert expected is not None
    assert len(events) == len(expected), [flatten(e) for e in events]
    for index, (event, want) in enumerate(zip(events, expected, strict=True)):
        flat = flatten(event)
        for key, value in want.items():
            assert flat.get(key) == value, f"event {index} of {fixture}: {key} is {flat.get(key)!r}, want {value!r}"
        assert event.channel == channel
    return events
