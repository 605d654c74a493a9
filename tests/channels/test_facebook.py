"""The Messenger adapter: every webhook event type from Meta's documented shapes (tests/fixtures/facebook/), the
signature and handshake, and replies shaped to Messenger's limits."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from chatpad.channels import get_channel
from chatpad.channels.base import SendContext
from chatpad.channels.errors import AnomalousPayloadError, SignatureError
from chatpad.channels.facebook.adapter import WINDOW_CLOSED_AI, WINDOW_CLOSED_HUMAN
from chatpad.channels.facebook.formatting import split_text
from chatpad.messages import Button, MessageMedia, OutboundReply, QuickReply

from .helpers import check_webhook, load_fixture

PAGE = "100200300400500"
PAGE2 = "100200300400599"
PSID = "5566778899001122"
PSID2 = "5566778899003344"
APP_ID = "555000111222333"
T = "2026-01-01T00:00:00.123000+00:00"
T_SECONDS = "2026-01-01T00:00:00+00:00"
CDN = "https://scontent.xx.fbcdn.net/v/t1.15752-9/{}?_nc_cat=1&oh=00_sandbox&oe=6A000000"

channel = get_channel("facebook")


def customer(**fields):
    """Expected fields of an event from the customer to the Page."""
    return {"account_id": PAGE, "sender_id": PSID, "standby": False, **fields}


# --- messages ---


def test_text_message():
    """A customer's text arrives as an inbound message with its mid, sender PSID and Page."""
    check_webhook(
        "facebook",
        "message__text",
        [
            customer(
                kind="message",
                content="Is lot 14 available?",
                external_id="m_text_1",
                direction="inbound",
                thread_id=PSID,
                timestamp=T,
                media=[],
                extra={},
            )
        ],
    )


def test_unicode_text_message():
    """Non-ASCII text (Spanish, emoji) comes through intact."""
    check_webhook("facebook", "message__unicode", [customer(content="¿Tienen casas con 3 recámaras? 🏡")])


def test_quick_reply_tap():
    """A quick-reply tap keeps the title as text and the payload in metadata."""
    check_webhook(
        "facebook",
        "message__quick_reply",
        [customer(kind="message", content="Book a tour", extra={"quick_reply": {"payload": "BOOK_TOUR"}})],
    )


@pytest.mark.parametrize(
    ("fixture", "kind", "url"),
    [
        ("message__image", "image", CDN.format("photo.jpg")),
        ("message__video", "video", CDN.format("clip.mp4")),
        ("message__audio", "audio", CDN.format("voice.mp4")),
        ("message__file", "file", CDN.format("application.pdf")),
    ],
)
def test_media_attachments(fixture, kind, url):
    """Images, videos, voice notes and files arrive as links to Meta's CDN (never downloaded)."""
    check_webhook("facebook", fixture, [customer(kind="message", content="", media=[(kind, url)])])


def test_image_with_text():
    """A photo with a caption keeps both."""
    check_webhook(
        "facebook",
        "message__image_with_text",
        [customer(content="Is this one still for sale?", media=[("image", CDN.format("listing.jpg"))])],
    )


def test_sticker_is_one_sticker():
    """A sticker sent both as "image" and "sticker" (Meta's transition until 2026-08-30) is one sticker."""
    (event,) = check_webhook(
        "facebook",
        "message__sticker",
        [customer(media=[("sticker", CDN.format("369239263222822.png"))], extra={"sticker_id": "369239263222822"})],
    )
    assert event.message.media[0].extra["sticker_id"] == "369239263222822"


def test_fallback_link_share():
    """A shared link (fallback attachment without payload) shows its title."""
    check_webhook(
        "facebook",
        "message__fallback",
        [
            customer(
                content="Forge Lake Community – Homes for sale",
                media=[("fallback", "https://forgelake.example/homes")],
            )
        ],
    )


def test_reply_to_a_message():
    """A reply carries the mid it answers."""
    check_webhook(
        "facebook",
        "message__reply",
        [
            customer(
                content="What about this one?", extra={"reply_to": {"mid": "m_page_earlier_1", "is_self_reply": False}}
            )
        ],
    )


def test_message_from_an_ad_keeps_the_referral():
    """A first message from a click-to-Messenger ad carries the ad's referral."""
    (event,) = check_webhook("facebook", "message__ad_referral", [customer(content="Is this home still available?")])
    assert event.message.metadata.extra["referral"]["ad_id"] == "6045246247433"


def test_string_second_timestamp():
    """The newer samples' timestamp, a string of seconds, is read as seconds."""
    check_webhook("facebook", "message__string_timestamp", [customer(content="Hello?", timestamp=T_SECONDS)])


def test_unsent_message():
    """A customer unsending a message is a delete of that mid."""
    check_webhook("facebook", "message__deleted", [customer(kind="delete", target="m_text_1")])


def test_edited_message():
    """An edit names the mid and the new text."""
    check_webhook(
        "facebook",
        "message_edit",
        [customer(kind="edit", target="m_text_1", data={"text": "Is lot 15 available?", "num_edit": 1})],
    )


# --- echoes ---


def test_echo_from_our_app():
    """An echo of our own send: outbound, customer as sender_id, our app id and metadata to match it."""
    check_webhook(
        "facebook",
        "message__echo",
        [
            customer(
                kind="echo",
                direction="outbound",
                content="Yes, lot 14 is available.",
                external_id="m_echo_1",
                thread_id=PSID,
                data={"app_id": APP_ID, "metadata": "chatpad:42"},
            )
        ],
    )


def test_echo_from_the_page_inbox():
    """A person answering in the Page's inbox: an echo with no app id (the pipeline takes over)."""
    check_webhook(
        "facebook",
        "message__echo_page_inbox",
        [customer(kind="echo", content="Hi, this is Maria from the office.", data={"app_id": None, "metadata": None})],
    )


# --- postbacks ---


def test_get_started():
    """The Get Started button is a message flagged get_started with its payload."""
    check_webhook(
        "facebook",
        "postback__get_started",
        [
            customer(
                kind="message",
                content="Get Started",
                external_id="m_pb_start_1",
                extra={"postback": {"title": "Get Started", "payload": "GET_STARTED"}, "get_started": True},
            )
        ],
    )


def test_button_postback():
    """A template button tap: the title as text, the payload in metadata."""
    check_webhook(
        "facebook",
        "postback__button",
        [
            customer(
                content="Schedule a tour",
                extra={"postback": {"title": "Schedule a tour", "payload": "TOUR:lot-14"}, "get_started": False},
            )
        ],
    )


def test_postback_without_mid_gets_a_stable_id():
    """Old postbacks have no mid: the id is derived from sender and time, so a redelivery dedupes."""
    first = check_webhook("facebook", "postback__no_mid", [customer(content="Office hours")])
    again = channel.parse(load_fixture("facebook", "postback__no_mid"))
    assert first[0].message.metadata.external_id == again[0].message.metadata.external_id
    assert first[0].message.metadata.external_id.startswith("postback:")


def test_wrapped_postback():
    """The {field, value} wrapper with a string timestamp (the messaging_postbacks reference sample)."""
    (event,) = check_webhook(
        "facebook",
        "postback__wrapped",
        [customer(kind="message", content="Get Started", external_id="m_pb_wrapped_1", timestamp=T_SECONDS)],
    )
    assert event.message.metadata.extra["postback"]["referral"]["ref"] == "spring-open-house"


# --- receipts, reactions, referrals ---


def test_delivery():
    """Delivery receipts name the mids and the watermark (no timestamp: the watermark is the time)."""
    check_webhook(
        "facebook",
        "delivery",
        [customer(kind="delivery", watermark=T, timestamp=T, data={"mids": ["m_echo_1"]})],
    )


def test_delivery_without_mids():
    """mids may be missing: everything before the watermark is delivered."""
    check_webhook("facebook", "delivery__no_mids", [customer(kind="delivery", watermark=T, data={"mids": []})])


def test_read():
    """Read receipts carry the watermark."""
    check_webhook("facebook", "read", [customer(kind="read", watermark=T)])


def test_reaction():
    """A reaction names the message and the emoji."""
    check_webhook(
        "facebook",
        "reaction__react",
        [customer(kind="reaction", target="m_echo_1", data={"reaction": "love", "emoji": "❤️", "action": "react"})],
    )


def test_unreaction():
    """Removing a reaction is a reaction event with action unreact."""
    check_webhook(
        "facebook",
        "reaction__unreact",
        [customer(kind="reaction", target="m_echo_1", data={"reaction": None, "emoji": None, "action": "unreact"})],
    )


def test_referral_from_an_ad():
    """Opening the thread from an ad is a referral with the ad id."""
    check_webhook(
        "facebook",
        "referral__ad",
        [
            customer(
                kind="referral", data={"ref": "lot14", "ad_id": "6045246247433", "source": "ADS", "type": "OPEN_THREAD"}
            )
        ],
    )


def test_referral_from_a_shortlink():
    """m.me links carry their ref."""
    check_webhook(
        "facebook",
        "referral__shortlink",
        [customer(kind="referral", data={"ref": "spring-open-house", "source": "SHORTLINK", "type": "OPEN_THREAD"})],
    )


def test_standby_message():
    """A message on the standby channel (another app owns the thread) is flagged standby."""
    check_webhook(
        "facebook", "standby__message", [customer(kind="message", content="Can someone call me?", standby=True)]
    )


# --- envelopes ---


def test_two_pages_in_one_post():
    """One POST with several entries from several Pages yields every event, each with its own Page."""
    check_webhook(
        "facebook",
        "batch__two_pages",
        [
            {"kind": "message", "account_id": PAGE, "sender_id": PSID, "content": "Hi Forge Lake"},
            {"kind": "message", "account_id": PAGE2, "sender_id": PSID2, "content": "Hi Clearview"},
            {"kind": "read", "account_id": PAGE, "sender_id": PSID},
        ],
    )


def test_opt_in_is_unsupported():
    """Marketing-message opt-ins are acknowledged and logged, not acted on."""
    (event,) = check_webhook("facebook", "optin__notification_messages", expect_noop=True)
    assert event.data["type"] == "optin"


def test_unknown_event_is_unsupported():
    """An event type we do not know never raises: kind unsupported, logged, answered 200."""
    (event,) = check_webhook("facebook", "unknown__event", expect_noop=True)
    assert event.data["type"] == "game_play"


def test_future_field_is_unsupported():
    """A field Meta adds tomorrow is unsupported too."""
    (event,) = check_webhook("facebook", "unknown__future_field", expect_noop=True)
    assert event.data["type"] == "brand_new_thing"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"object": "instagram", "entry": []}', b'{"object": "page"}', b"\xff\xfe"],
)
def test_anomalous_bodies(body):
    """A body Meta would never send for a Page is an AnomalousPayloadError (400), never a crash."""
    with pytest.raises(AnomalousPayloadError):
        channel.parse(body)


def test_empty_entry_list_is_nothing():
    """An envelope with no entries parses to no events."""
    assert channel.parse(b'{"object": "page", "entry": []}') == []


# --- signature and handshake ---

SECRET = "sandbox-app-secret"


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_signature_over_raw_bytes():
    """The signature is checked over the exact bytes received (escaped unicode included)."""
    body = json.dumps(json.loads(load_fixture("facebook", "message__unicode"))).encode()  # ensure_ascii, like Meta
    assert b"\\u00bf" in body
    channel.verify_request(body, _signed(body), {"META_APP_SECRET": SECRET})
    reserialized = json.dumps(json.loads(body), ensure_ascii=False).encode()
    with pytest.raises(SignatureError):
        channel.verify_request(reserialized, _signed(body), {"META_APP_SECRET": SECRET})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=deadbeef"},
        {"X-Hub-Signature-256": "sha1=0123"},
        {"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), b"{}", hashlib.sha1).hexdigest()},
    ],
)
def test_bad_signatures(headers):
    """Missing, wrong, wrong-algorithm and sha1-only signatures are refused."""
    with pytest.raises(SignatureError):
        channel.verify_request(b"{}", headers, {"META_APP_SECRET": SECRET})


def test_signature_header_is_case_insensitive_and_secret_required():
    """Lower-case header names work; no configured secret refuses everything."""
    channel.verify_request(
        b"{}", {"x-hub-signature-256": _signed(b"{}")["X-Hub-Signature-256"]}, {"META_APP_SECRET": SECRET}
    )
    with pytest.raises(SignatureError):
        channel.verify_request(b"{}", _signed(b"{}"), {"META_APP_SECRET": None})


def test_handshake():
    """GET hub.mode=subscribe with our verify token echoes the challenge; anything else is refused."""
    config = {"META_VERIFY_TOKEN": "sandbox-verify-token"}
    args = {"hub.mode": "subscribe", "hub.verify_token": "sandbox-verify-token", "hub.challenge": "1158201444"}
    assert channel.handshake(args, config) == "1158201444"
    for bad in ({**args, "hub.verify_token": "nope"}, {**args, "hub.mode": "unsubscribe"}, {}):
        with pytest.raises(SignatureError):
            channel.handshake(bad, config)


# --- formatting ---


def _ctx(sender_type: str = "ai", hours_ago: float | None = 1.0, **extra) -> SendContext:
    last = datetime.now(UTC) - timedelta(hours=hours_ago) if hours_ago is not None else None
    account = SimpleNamespace(account_id=PAGE, account_name="Forge Lake Community")
    return SendContext(
        account=account,
        conversation=None,
        recipient_id=PSID,
        sender_type=sender_type,
        last_inbound_at=last,
        extra=extra,
    )


def test_short_text_is_one_message():
    """A short reply is one RESPONSE message to the customer."""
    (part,) = channel.format(OutboundReply(text="Yes, lot 14 is available."), _ctx())
    assert part.text == "Yes, lot 14 is available."
    assert part.payload == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, lot 14 is available."},
    }


def test_long_text_splits_at_sentences():
    """Over 2000 characters, the reply splits at sentence ends, never mid-word, each part ≤ 2000."""
    sentences = [f"Home number {i} has three bedrooms and a covered porch." for i in range(80)]
    text = " ".join(sentences)
    parts = channel.format(OutboundReply(text=text), _ctx())
    assert len(parts) > 1
    assert all(len(p.payload["message"]["text"]) <= 2000 for p in parts)
    assert all(p.text.endswith("porch.") for p in parts)
    assert " ".join(p.text for p in parts) == text


def test_a_single_long_sentence_splits_between_words():
    """A sentence longer than the limit splits between words."""
    text = " ".join(["apartment"] * 500)
    parts = split_text(text, 2000)
    assert all(len(p) <= 2000 for p in parts)
    assert all(word == "apartment" for p in parts for word in p.split())


def test_quick_replies_on_the_last_part():
    """Quick replies (≤ 13, titles clipped to 20) ride on the last part only."""
    replies = [QuickReply(title=f"Option {i} with a long title", payload=f"OPT_{i}") for i in range(15)]
    parts = channel.format(OutboundReply(text="a. " * 900, quick_replies=replies), _ctx())
    assert len(parts) == 2
    assert "quick_replies" not in parts[0].payload["message"]
    quick = parts[-1].payload["message"]["quick_replies"]
    assert len(quick) == 13
    assert all(len(q["title"]) <= 20 and q["content_type"] == "text" for q in quick)
    assert quick[0]["payload"] == "OPT_0"


def test_buttons_become_a_button_template():
    """Buttons make the last part a button template with ≤ 3 buttons and text ≤ 640."""
    buttons = [
        Button(type="web_url", title="Book a tour", payload="https://book.example/forge"),
        Button(type="postback", title="Talk to a person", payload="HANDOFF"),
        Button(type="phone_number", title="Call the office", payload="+19365550141"),
        Button(type="postback", title="Fourth", payload="X"),
    ]
    text = "Lot 14 is a 3BR/2BA 2019 Clayton. " * 30  # ~1000 chars: more than a template holds
    parts = channel.format(OutboundReply(text=text, buttons=buttons), _ctx())
    template = parts[-1].payload["message"]["attachment"]["payload"]
    assert template["template_type"] == "button"
    assert len(template["text"]) <= 640
    assert [b["type"] for b in template["buttons"]] == ["web_url", "postback", "phone_number"]
    assert template["buttons"][0]["url"] == "https://book.example/forge"
    assert " ".join(p.text for p in parts) == text.strip()


def test_media_by_url():
    """Images and files go as attachments by URL after the text, quick replies on the very last part."""
    reply = OutboundReply(
        text="Here it is.",
        media=[
            MessageMedia(type="image", url="https://cdn.example/lot14.jpg"),
            MessageMedia(type="pdf", url="https://cdn.example/a.pdf"),
        ],
        quick_replies=[QuickReply(title="Book a tour", payload="BOOK")],
    )
    parts = channel.format(reply, _ctx())
    assert [p.payload["message"].get("attachment", {}).get("type") for p in parts] == [None, "image", "file"]
    assert parts[1].payload["message"]["attachment"]["payload"] == {
        "url": "https://cdn.example/lot14.jpg",
        "is_reusable": True,
    }
    assert "quick_replies" in parts[2].payload["message"]


def test_human_reply_after_24h_is_tagged_human_agent():
    """A person's reply 30 h after the customer wrote goes as MESSAGE_TAG + HUMAN_AGENT."""
    (part,) = channel.format(OutboundReply(text="Sorry for the wait!", sender_type="human"), _ctx("human", 30))
    assert part.payload["messaging_type"] == "MESSAGE_TAG" and part.payload["tag"] == "HUMAN_AGENT"
    (part,) = channel.format(OutboundReply(text="Quick answer"), _ctx("human", 2))
    assert part.payload["messaging_type"] == "RESPONSE" and "tag" not in part.payload


@pytest.mark.parametrize(
    ("sender", "hours", "reason"),
    [
        ("ai", 1, None),
        ("ai", 23.9, None),
        ("ai", 25, WINDOW_CLOSED_AI),
        ("system", 25, WINDOW_CLOSED_AI),
        ("human", 25, None),
        ("human", 24 * 6.9, None),
        ("human", 24 * 7.1, WINDOW_CLOSED_HUMAN),
    ],
)
def test_window_rules(sender, hours, reason):
    """The AI answers within 24 h; people within 7 days (HUMAN_AGENT); otherwise a clear reason."""
    assert channel.check_window(_ctx(sender, hours)) == reason


def test_window_closed_when_the_customer_never_wrote():
    """Messenger never lets a Page start a conversation."""
    assert "written" in channel.check_window(_ctx("human", None))


@pytest.mark.parametrize(
    ("channel", "fixture", "receipts"),
    [
        ("facebook", "delivery", True),
        ("facebook", "delivery__no_mids", True),
        ("facebook", "read", True),
        ("facebook", "message__echo", True),  # ours: the chatpad:<id> metadata and our app id
        ("facebook", "message__echo_page_inbox", False),  # a person replying from the Page's inbox: may take over
        ("facebook", "message__text", False),
        ("facebook", "postback__get_started", False),
        ("facebook", "standby__message", False),
        ("facebook", "batch__two_pages", False),
        ("facebook", "unknown__event", False),
        ("instagram", "seen", True),
        ("instagram", "message__echo_app_id", True),  # our app id on it
        ("instagram", "message__echo", False),  # no mark of ours: it could be a person in the Instagram app
        ("instagram", "message__text", False),
    ],
)
def test_deliveries_of_receipts_only_are_told_apart(channel, fixture, receipts):
    """Receipts (deliveries, reads, echoes of our own sends) go to the inbound workers' receipts lane, behind
    customers' messages; anything that may need an answer, or that we cannot be sure of, does not."""
    config = {"META_APP_ID": APP_ID}
    assert get_channel(channel).receipts_only(load_fixture(channel, fixture), config) is receipts


def test_a_delivery_mixing_receipts_and_a_message_is_not_receipts_only():
    body = json.loads(load_fixture("facebook", "read"))
    text = json.loads(load_fixture("facebook", "message__text"))
    body["entry"][0]["messaging"].append(text["entry"][0]["messaging"][0])
    adapter = get_channel("facebook")
    assert adapter.receipts_only(json.dumps(body).encode(), {"META_APP_ID": APP_ID}) is False
    assert adapter.receipts_only(b'{"object": "page", "entry": []}', {}) is False  # nothing in it at all
    assert adapter.receipts_only(b"not json", {}) is False
