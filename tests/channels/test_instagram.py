"""The Instagram adapter: every webhook event type from Meta's documented shapes (tests/fixtures/instagram/), the
object check, story metadata, and replies shaped to Instagram's 1000-byte limit."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from chatpad.channels import get_channel
from chatpad.channels.base import SendContext
from chatpad.channels.errors import AnomalousPayloadError, SignatureError
from chatpad.channels.instagram.adapter import (
    NO_REPLY_MENTION,
    NO_REPLY_UNSUPPORTED,
    WINDOW_CLOSED_AI,
    WINDOW_CLOSED_HUMAN,
    WINDOW_NEVER_WROTE,
)
from chatpad.channels.instagram.formatting import split_text, utf8_len
from chatpad.channels.instagram.stories import link_expiry, story_expired, story_of
from chatpad.messages import Button, MessageMedia, OutboundReply, QuickReply

from .helpers import check_webhook, load_fixture

IG = "17841400000000001"
IG2 = "17841400000000002"
IGSID = "1254459154682919"
IGSID2 = "1254459154689999"
T = "2026-01-01T00:00:00.123000+00:00"
# oe=69570E00 in the fixtures' CDN links: the signed expiry, 2026-01-02 00:14:56 UTC.
OE_EXPIRY = "2026-01-02T00:14:56+00:00"
MENTION_URL = (
    "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17900000000000001&signature=AbzSandbox&oe=69570E00"
)
GRAPHEMES = regex.compile(r"\X")

channel = get_channel("instagram")


def customer(**fields):
    """Expected fields of an event from the customer to the Instagram account."""
    return {"account_id": IG, "sender_id": IGSID, "standby": False, "timestamp": T, **fields}


def cdn(asset: str) -> str:
    return f"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={asset}"


# --- messages ---


def test_text_message():
    """A DM arrives as an inbound message with its mid, the customer's IGSID and the IG account id."""
    check_webhook(
        "instagram",
        "message__text",
        [
            customer(
                kind="message",
                content="Hi! Is lot 14 still available?",
                external_id="aWdfZAG1_text",
                direction="inbound",
                thread_id=IGSID,
                media=[],
                extra={},
                data={},
            )
        ],
    )


def test_unicode_text_message():
    """Emoji, Cyrillic, Japanese and accents come through unchanged."""
    (event,) = check_webhook("instagram", "message__unicode", [customer(kind="message")])
    assert event.message.content == "Привет 👋🏽 — 空き区画はありますか？ 👨‍👩‍👧 café"


def test_quick_reply_tap():
    """A quick-reply tap is a message with the button's title as text and its payload kept."""
    check_webhook(
        "instagram",
        "message__quick_reply",
        [customer(kind="message", content="Book a tour", extra={"quick_reply": {"payload": "BOOK_TOUR"}})],
    )


@pytest.mark.parametrize(
    ("fixture", "kind", "asset"),
    [
        ("message__image", "image", "1&signature=img"),
        ("message__video", "video", "2&signature=vid"),
        ("message__audio", "audio", "3&signature=aud"),
        ("message__file", "file", "4&signature=pdf"),
        ("message__share", "share", "5&signature=share"),
        ("message__ig_reel", "ig_reel", "6&signature=reel"),
        ("message__ig_post", "ig_post", "7&signature=post"),
        ("message__sticker", "sticker", "8&signature=stk"),
    ],
)
def test_attachments_are_links(fixture, kind, asset):
    """Every attachment kind is kept as its type and CDN link (never downloaded), and the AI answers it."""
    (event,) = check_webhook(
        "instagram", fixture, [customer(kind="message", content="", media=[(kind, cdn(asset))], data={})]
    )
    assert event.message.metadata.external_id == f"aWdfZAG1_{kind}"


def test_reel_and_post_keep_their_ids_and_titles():
    """A shared reel or post keeps its title and media id beside the link, for the inbox."""
    (reel,) = channel.parse(load_fixture("instagram", "message__ig_reel"))
    assert reel.message.media[0].extra == {"title": "Sunset at the lake", "reel_video_id": "18000000000000006"}
    (post,) = channel.parse(load_fixture("instagram", "message__ig_post"))
    assert post.message.media[0].extra == {"title": "Our new clubhouse", "ig_post_media_id": "18000000000000007"}
    (sticker,) = channel.parse(load_fixture("instagram", "message__sticker"))
    assert sticker.message.media[0].extra["sticker_id"] == "369239263222822"


def test_reply_to_a_message():
    """A reply to an earlier message keeps the mid it replies to."""
    check_webhook(
        "instagram",
        "message__reply",
        [customer(kind="message", extra={"reply_to": {"mid": "aWdfZAG1_earlier", "is_self_reply": False}})],
    )


def test_unsupported_message_is_kept_and_not_answered_by_the_ai():
    """A message Instagram cannot pass on (GIF, some stickers) is stored and flagged; the AI does not guess at it."""
    check_webhook(
        "instagram",
        "message__unsupported",
        [
            customer(
                kind="message",
                content="",
                media=[],
                extra={"is_unsupported": True},
                data={"no_reply_reason": NO_REPLY_UNSUPPORTED},
            )
        ],
    )


def test_unsend():
    """An unsent message (is_deleted) is a delete of that mid."""
    check_webhook("instagram", "message__deleted", [customer(kind="delete", target="aWdfZAG1_text")])


def test_edit():
    """An edit carries the mid and the new text."""
    check_webhook(
        "instagram",
        "message_edit",
        [customer(kind="edit", target="aWdfZAG1_text", data={"text": "Hi! Is lot 15 still available?", "num_edit": 1})],
    )


def test_echo_of_a_business_message():
    """Messages the account sends come back as echoes (sender = the IG account) addressed to the customer."""
    check_webhook(
        "instagram",
        "message__echo",
        [
            {
                "kind": "echo",
                "account_id": IG,
                "sender_id": IGSID,
                "direction": "outbound",
                "content": "Yes, lot 14 is available.",
                "external_id": "aWdfZAG1_echo",
                "data": {"app_id": None, "metadata": None},
            }
        ],
    )


def test_echo_with_an_app_id():
    """When Meta names the sending app on an echo, it is kept (the pipeline recognises its own sends by it)."""
    (event,) = check_webhook("instagram", "message__echo_app_id", [{"kind": "echo", "sender_id": IGSID}])
    assert event.data["app_id"] == "555000111222333"


# --- stories ---


def test_story_mention():
    """A story mention is a message whose media is the story's CDN link; its expiry comes from the signed link; the
    AI leaves it to the thank-you."""
    (event,) = check_webhook(
        "instagram",
        "story_mention",
        [
            customer(
                kind="message",
                content="",
                media=[("story_mention", MENTION_URL)],
                extra={"story_mention": {"url": MENTION_URL, "expires_at": OE_EXPIRY}},
                data={"no_reply_reason": NO_REPLY_MENTION},
            )
        ],
    )
    assert event.message.media[0].extra["expires_at"] == OE_EXPIRY


def test_story_mention_without_a_signed_expiry_lives_24_hours():
    """A link without `oe` is taken to live 24 hours from the mention."""
    (event,) = check_webhook("instagram", "story_mention__no_expiry", [customer(kind="message")])
    assert event.message.metadata.extra["story_mention"]["expires_at"] == "2026-01-02T00:00:00.123000+00:00"


def test_story_mention_by_the_business_is_not_a_reply():
    """The business mentioning a customer in its own story comes back as an echo; it is acknowledged, not taken for
    a person answering in the Instagram app."""
    (event,) = check_webhook("instagram", "story_mention__echo", expect_noop=True)
    assert event.data == {"type": "story_mention_echo", "mid": "aWdfZAG1_mention_echo"}


def test_story_reply_knows_the_story():
    """A reply to the business's story carries the story's id, link and expiry for the AI and the inbox."""
    url = (
        "https://scontent.cdninstagram.com/v/t51.29350-15/story.jpg?stp=dst-jpg&_nc_ht=scontent.cdninstagram.com"
        "&oh=00_Sbx&oe=69570E00"
    )
    check_webhook(
        "instagram",
        "story_reply",
        [
            customer(
                kind="message",
                content="Is this home still for sale?",
                extra={"reply_to": {"story": {"id": "17900000000000099", "url": url, "expires_at": OE_EXPIRY}}},
                data={},
            )
        ],
    )


def test_story_helpers_say_when_a_link_is_dead():
    """story_of/story_expired read a stored message's metadata: live before the link's expiry, expired after."""
    (event,) = channel.parse(load_fixture("instagram", "story_mention"))
    meta = event.message.metadata.extra
    story = story_of(meta)
    assert story.kind == "mention" and story.url == MENTION_URL and story.label.startswith("Mentioned you")
    assert not story.expired(datetime(2026, 1, 1, 12, tzinfo=UTC))
    assert story.expired(datetime(2026, 1, 2, 1, tzinfo=UTC))
    assert story_expired(SimpleNamespace(meta=meta), datetime(2026, 1, 3, tzinfo=UTC))
    assert story_of({"text": "no story"}) is None and not story_expired({})
    (reply,) = channel.parse(load_fixture("instagram", "story_reply"))
    assert story_of(reply.message.metadata.extra).kind == "reply"
    assert link_expiry("https://cdn.example/x?oe=zz", None) is None


# --- other events ---


def test_postbacks():
    """Ice-breaker and template-button taps are messages with the button's title and payload."""
    check_webhook(
        "instagram",
        "postback__icebreaker",
        [customer(kind="message", content="What are your office hours?", external_id="aWdfZAG1_pb")],
    )
    (event,) = check_webhook("instagram", "postback__generic_template", [customer(kind="message")])
    assert event.message.metadata.extra["postback"] == {"title": "Schedule a tour", "payload": "TOUR_LOT_14"}


def test_seen():
    """messaging_seen names the message the customer saw; with no deliveries on Instagram, everything sent before
    that moment counts as seen (a watermark at the event's time)."""
    check_webhook("instagram", "seen", [customer(kind="read", target=None, watermark=T, data={"mid": "aWdfZAG1_echo"})])


def test_reactions():
    """A reaction and its removal on one of the business's messages."""
    check_webhook(
        "instagram",
        "reaction__react",
        [customer(kind="reaction", target="aWdfZAG1_echo", data={"reaction": "love", "emoji": "❤️", "action": "react"})],
    )
    (event,) = check_webhook("instagram", "reaction__unreact", [customer(kind="reaction")])
    assert event.data["action"] == "unreact"


def test_referral():
    """An ig.me link with a ref opens the thread as a referral."""
    check_webhook(
        "instagram",
        "referral__igme",
        [customer(kind="referral", data={"ref": "spring-open-house", "source": "IGME", "type": "OPEN_THREAD"})],
    )


def test_standby_message():
    """A message on the standby channel (another app owns the thread) is marked standby."""
    check_webhook("instagram", "standby__message", [{**customer(kind="message"), "standby": True}])


def test_two_accounts_in_one_post():
    """One POST with entries of two IG accounts yields an event routed to each."""
    first, second = check_webhook(
        "instagram",
        "batch__two_accounts",
        [customer(kind="message", content="Hi Forge Lake"), {"account_id": IG2, "sender_id": IGSID2}],
    )
    assert second.message.content == "Hi Clearview"


def test_unknown_event_is_unsupported():
    """An item we do not handle is acknowledged as unsupported, never an error."""
    (event,) = check_webhook("instagram", "unknown__event", expect_noop=True)
    assert event.data["type"] == "optin"


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"object": "page", "entry": []}', b'{"object": "instagram"}', b"\xff"]
)
def test_anomalous_bodies(body):
    """A body Meta would never send for Instagram (a Page webhook included) is refused, in the request and the job."""
    with pytest.raises(AnomalousPayloadError):
        channel.validate_envelope(body)
    with pytest.raises(AnomalousPayloadError):
        channel.parse(body)


def test_signature_and_handshake_are_meta_s():
    """The X-Hub-Signature-256 check and the GET handshake are Meta's, as on Messenger."""
    body = json.dumps(json.loads(load_fixture("instagram", "message__unicode"))).encode()
    secret = "sandbox-app-secret"
    good = {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    channel.verify_request(body, good, {"META_APP_SECRET": secret})
    with pytest.raises(SignatureError):
        channel.verify_request(body + b" ", good, {"META_APP_SECRET": secret})
    args = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "42"}
    assert channel.handshake(args, {"META_VERIFY_TOKEN": "tok"}) == "42"


# --- formatting ---


def _ctx(sender_type: str = "ai", hours_ago: float | None = 1.0) -> SendContext:
    last = datetime.now(UTC) - timedelta(hours=hours_ago) if hours_ago is not None else None
    account = SimpleNamespace(account_id=IG, account_name="@forgelakemhp", meta={"page_id": "100200300400500"})
    return SendContext(
        account=account, conversation=None, recipient_id=IGSID, sender_type=sender_type, last_inbound_at=last
    )


def test_short_text_is_one_response():
    """A short reply is one RESPONSE message to the IGSID, with no Messenger-only metadata."""
    (part,) = channel.format(OutboundReply(text="Yes, lot 14 is available."), _ctx())
    assert part.payload == {
        "recipient": {"id": IGSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, lot 14 is available."},
    }


def _assert_clean_split(text: str, parts: list[str]) -> None:
    assert all(utf8_len(p) <= 1000 for p in parts), [utf8_len(p) for p in parts]
    assert "".join("".join(parts).split()) == "".join(text.split())  # nothing lost but whitespace at the cuts
    # No grapheme cluster (emoji with modifiers, ZWJ sequences, flags, accents) is torn across parts.
    whole = GRAPHEMES.findall("".join(text.split()))
    joined = [g for p in parts for g in GRAPHEMES.findall("".join(p.split()))]
    assert joined == whole


@pytest.mark.parametrize(
    ("unit", "bytes_each"),
    [("👍🏽", 8), ("👨‍👩‍👧‍👦", 25), ("🇫🇷", 8), ("é", 3), ("Привет", 12), ("空き区画", 12), ("a", 1)],
)
def test_splits_count_bytes_not_characters(unit, bytes_each):
    """Texts are split by UTF-8 bytes: 500 thumbs-up with skin tone (500 characters) are several messages."""
    unit = unicodedata.normalize("NFD", unit) if unit == "é" else unit
    assert utf8_len(unit) == bytes_each
    text = " ".join([unit] * (3000 // bytes_each + 1))
    parts = split_text(text)
    assert len(parts) >= 3
    _assert_clean_split(text, parts)


def test_a_long_word_of_emoji_is_cut_between_graphemes_only():
    """A 'word' of 300 family emoji (no spaces) is cut between whole ZWJ sequences, never inside one."""
    text = "👨‍👩‍👧‍👦" * 300
    parts = split_text(text)
    assert len(parts) == 8  # 25 bytes each, 40 per part
    _assert_clean_split(text, parts)


def test_sentences_stay_whole():
    """Splits fall at sentence ends when sentences fit, including Japanese full stops without spaces."""
    sentence = "Lot 14 has three bedrooms and a porch facing the lake. "
    text = sentence * 40
    parts = split_text(text)
    assert all(p.endswith("lake.") for p in parts)
    japanese = "湖に面した三寝室の家です。" * 60
    parts = split_text(japanese)
    assert all(p.endswith("。") for p in parts)
    _assert_clean_split(japanese, parts)


def test_one_pathological_grapheme_is_cut_between_code_points():
    """A base letter with 800 combining marks (1602 bytes, one grapheme) is cut between code points."""
    text = "a" + "\u0301" * 800
    parts = split_text(text)
    assert all(utf8_len(p) <= 1000 for p in parts) and "".join(parts) == text


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Hi", "lot", "14!", "👍🏽", "👨‍👩‍👧", "🇯🇵", "é", "Привет.", "区画。", "ok?", "\n\n", " "]),
        max_size=900,
    )
)
def test_split_property(tokens):
    """Any mix of scripts and emoji: parts under 1000 bytes, nothing lost but whitespace, no grapheme torn."""
    text = " ".join(tokens)
    parts = split_text(text)
    if not text.strip():
        assert parts == []
        return
    _assert_clean_split(text, parts)


def test_quick_replies_ride_on_the_last_message():
    """Quick replies go on the last text part, after any media."""
    reply = OutboundReply(
        text="Here is lot 14.",
        media=[MessageMedia(type="image", url="https://example.com/lot14.jpg")],
        quick_replies=[QuickReply("Book a tour", "BOOK"), QuickReply("A very long quick reply title", "LONG")],
    )
    image, text = channel.format(reply, _ctx())
    assert image.payload["message"] == {
        "attachment": {"type": "image", "payload": {"url": "https://example.com/lot14.jpg"}}
    }
    assert text.payload["message"]["quick_replies"] == [
        {"content_type": "text", "title": "Book a tour", "payload": "BOOK"},
        {"content_type": "text", "title": "A very long quick r…", "payload": "LONG"},
    ]


def test_buttons_become_lines_and_quick_replies():
    """Instagram has no button template: links become text lines, postback buttons quick replies."""
    reply = OutboundReply(
        text="Want to see it?",
        buttons=[
            Button("web_url", "Photos", "https://example.com/lot14"),
            Button("phone_number", "Call us", "+15125550100"),
            Button("postback", "Book a tour", "BOOK"),
        ],
    )
    (part,) = channel.format(reply, _ctx())
    assert part.payload["message"]["text"] == (
        "Want to see it?\n\nPhotos: https://example.com/lot14\nCall us: +15125550100"
    )
    assert part.payload["message"]["quick_replies"][0]["payload"] == "BOOK"


def test_files_go_as_links():
    """A PDF cannot be sent as an Instagram attachment: its link is added to the text."""
    reply = OutboundReply(text="The lease:", media=[MessageMedia(type="file", url="https://example.com/lease.pdf")])
    (part,) = channel.format(reply, _ctx())
    assert part.payload["message"]["text"] == "The lease:\n\nhttps://example.com/lease.pdf"


def test_human_reply_after_24h_is_tagged_human_agent():
    """A person's reply between 24 h and 7 days goes out with the HUMAN_AGENT tag; the AI's would not go at all."""
    (part,) = channel.format(OutboundReply(text="Sorry for the wait!", sender_type="human"), _ctx("human", 30))
    assert part.payload["messaging_type"] == "MESSAGE_TAG" and part.payload["tag"] == "HUMAN_AGENT"


@pytest.mark.parametrize(
    ("sender", "hours", "reason"),
    [
        ("ai", 1, None),
        ("ai", 25, WINDOW_CLOSED_AI),
        ("human", 25, None),
        ("human", 24 * 7 + 1, WINDOW_CLOSED_HUMAN),
        ("system", 23, None),
        ("ai", None, WINDOW_NEVER_WROTE),
    ],
)
def test_window_rules(sender, hours, reason):
    """24 hours for the AI, 7 days for a person, never to someone who has not written."""
    assert channel.check_window(_ctx(sender, hours)) == reason
