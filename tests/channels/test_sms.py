"""The SMS adapter and its Twilio provider: every webhook shape (tests/fixtures/sms/, raw form bodies as Twilio posts
them), X-Twilio-Signature against the official helper's own test vectors, segment counting, opt-out keywords,
numbered choices and the 1,600-character split. Pure: no database, no network."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from chatpad.channels import get_channel
from chatpad.channels.base import SendContext
from chatpad.channels.errors import AnomalousPayloadError, RecipientOptedOutError, TransientSendError
from chatpad.channels.phone import PhoneNumberError, display, to_e164, wa_digits
from chatpad.channels.sms import keywords
from chatpad.channels.sms.adapter import signed_urls
from chatpad.channels.sms.providers.twilio import EMPTY_TWIML, TwilioProvider, classify
from chatpad.channels.sms.segments import count_segments
from chatpad.messages import Button, MessageMedia, OutboundReply, QuickReply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sms"
ACCOUNT = "ACb2a3c4d5e6f70819a2b3c4d5e6f70819"
OUR_NUMBER = "+19365550200"
CUSTOMER = "+15125550123"

channel = get_channel("sms")
twilio = TwilioProvider()


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.form").read_bytes()


def parse_one(name: str):
    events = channel.parse(body(name))
    assert len(events) == 1
    return events[0]


# --- inbound messages ---


def test_text_message_routes_by_the_number_it_was_sent_to():
    """A customer's text: the account is the To number, the sender the From number (both E.164, proven by Twilio),
    the id the MessageSid."""
    event = parse_one("message__text")
    assert (event.kind, event.account_id, event.sender_id) == ("message", OUR_NUMBER, CUSTOMER)
    assert event.message.content == "Hi! Is lot 14 still available?"
    assert event.message.metadata.external_id == "SM5f0c4c64f1b7a6e2b1c0d9e8f7a6b5c4"
    assert event.data == {"verified_phone": CUSTOMER}
    assert event.message.metadata.extra["from_place"] == "AUSTIN, TX"


def test_unicode_text_and_an_international_sender():
    event = parse_one("message__unicode")
    assert event.message.content == "¿Tienen casas de 3 recámaras? 🏡"
    assert event.sender_id == "+528112345678"


def test_mms_keeps_every_media_url_marked_for_download():
    """Every MediaUrlN, not only the first (Chatwoot #11295), each to be fetched with the account's credentials."""
    event = parse_one("mms__two_images")
    assert [(m.type, m.mime_type) for m in event.message.media] == [("image", "image/jpeg"), ("image", "image/png")]
    assert all(m.extra["download"] and m.url.startswith("https://api.twilio.com/") for m in event.message.media)
    assert event.message.content == "Here is the leak under the sink"


def test_a_number_in_a_messaging_service_pool_routes_by_to():
    """The pool case (A2P 10DLC): the webhook carries MessagingServiceSid, and the message still routes by To."""
    event = parse_one("pool__messaging_service")
    assert event.account_id == "+12545550201"
    assert event.message.metadata.extra["messaging_service_sid"] == "MG1f2e3d4c5b6a79881f2e3d4c5b6a7988"


def test_whatsapp_through_twilio_is_not_sms():
    """From=whatsapp:+… is Twilio's WhatsApp, not this channel: acknowledged, not ingested."""
    assert parse_one("unknown__twilio_whatsapp").kind == "unsupported"


# --- keywords ---


@pytest.mark.parametrize(
    ("name", "keyword"),
    [("keyword__stop", "out"), ("keyword__unstop", "in"), ("keyword__help", "help"), ("keyword__stop_sentence", None)],
)
def test_keywords_only_when_the_message_is_the_word(name, keyword):
    """STOP (any case, spaces around) opts out; "STOP PLEASE I moved" is an ordinary message, as at Twilio."""
    event = parse_one(name)
    assert event.kind == "message"
    assert event.data.get("keyword") == keyword


def test_every_carrier_keyword():
    for word in ("STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT", "REVOKE", "OPTOUT"):
        assert keywords.classify(f"  {word} ") == "out"
    for word in ("START", "UNSTOP", "yes"):
        assert keywords.classify(word) == "in"
    assert keywords.classify("HELP") == keywords.classify("info") == "help"
    assert keywords.classify("stop it") is None and keywords.classify("") is None


# --- status callbacks ---


def test_delivered_status_callback():
    """A status callback is about our number (From) and the customer (To), and names the message it reports on."""
    event = parse_one("status__delivered")
    assert (event.kind, event.account_id, event.sender_id) == ("status", OUR_NUMBER, CUSTOMER)
    assert event.target_external_id == "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert event.data == {"status": "delivered", "platform_status": "delivered"}
    assert channel.receipts_only(body("status__delivered"), {})
    assert not channel.receipts_only(body("message__text"), {})


def test_undelivered_carries_the_reason():
    event = parse_one("status__undelivered")
    assert event.data["status"] == "failed"
    assert event.data["error"] == "The customer's phone is unreachable (off or out of coverage) (Twilio error 30003)"
    assert event.data["opted_out"] is False


def test_failed_with_21610_means_opted_out():
    assert parse_one("status__failed_opted_out").data["opted_out"] is True


def test_queued_records_nothing():
    """queued/sending/accepted say nothing an accepted send did not already."""
    assert parse_one("status__queued").data["status"] is None


def test_bodies_twilio_would_never_send_are_refused():
    for bad in (b"", b"not=twilio", b"AccountSid=AC1&From=%2B1", b"\xff\xfe"):
        with pytest.raises(AnomalousPayloadError):
            channel.validate_envelope(bad)


def test_the_webhook_answers_with_empty_twiml():
    assert channel.webhook_ack(body("message__text")) == ("text/xml", EMPTY_TWIML)
    assert EMPTY_TWIML == b'<?xml version="1.0" encoding="UTF-8"?><Response />'


# --- X-Twilio-Signature (tests/unit/test_request_validator.py of twilio-python) ---

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_BODY = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212"


def test_signature_vector():
    """The helper's vector: token 12345 over the URL and sorted parameters."""
    headers = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}
    assert twilio.verify(VECTOR_BODY, headers, [VECTOR_URL], ["12345"])
    assert not twilio.verify(VECTOR_BODY, headers, [VECTOR_URL], ["54321"])
    assert not twilio.verify(VECTOR_BODY + b"&Extra=1", headers, [VECTOR_URL], ["12345"])
    assert not twilio.verify(VECTOR_BODY, {}, [VECTOR_URL], ["12345"])


def test_signature_vector_with_the_port():
    """Twilio may sign the URL with :443 in it; the same request validates either way."""
    headers = {"X-Twilio-Signature": "kvajT1Ptam85bY51eRf/AJRuM3w="}
    assert twilio.verify(VECTOR_BODY, headers, ["https://mycompany.com:443/myapp.php?foo=1&bar=2"], ["12345"])
    assert twilio.verify(VECTOR_BODY, headers, [VECTOR_URL], ["12345"])


def test_the_url_twilio_called_behind_a_proxy():
    """Behind a TLS-terminating proxy the request arrives as http://internal:8000; Twilio signed the public https
    URL, which PUBLIC_URL and X-Forwarded-Proto/Host give back."""
    config = {"PUBLIC_URL": "https://chat.example.com"}
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example.com"}
    urls = signed_urls(config, "http://10.0.0.5:8000/api/webhooks/sms", headers)
    assert urls[0] == "https://chat.example.com/api/webhooks/sms"
    assert "https://chat.example.com/api/webhooks/sms" in urls and "http://10.0.0.5:8000/api/webhooks/sms" in urls
    assert signed_urls({}, "http://10.0.0.5:8000/api/webhooks/sms?x=1", {"X-Forwarded-Proto": "https"})[-1] == (
        "https://10.0.0.5:8000/api/webhooks/sms?x=1"
    )


# --- segments ---


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("{" * 80, "GSM-7", 1),  # extension characters take two septets
        ("{" * 81, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),  # é is in the GSM-7 basic table
        ("ç" * 70, "UCS-2", 1),  # ç is not (only Ç is)
        ("a" * 69 + "😀", "UCS-2", 2),  # an emoji is two UTF-16 units: 71 > 70
        ("😀" * 67, "UCS-2", 3),  # 134 units / 67 per part
    ],
)
def test_segments(text, encoding, segments):
    count = count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)


# --- phone numbers ---


def test_e164():
    assert to_e164("(936) 555-0141") == "+19365550141"
    assert to_e164("whatsapp:+15125550123") == "+15125550123"
    assert to_e164("16505551234") == "+16505551234"  # a wa_id: digits without the +
    assert wa_digits("+16505551234") == "16505551234"
    assert display("+19365550141") == "+1 936-555-0141"
    with pytest.raises(PhoneNumberError):
        to_e164("call me")
    with pytest.raises(PhoneNumberError):
        to_e164("12")


# --- outbound ---


def ctx(opted_out: str | None = None) -> SendContext:
    account = SimpleNamespace(account_id=OUR_NUMBER, meta={"provider": "twilio"})
    return SendContext(account=account, conversation=None, recipient_id=CUSTOMER, recipient_opted_out=opted_out)


def test_choices_become_numbered_lines_and_a_number_picks_one():
    reply = OutboundReply(
        text="Happy to help!",
        quick_replies=[QuickReply("Book a tour", "QR_TOUR"), QuickReply("Office hours", "QR_HOURS")],
        buttons=[Button("web_url", "Apply online", "https://apply.example.com")],
    )
    [part] = channel.format(reply, ctx())
    assert part.text == (
        "Happy to help!\nApply online: https://apply.example.com\n\n"
        "Reply with a number:\n1. Book a tour\n2. Office hours"
    )
    offered = part.payload["choices"]
    assert channel.pick_choice("2", offered)["payload"] == "QR_HOURS"
    assert channel.pick_choice(" #1. ", offered)["title"] == "Book a tour"
    assert channel.pick_choice("3", offered) is None and channel.pick_choice("2 please", offered) is None
    assert part.payload["segments"] == count_segments(part.text).segments


def test_long_replies_split_under_1600_and_choices_stay_whole():
    text = " ".join(f"Sentence number {i} is here." for i in range(120))
    parts = channel.format(OutboundReply(text=text, quick_replies=[QuickReply("Yes", "Y")]), ctx())
    assert len(parts) > 1 and all(len(p.text) <= 1600 for p in parts)
    assert parts[-1].text.endswith("Reply with a number:\n1. Yes")
    assert "choices" in parts[-1].payload and all("choices" not in p.payload for p in parts[:-1])


def test_media_goes_with_the_last_part_by_public_url_only():
    reply = OutboundReply(
        text="The floor plan:",
        media=[MessageMedia("image", url="https://x.test/plan.png"), MessageMedia("image", url="javascript:alert(1)")],
    )
    [part] = channel.format(reply, ctx())
    assert part.payload["MediaUrl"] == ["https://x.test/plan.png"]


def test_an_opted_out_customer_is_not_texted():
    assert channel.check_window(ctx()) is None
    assert channel.check_window(ctx("They texted STOP")) == "They texted STOP"


def test_twilio_errors_are_classified_by_code():
    assert isinstance(
        classify(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}), RecipientOptedOutError
    )
    busy = classify(429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "3"})
    assert isinstance(busy, TransientSendError) and busy.retry_after == 3.0
    assert isinstance(classify(400, {"code": 21611}), TransientSendError)
    invalid = classify(400, {"code": 21211, "message": "The 'To' number 5551234567 is not a valid phone number."})
    assert invalid.reason == "The customer's number is not a valid phone number (Twilio error 21211)"
    assert isinstance(classify(503, None), TransientSendError)
