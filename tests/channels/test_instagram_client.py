"""The Instagram client against the sandbox over real HTTP: the Page-linked send path, Instagram's byte limit,
windows and error codes as ChatPad classifies them, profiles, story lookups and story links that expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from chatpad.channels import get_channel
from chatpad.channels.base import SendContext
from chatpad.channels.errors import AuthExpiredError, PermanentSendError, TransientSendError, WindowClosedError
from chatpad.channels.instagram import client
from chatpad.channels.instagram.formatting import utf8_len
from chatpad.messages import MessageMedia, OutboundReply, QuickReply

channel = get_channel("instagram")


@pytest.fixture
def account(ig_account):
    return ig_account.ig


@pytest.fixture
def jane(ig_sandbox):
    """Jane Doe DMed the account a minute ago; her IGSID on it."""
    return ig_sandbox.simulate("Is lot 14 available?", age_seconds=60)["igsid"]


def ctx(account, igsid, sender_type="ai", hours_ago=0.02) -> SendContext:
    return SendContext(
        account=account,
        conversation=None,
        recipient_id=igsid,
        sender_type=sender_type,
        last_inbound_at=datetime.now(UTC) - timedelta(hours=hours_ago),
    )


def send_reply(reply: OutboundReply, context: SendContext) -> list[str]:
    return [channel.send(part.payload, context) for part in channel.format(reply, context)]


def test_send_goes_to_the_linked_page_with_its_token(account, jane, ig_sandbox, app):
    """A reply is POSTed to /vNN.N/<PAGE_ID>/messages with the Page token (Bearer, with appsecret_proof) and the
    customer's IGSID as recipient; the customer sees it in their thread."""
    with app.app_context():
        (mid,) = send_reply(OutboundReply(text="Yes, lot 14 is available!"), ctx(account, jane))
    (request,) = ig_sandbox.sends()
    assert request["path"] == f"{ig_sandbox.page_id()}/messages" and request["version"] == "v25.0"
    assert request["token_source"] == "bearer" and request["query"]["appsecret_proof"]
    assert request["json"] == {
        "recipient": {"id": jane},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, lot 14 is available!"},
    }
    assert request["status"] == 200 and request["response"]["message_id"] == mid
    page_messages = [m for m in ig_sandbox.thread(jane)["messages"] if m["sender"] == "page"]
    assert [m["text"] for m in page_messages] == ["Yes, lot 14 is available!"]


def test_long_emoji_reply_arrives_whole_in_byte_sized_parts(account, jane, ig_sandbox, app):
    """A reply of 700 characters but 2800+ bytes (emoji, Cyrillic) is accepted by Instagram as several messages."""
    text = ("Привет! 👋🏽 " * 70).strip()
    assert len(text) < 1000 < utf8_len(text)
    with app.app_context():
        mids = send_reply(OutboundReply(text=text), ctx(account, jane))
    assert len(mids) >= 2 and all(mids)
    sent = ig_sandbox.accepted_texts()
    assert all(utf8_len(t) <= 1000 for t in sent)
    assert " ".join(sent).split() == text.split()


def test_instagram_refuses_texts_over_1000_bytes(account, jane, ig_sandbox, app):
    """The sandbox holds Instagram's line: 334 emoji (fewer than 1000 characters) is a (#100) length error, which
    ChatPad classifies as permanent."""
    body = {"recipient": {"id": jane}, "messaging_type": "RESPONSE", "message": {"text": "😀" * 334}}
    with app.app_context(), pytest.raises(PermanentSendError) as raised:
        client.send_message(account, body)
    assert raised.value.code == 100 and "1000" in raised.value.reason


def test_quick_replies_and_images(account, jane, ig_sandbox, app):
    """An image by URL and quick replies under the text arrive as Instagram shows them."""
    reply = OutboundReply(
        text="Lot 14:",
        media=[MessageMedia(type="image", url="https://example.com/lot14.jpg")],
        quick_replies=[QuickReply("Book a tour", "BOOK")],
    )
    with app.app_context():
        send_reply(reply, ctx(account, jane))
    image, text = ig_sandbox.thread(jane)["messages"][-2:]
    assert image["attachments"] == [{"type": "image", "payload": {"url": "https://example.com/lot14.jpg"}}]
    assert text["quick_replies"][0]["title"] == "Book a tour"


def test_human_agent_tag_after_24_hours(account, jane, ig_sandbox, app):
    """Two days after the customer wrote, a person's reply is tagged HUMAN_AGENT and Instagram takes it."""
    ig_sandbox.age(jane, 48)
    with app.app_context():
        (mid,) = send_reply(
            OutboundReply(text="Sorry for the wait!", sender_type="human"), ctx(account, jane, "human", 48)
        )
    assert mid
    assert ig_sandbox.sends()[-1]["json"]["tag"] == "HUMAN_AGENT"


def test_outside_the_window_is_instagram_s_2534022(account, jane, ig_sandbox, app):
    """A RESPONSE after 24 h is refused with Instagram's window error, classified as window closed."""
    ig_sandbox.age(jane, 30)
    body = {"recipient": {"id": jane}, "messaging_type": "RESPONSE", "message": {"text": "Hello?"}}
    with app.app_context(), pytest.raises(WindowClosedError) as raised:
        client.send_message(account, body)
    assert (raised.value.code, raised.value.subcode) == (10, 2534022)


@pytest.mark.parametrize(
    ("kind", "error", "pair"),
    [
        ("ig_rate_limit", TransientSendError, (613, 2534040)),
        ("ig_window", WindowClosedError, (10, 2534022)),
        ("ig_no_user", PermanentSendError, (100, 2534014)),
        ("expired_token", AuthExpiredError, (190, 463)),
        ("server_error", TransientSendError, (2, None)),
        ("blocked", PermanentSendError, (551, 1545041)),
    ],
)
def test_instagram_errors_are_classified(kind, error, pair, account, jane, ig_sandbox, app):
    """Instagram's 2534xxx codes and Meta's shared ones map to retry, window closed, permanent or reconnect."""
    ig_sandbox.meta.fail(kind)
    with app.app_context(), pytest.raises(error) as raised:
        send_reply(OutboundReply(text="Hello"), ctx(account, jane))
    assert (raised.value.code, raised.value.subcode) == pair
    if kind == "ig_rate_limit":
        assert raised.value.retry_after and raised.value.retry_after > 0


def test_an_igsid_of_another_account_is_no_matching_user(ig_account, make, ig_sandbox, app):
    """Sending with one Page's token to a customer of another Page's Instagram account: 100/2534014, permanent."""
    other = ig_sandbox.simulate("Hi", account=ig_sandbox.account_id(1))["igsid"]
    with app.app_context(), pytest.raises(PermanentSendError) as raised:
        send_reply(OutboundReply(text="Hello"), ctx(ig_account.ig, other))
    assert raised.value.subcode == 2534014


def test_typing_indicator(account, jane, ig_sandbox, app):
    """typing() sends the typing_on / typing_off sender actions to the customer's thread."""
    with app.app_context():
        channel.typing(ctx(account, jane), True)
        assert ig_sandbox.thread(jane)["typing"]
        channel.typing(ctx(account, jane), False)
    assert not ig_sandbox.thread(jane)["typing"]


def test_profile_gives_name_and_username(account, jane, app):
    """The customer's name, @username and picture come from GET /<IGSID> with the Page token."""
    with app.app_context():
        profile = channel.fetch_profile(account, jane)
    assert profile["name"] == "Jane Doe" and profile["username"] == "jane.doe"
    assert profile["profile_pic"].endswith(".svg")


def test_profile_failure_is_not_fatal(account, app):
    """An unknown IGSID gives no profile, never an error."""
    with app.app_context():
        assert channel.fetch_profile(account, "3999999999999999") is None


def test_story_mention_link_lives_then_expires(account, ig_sandbox, app):
    """A story mention's CDN link shows the story until it expires, then answers 403; Graph names the story."""
    mention = ig_sandbox.simulate(kind="story_mention", ttl_seconds=3600)
    url = mention["story_url"]
    assert requests.get(url, timeout=10).status_code == 200
    with app.app_context():
        story = client.get_story_mention(account, mention["mid"])
    assert story == {"link": url, "id": mention["story_id"]}
    ig_sandbox.expire_story(mention["story_id"])
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403 and "expired" in expired.text


def test_the_customer_page_lists_the_accounts(sandbox_server, ig_sandbox):
    """The sandbox's /instagram page offers every demo account, and the sandbox home links to it."""
    page = requests.get(f"{sandbox_server.url}/instagram", timeout=10)
    assert page.status_code == 200 and f"@{ig_sandbox.username()}" in page.text
    assert 'href="/instagram"' in requests.get(f"{sandbox_server.url}/", timeout=10).text


def test_simulator_refuses_nonsense(ig_sandbox):
    """Unknown accounts and kinds are a 400 with a reason, not a crash."""
    for spec in ({"account": "@nobody", "text": "hi"}, {"kind": "teleport", "text": "hi"}, {"kind": "text"}):
        response = ig_sandbox.meta.http.post(
            f"{ig_sandbox.url}/sandbox-api/meta/instagram/simulate",
            json={"account": ig_sandbox.account_id(), **spec},
            timeout=10,
        )
        assert response.status_code == 400 and response.json()["error"]
