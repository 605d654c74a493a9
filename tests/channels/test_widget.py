"""The widget adapter on its own: the visitor API's envelopes become message events, replies become bubbles,
and a widget's settings (origins, appearance) are validated before they reach a browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatpad.channels import get_channel
from chatpad.channels.errors import AnomalousPayloadError, UnsupportedEventError
from chatpad.channels.widget.adapter import WidgetChannel, build_envelope, split_text
from chatpad.channels.widget.settings import (
    DEFAULT_APPEARANCE,
    clean_appearance,
    normalize_origin,
    origin_allowed,
    parse_origins,
    snippet,
)
from chatpad.messages import Button, OutboundReply, QuickReply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "widget"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_widget_is_registered():
    """The registry maps the seed's "widget" key to the adapter."""
    assert isinstance(get_channel("widget"), WidgetChannel)


def test_a_visitor_message_becomes_one_message_event():
    """A visitor's message is routed by widget key and threaded by visitor id; the page it came from is kept."""
    (event,) = WidgetChannel().parse(fixture("message__text"))
    assert event.kind == "message" and event.channel == "widget"
    assert event.account_id == "wk_FixtureKey0000000000000"
    assert event.sender_id == "v_Ab3dEf6hIj9kLm2nOp5qRs"
    assert event.timestamp == datetime(2026, 3, 2, 15, 4, 5, 123456, tzinfo=UTC)
    message = event.message
    assert message.direction == "inbound" and message.content.startswith("Hi! Is the 3 bedroom")
    assert message.metadata.external_id == "v_Ab3dEf6hIj9kLm2nOp5qRs:c1a2b3c4d5e6f708090a0b0c"
    assert message.metadata.thread_id == "v_Ab3dEf6hIj9kLm2nOp5qRs"
    assert message.metadata.extra["page_url"] == "https://www.forgelake.com/homes"
    assert message.metadata.extra["client_id"] == "c1a2b3c4d5e6f708090a0b0c"
    assert event.data == {}


def test_name_and_email_reach_the_pipeline_as_contact_hints():
    """What the visitor typed becomes the contact's name and (unverified) email for cross-channel matching."""
    (event,) = WidgetChannel().parse(fixture("message__with_contact"))
    assert event.message.metadata.sender_name == "Sarah Johnson"
    assert event.data["contact"] == {"name": "Sarah Johnson", "email": "sarah.johnson@example.com"}
    assert event.data["email_verified"] is False
    assert event.message.content == "Can I bring my two dogs?\n\nThey are small."


def test_build_envelope_round_trips_through_parse():
    """What the API stores is exactly what the worker can parse again (replays give the same message)."""
    body = build_envelope(
        widget_key="wk_x", visitor_id="v_y", client_id="c1", text="Hello <b>there</b>", name="Ann", email=None
    )
    (event,) = WidgetChannel().parse(body)
    assert event.message.content == "Hello <b>there</b>"  # stored as text; every renderer escapes it
    assert event.data["contact"] == {"name": "Ann"}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"v": 2, "type": "message"}).encode(),
        json.dumps({"v": 1, "type": "message"}).encode(),
    ],
)
def test_anything_else_is_anomalous(body):
    """Bodies the API never stores are refused as anomalous, not half-parsed."""
    with pytest.raises(AnomalousPayloadError):
        WidgetChannel().parse(body)


def test_unknown_envelope_types_are_unsupported():
    """A future envelope type is acknowledged and logged, not an error."""
    with pytest.raises(UnsupportedEventError):
        WidgetChannel().parse(json.dumps({"v": 1, "type": "typing"}).encode())


def test_a_reply_becomes_bubbles_with_quick_replies_and_safe_buttons():
    """Long replies split at sentence breaks; chips ride on the last bubble; only http(s) links become buttons."""
    reply = OutboundReply(
        text=("Lot 14 is a 2019 Clayton. " * 200).strip(),
        quick_replies=[QuickReply("Book a tour", "TOUR")],
        buttons=[
            Button("web_url", "Apply online", "https://forgelake.com/apply"),
            Button("web_url", "Evil", "javascript:alert(1)"),
            Button("phone_number", "Call us", "+19365550141"),
        ],
    )
    parts = WidgetChannel().format(reply, ctx=None)
    assert len(parts) == 2 and all(len(p.text) <= 4000 for p in parts)
    assert parts[0].text.endswith("Clayton.") and "quick_replies" not in parts[0].payload
    last = parts[-1].payload
    assert last["quick_replies"] == [{"title": "Book a tour", "payload": "TOUR"}]
    assert last["buttons"] == [
        {"type": "link", "title": "Apply online", "url": "https://forgelake.com/apply"},
        {"type": "phone", "title": "Call us", "phone": "+19365550141"},
    ]


def test_split_text_prefers_paragraphs_and_never_loses_text():
    """Splitting keeps every word, in order, within the limit."""
    text = "First paragraph here.\n\nSecond one is longer than the first.\n\n" + "word " * 50
    chunks = split_text(text, 60)
    assert all(len(c) <= 60 for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())
    assert chunks[0] == "First paragraph here."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("forgelake.com", "https://forgelake.com"),
        ("HTTPS://ForgeLake.com:443/", "https://forgelake.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("https://*.forgelake.com", "https://*.forgelake.com"),
        ("http://[::1]:5055", "http://[::1]:5055"),
    ],
)
def test_origins_are_normalized(raw, expected):
    """Admins can paste origins loosely; they are stored in the browser's exact form."""
    assert normalize_origin(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ftp://forgelake.com", "https://forgelake.com/path", "https://user@forgelake.com", "https://bad_host", ""]
)
def test_bad_origins_are_refused_with_a_reason(raw):
    """Anything that is not scheme://host[:port] is refused, so a typo cannot silently open the widget up."""
    with pytest.raises(ValueError):
        normalize_origin(raw)


def test_origin_matching_is_exact_or_by_subdomain_wildcard():
    """Only listed origins (or subdomains under a wildcard, same scheme) may use the widget."""
    allowed = parse_origins("https://forgelake.com\nhttps://*.forgelake.com, http://localhost:5055")
    assert origin_allowed("https://forgelake.com", allowed)
    assert origin_allowed("https://www.forgelake.com", allowed)
    assert origin_allowed("https://a.b.forgelake.com", allowed)
    assert origin_allowed("http://localhost:5055", allowed)
    assert not origin_allowed("http://forgelake.com", allowed)
    assert not origin_allowed("http://www.forgelake.com", allowed)
    assert not origin_allowed("https://evilforgelake.com", allowed)
    assert not origin_allowed("https://forgelake.com.evil.com", allowed)
    assert not origin_allowed("http://localhost:5056", allowed)
    assert not origin_allowed("null", allowed)
    assert not origin_allowed(None, allowed)


def test_appearance_values_are_validated():
    """Colours must be #rrggbb (they become CSS), texts have limits; bad stored values fall back to defaults."""
    assert clean_appearance({"color": "#ABCDEF"}, fallback=DEFAULT_APPEARANCE)["color"] == "#abcdef"
    assert clean_appearance({"color": "red;} body{display:none"}, fallback=DEFAULT_APPEARANCE)["color"] == "#1d4ed8"
    with pytest.raises(ValueError, match="launcher_text"):
        clean_appearance({"launcher_text": "x" * 41})


def test_snippet_is_one_script_tag():
    """The admin copies exactly one async script tag with the widget key."""
    tag = snippet("https://chat.example.com/", "wk_abc")
    assert tag == '<script src="https://chat.example.com/widget.js" data-chatpad-key="wk_abc" async></script>'
