"""The Messenger client against the sandbox over real HTTP: what ChatPad sends, and how every Graph error is
classified. Assertions read the sandbox's request log (what really went over the wire)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatpad.channels import get_channel
from chatpad.channels.base import SendContext
from chatpad.channels.errors import (
    AuthExpiredError,
    PermanentSendError,
    TransientSendError,
    WindowClosedError,
)
from chatpad.channels.meta import GraphClient, appsecret_proof
from chatpad.messages import Button, MessageMedia, OutboundReply, QuickReply

channel = get_channel("facebook")


@pytest.fixture
def page(make, meta_sandbox):
    """The demo's Forge Lake Community Page, connected in ChatPad with its sandbox Page token."""
    business = make.business()
    page_id = meta_sandbox.page_id(0)
    business.account.account_id = page_id
    business.account.access_token = meta_sandbox.page_token(page_id)
    make.db.session.commit()
    return business.account


@pytest.fixture
def jane(meta_sandbox):
    """Jane Doe wrote to the Page a minute ago; her PSID on that Page."""
    return meta_sandbox.simulate(text="Is lot 14 available?", age_seconds=60)["psid"]


def ctx(account, psid, sender_type="ai", hours_ago=0.02, **extra) -> SendContext:
    return SendContext(
        account=account,
        conversation=None,
        recipient_id=psid,
        sender_type=sender_type,
        last_inbound_at=datetime.now(UTC) - timedelta(hours=hours_ago),
        extra=extra,
    )


def send_reply(reply: OutboundReply, context: SendContext) -> list[str]:
    return [channel.send(part.payload, context) for part in channel.format(reply, context)]


def test_send_text(page, jane, meta_sandbox, app):
    """A reply is POSTed to /vNN.N/<PAGE_ID>/messages with the Page token as Bearer and a valid appsecret_proof."""
    (mid,) = send_reply(OutboundReply(text="Yes, lot 14 is available!"), ctx(page, jane, message_id=7))
    (request,) = meta_sandbox.sends()
    assert request["path"] == f"{page.account_id}/messages"
    assert request["version"] == app.config["GRAPH_API_VERSION"]
    assert request["json"] == {
        "recipient": {"id": jane},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, lot 14 is available!", "metadata": "chatpad:7"},
    }
    token = meta_sandbox.page_token(page.account_id)
    assert request["token_source"] == "bearer" and request["token"] == token
    assert "access_token" not in request["query"]
    assert request["query"]["appsecret_proof"] == appsecret_proof(token, meta_sandbox.app_secret)
    thread = meta_sandbox.thread(page.account_id, jane)
    assert thread["messages"][-1]["mid"] == mid
    assert thread["messages"][-1]["text"] == "Yes, lot 14 is available!"


def test_echo_and_delivery_follow_a_send(page, jane, meta_sandbox):
    """After accepting a message the sandbox posts its echo (our app id) and a delivery receipt, like Meta."""
    (mid,) = send_reply(OutboundReply(text="Hello!"), ctx(page, jane, message_id=8))

    def posted():
        bodies = [d["body"] for d in meta_sandbox.deliveries(body=True)]
        return [b for b in bodies if mid in b]

    bodies = meta_sandbox.wait_for(lambda: len(posted()) >= 2 and posted())
    echo = next(b for b in bodies if '"is_echo": true' in b)
    assert '"metadata": "chatpad:8"' in echo and f'"app_id": "{meta_sandbox.app_id}"' in echo
    assert any('"delivery"' in b for b in bodies)


def test_long_reply_is_accepted_in_parts(page, jane, meta_sandbox):
    """A 5000-character reply goes out as several messages, all accepted by Messenger's 2000 limit."""
    text = " ".join(f"Sentence number {i} about the community pool and clubhouse." for i in range(90))
    mids = send_reply(OutboundReply(text=text), ctx(page, jane))
    assert len(mids) >= 3 and all(mids)
    assert [r["status"] for r in meta_sandbox.sends()] == [200] * len(mids)
    texts = [m["text"] for m in meta_sandbox.thread(page.account_id, jane)["messages"] if m["sender"] == "page"]
    assert " ".join(texts) == text


def test_quick_replies_buttons_and_media_are_accepted(page, jane, meta_sandbox):
    """Quick replies, a button template and an image pass Messenger's validation."""
    reply = OutboundReply(
        text="Would you like a tour of lot 14?",
        quick_replies=[QuickReply(title=t, payload=t.upper()) for t in ("Yes please", "Not now", "Other homes")],
        buttons=[
            Button(type="web_url", title="Book online", payload="https://book.mhpcommunities.com/forge-at-the-lake"),
            Button(type="postback", title="Talk to a person", payload="HANDOFF"),
        ],
        media=[MessageMedia(type="image", url="https://cdn.example/lot14.jpg")],
    )
    send_reply(reply, ctx(page, jane))
    sends = meta_sandbox.sends()
    assert [r["status"] for r in sends] == [200, 200]
    template = sends[0]["json"]["message"]["attachment"]["payload"]
    assert template["template_type"] == "button" and len(template["buttons"]) == 2
    assert sends[1]["json"]["message"]["attachment"]["type"] == "image"
    assert [q["title"] for q in sends[1]["json"]["message"]["quick_replies"]] == [
        "Yes please",
        "Not now",
        "Other homes",
    ]


def test_human_reply_after_a_day_is_tagged_and_accepted(page, meta_sandbox):
    """30 h after the customer wrote, a person's reply goes as HUMAN_AGENT and Messenger accepts it."""
    psid = meta_sandbox.simulate(text="Anyone there?", age_seconds=30 * 3600)["psid"]
    context = ctx(page, psid, sender_type="human", hours_ago=30)
    assert channel.check_window(context) is None
    (mid,) = send_reply(OutboundReply(text="Sorry for the wait!", sender_type="human"), context)
    (request,) = meta_sandbox.sends()
    assert request["json"]["messaging_type"] == "MESSAGE_TAG" and request["json"]["tag"] == "HUMAN_AGENT"
    assert mid


def test_ai_reply_after_a_day_is_refused_by_messenger(page, meta_sandbox):
    """If the AI sent 30 h later anyway, Messenger answers 10/2018278: WindowClosedError, not retried."""
    psid = meta_sandbox.simulate(text="Anyone there?", age_seconds=30 * 3600)["psid"]
    context = ctx(page, psid, hours_ago=30)
    assert "24-hour" in channel.check_window(context)
    with pytest.raises(WindowClosedError) as caught:
        send_reply(OutboundReply(text="Hi!"), context)
    assert (caught.value.code, caught.value.subcode) == (10, 2018278)


def test_human_reply_after_a_week_is_refused(page, meta_sandbox):
    """Eight days later even HUMAN_AGENT is refused: WindowClosedError with Messenger's reason."""
    psid = meta_sandbox.simulate(text="Hello", age_seconds=8 * 24 * 3600)["psid"]
    context = ctx(page, psid, sender_type="human", hours_ago=8 * 24)
    assert "7-day" in channel.check_window(context)
    with pytest.raises(WindowClosedError) as caught:
        send_reply(OutboundReply(text="Hi!", sender_type="human"), context)
    assert "outside of allowed window" in caught.value.reason


@pytest.mark.parametrize(
    ("kind", "options", "error", "code", "subcode"),
    [
        ("server_error", {}, TransientSendError, 2, None),
        ("unknown_error", {}, TransientSendError, 1, None),
        ("service_unavailable", {}, TransientSendError, None, None),
        ("rate_limit", {"retry_after": 120}, TransientSendError, 613, None),
        ("app_rate_limit", {}, TransientSendError, 4, None),
        ("too_many_requests", {"retry_after": 7}, TransientSendError, None, None),
        ("policy_block", {}, TransientSendError, 368, 1390008),
        ("timeout", {"delay": 3}, TransientSendError, None, None),
        ("expired_token", {}, AuthExpiredError, 190, 463),
        ("invalid_token", {}, AuthExpiredError, 190, 460),
        ("permission", {}, AuthExpiredError, 10, None),
        ("blocked", {}, PermanentSendError, 551, 1545041),
        ("window", {}, WindowClosedError, 10, 2018278),
    ],
)
def test_injected_failures_are_classified(page, jane, meta_sandbox, kind, options, error, code, subcode):
    """Each Graph failure raises the error class the pipeline acts on (retry, fail, or reconnect)."""
    meta_sandbox.fail(kind, count=1, **options)
    with pytest.raises(error) as caught:
        send_reply(OutboundReply(text="Hello"), ctx(page, jane))
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.subcode) == (code, subcode)
    assert caught.value.reason
    # The failure was one-shot: the next send goes through.
    assert send_reply(OutboundReply(text="Hello again"), ctx(page, jane))[0]


def test_rate_limits_carry_retry_after(page, jane, meta_sandbox):
    """Retry-After and Meta's estimated_time_to_regain_access become retry_after seconds."""
    meta_sandbox.fail("too_many_requests", retry_after=7)
    with pytest.raises(TransientSendError) as caught:
        send_reply(OutboundReply(text="Hi"), ctx(page, jane))
    assert caught.value.retry_after == 7
    meta_sandbox.fail("rate_limit", retry_after=180)
    with pytest.raises(TransientSendError) as caught:
        send_reply(OutboundReply(text="Hi"), ctx(page, jane))
    assert caught.value.retry_after == 180


def test_slow_answers_still_succeed(page, jane, meta_sandbox):
    """A slow (but in-time) Graph answer is a success."""
    meta_sandbox.fail("slow", delay=0.5)
    assert send_reply(OutboundReply(text="Hi"), ctx(page, jane))[0]


def test_percentage_failures(page, jane, meta_sandbox):
    """percent=100 fails every send until the rule is removed."""
    meta_sandbox.fail("server_error", percent=100)
    for _ in range(3):
        with pytest.raises(TransientSendError):
            send_reply(OutboundReply(text="Hi"), ctx(page, jane))
    meta_sandbox._call("DELETE", "failures")
    assert send_reply(OutboundReply(text="Hi"), ctx(page, jane))[0]


def test_real_validation_errors_are_permanent(page, jane, meta_sandbox):
    """Messenger's own refusals (too long, unknown person, blocked Page) are permanent, with Meta's message."""
    context = ctx(page, jane)
    with pytest.raises(PermanentSendError) as caught:
        channel.send({"message": {"text": "x" * 2001}}, context)
    assert caught.value.code == 100 and "less than or equal to 2000" in caught.value.reason
    with pytest.raises(PermanentSendError) as caught:
        channel.send({"message": {"text": "hi"}}, ctx(page, "2999999999999999"))
    assert (caught.value.code, caught.value.subcode) == (100, 2018001)
    meta_sandbox.block(page.account_id, jane)
    with pytest.raises(PermanentSendError) as caught:
        channel.send({"message": {"text": "hi"}}, context)
    assert caught.value.code == 551


def test_dead_token_needs_reauth(page, jane, meta_sandbox):
    """A Page token killed at Meta (password change) raises AuthExpiredError on every call."""
    meta_sandbox.invalidate_token(page.account_id, subcode=460)
    with pytest.raises(AuthExpiredError) as caught:
        send_reply(OutboundReply(text="Hi"), ctx(page, jane))
    assert caught.value.subcode == 460
    assert channel.fetch_profile(page, jane) is None


def test_wrong_app_secret_is_refused(page, jane, meta_sandbox, app):
    """An appsecret_proof made with another secret is refused by Graph (code 100)."""
    client = GraphClient(app.config["GRAPH_API_URL"], "v25.0", app_secret="not-the-secret", timeout=5)
    with pytest.raises(PermanentSendError) as caught:
        client.get(jane, token=page.access_token, params={"fields": "first_name"})
    assert "appsecret_proof" in caught.value.reason


def test_profile_fetch(page, jane, meta_sandbox):
    """The customer's name and picture come from GET /<PSID> with the Page token."""
    profile = channel.fetch_profile(page, jane)
    assert profile["name"] == "Jane Doe" and profile["first_name"] == "Jane"
    assert profile["profile_pic"].endswith(".svg")
    (request,) = meta_sandbox.requests(path=jane, method="GET")
    assert request["query"]["fields"] == "first_name,last_name,profile_pic"


def test_psids_are_page_scoped(page, make, meta_sandbox):
    """Jane's PSID on another Page is not readable with this Page's token."""
    other = meta_sandbox.simulate(page=meta_sandbox.page_id(1), text="Hi Clearview")["psid"]
    assert other != meta_sandbox.simulate(text="Hi Forge")["psid"]
    assert channel.fetch_profile(page, other) is None


def test_sender_actions(page, jane, meta_sandbox):
    """typing_on and mark_seen are sender actions, not messages."""
    channel.typing_on(page, jane)
    assert meta_sandbox.thread(page.account_id, jane)["typing"] is True
    channel.mark_seen(page, jane)
    actions = [r["json"] for r in meta_sandbox.requests("/messages", "POST")]
    assert actions == [
        {"recipient": {"id": jane}, "sender_action": "typing_on"},
        {"recipient": {"id": jane}, "sender_action": "mark_seen"},
    ]
    assert meta_sandbox.sends() == []


def test_sandbox_accepts_any_version_and_query_tokens(meta_sandbox, jane):
    """The sandbox, like Graph, takes any /vNN.N/ prefix (or none) and the token as access_token."""
    import requests

    page_id = meta_sandbox.page_id(0)
    token = meta_sandbox.page_token(page_id)
    proof = appsecret_proof(token, meta_sandbox.app_secret)
    for prefix in ("v19.0/", "v26.0/", ""):
        answer = requests.get(
            f"{meta_sandbox.graph_url}/{prefix}me", params={"access_token": token, "appsecret_proof": proof}, timeout=5
        ).json()
        assert answer == {"id": page_id, "name": "Forge Lake Community"}
    missing_proof = requests.get(f"{meta_sandbox.graph_url}/v25.0/me", params={"access_token": token}, timeout=5)
    assert missing_proof.status_code == 400 and missing_proof.json()["error"]["code"] == 100
