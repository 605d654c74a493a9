"""The WhatsApp adapter: every webhook shape of the Cloud API (tests/fixtures/whatsapp/, from Meta's OpenAPI examples
and pywa's recorded payloads), batched POSTs parsed to the last status, the signature and handshake, the 24-hour
window and replies shaped to WhatsApp's reply buttons and lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from chatpad.channels import get_channel
from chatpad.channels.base import SendContext
from chatpad.channels.errors import AnomalousPayloadError, SignatureError
from chatpad.channels.meta import sign_body
from chatpad.channels.whatsapp.adapter import WINDOW_CLOSED, WINDOW_NEVER_WROTE
from chatpad.messages import Button, MessageMedia, OutboundReply, QuickReply

from .helpers import check_webhook, load_fixture

PN = "106540352242922"
CUSTOMER = "+16505551234"
WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
SECRET = "whatsapp-app-secret"

channel = get_channel("whatsapp")


def customer(**fields):
    return {"kind": "message", "account_id": PN, "sender_id": CUSTOMER, **fields}


def test_text_is_a_message_from_the_customers_number_in_e164():
    """wa_id "16505551234" is the customer "+16505551234", the number SMS knows them by: the same contact."""
    (event,) = check_webhook(
        "whatsapp",
        "message__text",
        [customer(content="Does it come in another color?", external_id=WAMID, thread_id=CUSTOMER)],
    )
    assert event.data["verified_phone"] == CUSTOMER
    assert event.message.metadata.sender_name == "Sheena Nelson"
    assert event.timestamp == datetime.fromtimestamp(1749416383, UTC)


def test_a_reply_keeps_what_it_answers():
    (event,) = check_webhook("whatsapp", "message__reply_context", [customer(content="Yes, that one")])
    assert event.message.metadata.extra["reply_to"] == "wamid.PREVIOUS"


@pytest.mark.parametrize(
    ("fixture", "kind", "content", "mime"),
    [
        ("media__image", "image", "The lot at the back", "image/jpeg"),
        ("media__document", "file", "", "application/pdf"),
        ("media__voice", "audio", "", "audio/ogg; codecs=opus"),
    ],
)
def test_media_is_marked_for_download_by_its_media_id(fixture, kind, content, mime):
    """Webhook media carry an id, not a file: the worker fetches it with the token (the URL lasts 5 minutes)."""
    (event,) = check_webhook("whatsapp", fixture, [customer(content=content)])
    (media,) = event.message.media
    assert media.type == kind and media.mime_type == mime and media.url is None
    assert media.extra["download"] is True and media.extra["media_id"].startswith("147953713965097")
    if fixture == "media__document":
        assert media.name == "lease.pdf"


def test_location_and_contacts_are_readable_text_with_the_details_kept():
    (loc,) = check_webhook("whatsapp", "location__pin", [customer()])
    assert "Pine Grove, 100 Main St" in loc.message.content and "30.2672" in loc.message.content
    assert loc.message.metadata.extra["location"]["longitude"] == -97.7431
    (card,) = check_webhook("whatsapp", "contacts__card", [customer()])
    assert card.message.content == "Shared contact: Jo Smith: +1 512 555 0199"


@pytest.mark.parametrize(
    ("fixture", "title", "payload"),
    [
        ("interactive__button_reply", "Book a tour", "tour"),
        ("interactive__list_reply", "Lot 12", "lot_12"),
        ("button__template_quick_reply", "Unsubscribe", "Unsubscribe"),
    ],
)
def test_a_tapped_button_or_row_is_a_quick_reply_with_its_payload(fixture, title, payload):
    (event,) = check_webhook("whatsapp", fixture, [customer(content=title)])
    assert event.message.metadata.extra["quick_reply"] == {"payload": payload, "title": title}


def test_reactions_added_and_removed():
    check_webhook(
        "whatsapp",
        "reaction__added",
        [
            {
                "kind": "reaction",
                "target": "wamid.OURS",
                "sender_id": CUSTOMER,
                "data": {"emoji": "👍", "reaction": "👍", "action": "react"},
            }
        ],
    )
    (removed,) = check_webhook("whatsapp", "reaction__removed", [{"kind": "reaction", "target": "wamid.OURS"}])
    assert removed.data["action"] == "unreact" and removed.data["emoji"] is None


def test_a_click_to_whatsapp_ad_referral_rides_on_the_message():
    (event,) = check_webhook("whatsapp", "referral__ctwa_ad", [customer(content="Is this home still available?")])
    assert event.message.metadata.extra["referral"]["source_type"] == "ad"
    assert event.message.metadata.extra["referral"]["ctwa_clid"] == "ARAk"


@pytest.mark.parametrize(
    "fixture", ["unsupported__type", "unsupported__system_changed_number", "unsupported__value_error"]
)
def test_unsupported_and_system_messages_are_acknowledged_not_answered(fixture):
    check_webhook("whatsapp", fixture, expect_noop=True)


def test_other_fields_are_acknowledged_not_answered():
    (event,) = check_webhook("whatsapp", "unknown__account_update", expect_noop=True)
    assert event.data["field"] == "account_update"


def test_a_template_review_names_the_waba_template_and_status():
    (event,) = check_webhook(
        "whatsapp", "template__status_update", [{"kind": "template_status", "account_id": "102290129340398"}]
    )
    assert (event.data["name"], event.data["language"], event.data["status"]) == ("tour_reminder", "en_US", "APPROVED")


@pytest.mark.parametrize(
    ("fixture", "status"),
    [("status__sent", "sent"), ("status__delivered", "delivered"), ("status__read", "read")],
)
def test_statuses(fixture, status):
    check_webhook(
        "whatsapp",
        fixture,
        [
            {
                "kind": "status",
                "account_id": PN,
                "sender_id": CUSTOMER,
                "data": {"status": status, "platform_status": status},
            }
        ],
    )


def test_a_late_failure_names_the_reason_and_code():
    """131047 arrives as a failed status after "sent": the admin reads the 24-hour window, not a bare code."""
    (event,) = check_webhook("whatsapp", "status__failed_131047", [{"kind": "status", "account_id": PN}])
    assert event.data["status"] == "failed" and event.data["error_code"] == "131047"
    assert "24-hour window" in event.data["error"] and "131047" in event.data["error"]


def test_a_batched_post_yields_every_message_and_status_of_every_entry():
    """Two numbers, two messages, two statuses in one POST: all six are parsed, each routed by its own
    phone_number_id (pywa #229 and Chatwoot's .first dropped all but the first)."""
    events = check_webhook(
        "whatsapp",
        "batch__two_numbers",
        [
            customer(content="Hi", external_id="wamid.B1"),
            customer(content="Are pets allowed?", external_id="wamid.B2"),
            {"kind": "status", "target": "wamid.S1", "data": {"status": "delivered", "platform_status": "delivered"}},
            {"kind": "status", "target": "wamid.S2", "data": {"status": "read", "platform_status": "read"}},
            {
                "kind": "message",
                "account_id": "106540352242933",
                "sender_id": "+447700900123",
                "content": "Hello from London",
            },
        ],
    )
    assert len(events) == 5
    assert events[-1].message.metadata.sender_name == "Ray"


def test_only_statuses_go_to_the_receipts_lane():
    assert channel.receipts_only(load_fixture("whatsapp", "status__read"), {}) is True
    assert channel.receipts_only(load_fixture("whatsapp", "batch__two_numbers"), {}) is False
    assert channel.receipts_only(load_fixture("whatsapp", "message__text"), {}) is False


def test_envelope_must_be_a_whatsapp_business_account():
    with pytest.raises(AnomalousPayloadError):
        channel.validate_envelope(b'{"object": "page", "entry": []}')
    with pytest.raises(AnomalousPayloadError):
        channel.validate_envelope(b"not json")
    channel.validate_envelope(load_fixture("whatsapp", "message__text"))


# --- signature and handshake ---


def test_signature_with_the_app_secret_over_the_raw_bytes():
    body = load_fixture("whatsapp", "message__text")
    channel.verify_request(body, sign_body(body, SECRET), {"META_APP_SECRET": SECRET})
    with pytest.raises(SignatureError):
        channel.verify_request(body + b" ", sign_body(body, SECRET), {"META_APP_SECRET": SECRET})
    with pytest.raises(SignatureError):
        channel.verify_request(body, {}, {"META_APP_SECRET": SECRET})


def test_handshake():
    config = {"META_VERIFY_TOKEN": "tok"}
    args = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "8812"}
    assert channel.handshake(args, config) == "8812"
    with pytest.raises(SignatureError):
        channel.handshake({**args, "hub.verify_token": "nope"}, config)


def test_the_webhook_route_answers_the_handshake_and_refuses_forgeries(client, app):
    token = app.config["META_VERIFY_TOKEN"]
    ok = client.get(
        "/api/webhooks/whatsapp",
        query_string={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "77"},
    )
    assert ok.status_code == 200 and ok.data == b"77"
    bad = client.get(
        "/api/webhooks/whatsapp", query_string={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "77"}
    )
    assert bad.status_code == 403
    body = load_fixture("whatsapp", "message__text")
    forged = client.post(
        "/api/webhooks/whatsapp", data=body, headers={**sign_body(body, "wrong"), "Content-Type": "application/json"}
    )
    assert forged.status_code == 403
    signed = sign_body(body, app.config["META_APP_SECRET"])
    assert (
        client.post(
            "/api/webhooks/whatsapp", data=body, headers={**signed, "Content-Type": "application/json"}
        ).status_code
        == 200
    )
    junk = b'{"object": "page", "entry": []}'
    junk_signed = {**sign_body(junk, app.config["META_APP_SECRET"]), "Content-Type": "application/json"}
    assert client.post("/api/webhooks/whatsapp", data=junk, headers=junk_signed).status_code == 400


# --- window and formatting ---


def ctx(last_inbound_at=None, sender_type="ai"):
    account = SimpleNamespace(account_id=PN, access_token="t", account_name="Pine Grove WhatsApp")
    return SendContext(
        account=account,
        conversation=SimpleNamespace(id=1),
        recipient_id=CUSTOMER,
        sender_type=sender_type,
        last_inbound_at=last_inbound_at,
    )


def test_the_24_hour_window():
    """Inside 24 hours since the customer's last message anyone may reply; after it nobody (not the AI, not a person:
    WhatsApp takes only templates then); never to someone who never wrote."""
    now = datetime.now(UTC)
    assert channel.check_window(ctx(now - timedelta(hours=23, minutes=59))) is None
    assert channel.check_window(ctx(now - timedelta(hours=24, minutes=1))) == WINDOW_CLOSED
    assert channel.check_window(ctx(now - timedelta(hours=25), sender_type="human")) == WINDOW_CLOSED
    assert channel.check_window(ctx(None)) == WINDOW_NEVER_WROTE


def test_three_short_choices_are_reply_buttons():
    reply = OutboundReply(
        "When would you like to visit?",
        quick_replies=[QuickReply("Today", "d0"), QuickReply("Tomorrow", "d1"), QuickReply("This weekend", "d2")],
    )
    (part,) = channel.format(reply, ctx())
    interactive = part.payload["interactive"]
    assert part.payload["type"] == "interactive" and interactive["type"] == "button"
    assert interactive["body"]["text"] == "When would you like to visit?"
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [
        {"id": "d0", "title": "Today"},
        {"id": "d1", "title": "Tomorrow"},
        {"id": "d2", "title": "This weekend"},
    ]


def test_more_choices_become_a_list_of_at_most_ten_rows():
    reply = OutboundReply(
        "Pick a lot", quick_replies=[QuickReply(f"Lot {i} with a very long name here", f"lot{i}") for i in range(12)]
    )
    (part,) = channel.format(reply, ctx())
    interactive = part.payload["interactive"]
    rows = interactive["action"]["sections"][0]["rows"]
    assert interactive["type"] == "list" and len(rows) == 10
    assert all(len(r["title"]) <= 24 for r in rows) and rows[0]["id"] == "lot0"
    assert len(interactive["action"]["button"]) <= 20


def test_long_text_splits_links_are_written_and_media_go_by_link():
    reply = OutboundReply(
        "word " * 1000,
        buttons=[Button("web_url", "Apply online", "https://example.com/apply")],
        media=[MessageMedia("image", url="https://example.com/lot.jpg")],
    )
    parts = channel.format(reply, ctx())
    texts = [p for p in parts if p.payload["type"] == "text"]
    assert len(texts) == 2 and all(len(p.payload["text"]["body"]) <= 4096 for p in texts)
    assert texts[-1].payload["text"]["body"].endswith("Apply online: https://example.com/apply")
    assert parts[-1].payload == {"type": "image", "image": {"link": "https://example.com/lot.jpg"}}


def test_needles_for_erasure_match_how_whatsapp_writes_the_number():
    body = load_fixture("whatsapp", "message__text")
    assert any(n in body for n in channel.webhook_needles(CUSTOMER))
    assert json.loads(body)["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] == "16505551234"
