"""Messenger end to end: the sandbox's customer simulator posts signed webhooks to the live app, real burst workers
run the pipeline against the database and Redis, and replies reach the sandbox's Send API from the right Page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from chatpad.channels.meta import sign_body
from chatpad.messages import OutboundReply
from chatpad.models import Conversation, Message, Notification, SocialAccount, WebhookEvent, utcnow
from chatpad.pipeline import ReplyRefusedError, queue_reply, resume_account
from chatpad.pipeline.replies import clear_reply_pending
from chatpad.queue import get_queue

from .helpers import load_fixture


@pytest.fixture
def forge(make, meta_sandbox):
    """A business whose location owns the demo's Forge Lake Community Page (sandbox Page token)."""
    business = make.business()
    page_id = meta_sandbox.page_id(0)
    business.account.account_id = page_id
    business.account.account_name = "Forge Lake Community"
    business.account.access_token = meta_sandbox.page_token(page_id)
    make.db.session.commit()
    business.page_id = page_id
    return business


def inbound_messages(db, account=None):
    db.session.expire_all()
    query = select(Message).where(Message.direction == "inbound", Message.sender_type == "contact")
    if account is not None:
        query = query.where(Message.channel_account_id == account.id)
    return db.session.scalars(query.order_by(Message.id)).all()


def conversation_of(db, account) -> Conversation:
    db.session.expire_all()
    return db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))


def customer_writes(meta_sandbox, workers, page_id, text, **spec) -> dict:
    """Jane writes; the webhook is acknowledged; the inbound worker runs."""
    sent = meta_sandbox.simulate(page=page_id, text=text, **spec)
    assert [d["state"] for d in sent["deliveries"]] == ["delivered"] * len(sent["deliveries"])
    workers.run("inbound")
    return sent


def forget_ai_reply(app, conversation_id) -> None:
    """Tests that reply as a person drop the AI's queued job (the AI has its own tests)."""
    with app.app_context():
        get_queue("ai").empty()
        clear_reply_pending(conversation_id)


def test_a_customer_message_lands_in_the_right_conversation(app, db, forge, meta_sandbox, workers):
    """Simulator → signed webhook → stored event → inbound worker: the message, its contact (named from the Graph
    profile) and conversation on the Page's location, and one AI reply asked for."""
    sent = customer_writes(meta_sandbox, workers, forge.page_id, "Is lot 14 available?")
    (message,) = inbound_messages(db)
    assert message.content == "Is lot 14 available?" and message.external_id == sent["mid"]
    conversation = message.conversation
    assert conversation.social_account_id == forge.account.id and conversation.location_id == forge.location.id
    assert conversation.contact.name == "Jane Doe"
    assert conversation.thread_key == sent["psid"]
    assert workers.queued("ai") == 1
    event = db.session.scalar(select(WebhookEvent).order_by(WebhookEvent.id))
    assert event.channel == "facebook" and event.status == "processed"
    assert json.loads(event.body)["entry"][0]["messaging"][0]["message"]["mid"] == sent["mid"]
    profile_reads = meta_sandbox.requests(path=sent["psid"], method="GET")
    assert len(profile_reads) == 1 and profile_reads[0]["status"] == 200


def test_the_ai_answers_from_the_same_page(app, db, forge, meta_sandbox, workers):
    """The AI's reply is accepted by the Send API from the Page the customer wrote to; echo and delivery follow."""
    pytest.importorskip("chatpad.ai", reason="the AI (chatpad.ai) is merged separately")
    sent = customer_writes(meta_sandbox, workers, forge.page_id, "What are your office hours?")
    workers.run("ai", "outbound")
    accepted = meta_sandbox.accepted()
    assert accepted and all(r["path"] == f"{forge.page_id}/messages" for r in accepted)
    assert all(r["json"]["recipient"] == {"id": sent["psid"]} for r in accepted)
    assert all(r["json"]["messaging_type"] == "RESPONSE" for r in accepted)
    # The typing bubble while the AI worked; Meta hides it when the reply arrives, so no typing_off call is spent.
    actions = [r["json"].get("sender_action") or "message" for r in meta_sandbox.requests(f"{forge.page_id}/messages")]
    assert actions[0] == "typing_on" and "typing_off" not in actions and actions[-1] == "message", actions
    assert meta_sandbox.thread(forge.page_id, sent["psid"])["typing"] is False
    db.session.expire_all()
    replies = db.session.scalars(select(Message).where(Message.sender_type == "ai")).all()
    assert replies and all(m.status == "sent" and m.external_id for m in replies)
    # Meta's echo of our own message and its delivery receipt come back: no takeover, status delivered.
    meta_sandbox.wait_for(lambda: len([d for d in meta_sandbox.deliveries() if d["state"] == "delivered"]) >= 3)
    workers.run("inbound")
    conversation = conversation_of(db, forge.account)
    assert not conversation.human_takeover
    assert {m.status for m in db.session.scalars(select(Message).where(Message.sender_type == "ai"))} == {"delivered"}


def test_ten_sequential_duplicates_make_one_message(app, db, forge, meta_sandbox, workers):
    """Meta redelivering the same webhook ten times stores one message and asks the AI once."""
    sent = meta_sandbox.simulate(page=forge.page_id, text="Do you allow pets?", duplicates=10)
    assert [d["state"] for d in sent["deliveries"]] == ["delivered"] * 10
    workers.run("inbound")
    assert len(inbound_messages(db)) == 1
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 10
    assert workers.queued("ai") == 1


def test_ten_concurrent_duplicates_through_parallel_workers(app, db, forge, meta_sandbox, database_url, redis_url):
    """Ten simultaneous deliveries, processed by three worker processes at once: one message, one AI job."""
    sent = meta_sandbox.simulate(page=forge.page_id, text="How much is lot rent?", duplicates=10, concurrent=True)
    assert [d["state"] for d in sent["deliveries"]] == ["delivered"] * 10
    env = {
        "CHATPAD_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GRAPH_API_URL": meta_sandbox.graph_url,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jobs.worker", "inbound", "--burst", "--name", f"e2e-{i}-{time.time_ns()}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    assert len(inbound_messages(db)) == 1
    with app.app_context():
        assert get_queue("ai").count == 1
    statuses = db.session.scalars(select(WebhookEvent.status)).all()
    assert len(statuses) == 10 and set(statuses) == {"processed"}


def test_a_reply_from_the_page_inbox_takes_over(app, db, forge, meta_sandbox, workers):
    """A person answering in the Page's own inbox (an echo without our app id) puts the conversation in human
    takeover: the AI stays quiet and the team is told about the customer's next message."""
    sent = customer_writes(meta_sandbox, workers, forge.page_id, "My water heater is leaking")
    conversation = conversation_of(db, forge.account)
    forget_ai_reply(app, conversation.id)
    meta_sandbox.page_reply(forge.page_id, sent["psid"], "Hi, this is Maria from the office. On my way.")
    meta_sandbox.wait_for(lambda: any(d["state"] == "delivered" for d in meta_sandbox.deliveries()[1:]))
    workers.run("inbound")
    conversation = conversation_of(db, forge.account)
    assert conversation.human_takeover
    human = db.session.scalar(select(Message).where(Message.sender_type == "human"))
    assert human.content.startswith("Hi, this is Maria") and human.meta["source"] == "platform_inbox"

    customer_writes(meta_sandbox, workers, forge.page_id, "Thank you!")
    assert workers.queued("ai") == 0
    assert db.session.scalar(select(Notification).where(Notification.kind == "message_in_takeover")) is not None


def test_our_own_echo_is_not_a_takeover(app, db, forge, meta_sandbox, workers):
    """The echo of a reply ChatPad sent carries our app id: no takeover, no duplicate message."""
    sent = customer_writes(meta_sandbox, workers, forge.page_id, "Hello")
    conversation = conversation_of(db, forge.account)
    forget_ai_reply(app, conversation.id)
    queue_reply(conversation, OutboundReply("Hi! How can we help?", sender_type="human"), user=forge.user)
    workers.run("outbound")
    meta_sandbox.wait_for(lambda: len([d for d in meta_sandbox.deliveries() if d["state"] == "delivered"]) >= 3)
    workers.run("inbound")
    conversation = conversation_of(db, forge.account)
    assert not conversation.human_takeover
    outbound = db.session.scalars(select(Message).where(Message.direction == "outbound")).all()
    assert len(outbound) == 1 and outbound[0].status == "delivered"
    assert meta_sandbox.thread(forge.page_id, sent["psid"])["messages"][-1]["text"] == "Hi! How can we help?"


def test_windows_end_to_end(app, db, forge, meta_sandbox, workers):
    """30 h after the customer wrote, the AI is silent (skipped, with the reason) and a person's reply goes out
    tagged HUMAN_AGENT; after 8 days even a person is refused with Messenger's reason."""
    customer_writes(meta_sandbox, workers, forge.page_id, "Is the pool open?", age_seconds=30 * 3600)
    conversation = conversation_of(db, forge.account)
    forget_ai_reply(app, conversation.id)
    assert utcnow() - conversation.last_inbound_at > timedelta(hours=29)

    (skipped,) = queue_reply(conversation, OutboundReply("The pool is open!"))
    assert skipped.status == "skipped" and "24-hour window" in skipped.error
    queue_reply(conversation, OutboundReply("Sorry for the wait — yes, it is!", sender_type="human"), user=forge.user)
    workers.run("outbound")
    (accepted,) = meta_sandbox.accepted()
    assert accepted["json"]["messaging_type"] == "MESSAGE_TAG" and accepted["json"]["tag"] == "HUMAN_AGENT"

    conversation.last_inbound_at = utcnow() - timedelta(days=8)
    db.session.commit()
    with pytest.raises(ReplyRefusedError, match="7-day"):
        queue_reply(conversation, OutboundReply("Still there?", sender_type="human"), user=forge.user)


@pytest.fixture
def waiting_reply(app, db, forge, meta_sandbox, workers):
    """Jane wrote; a person's reply is queued (pending) and not sent yet."""
    customer_writes(meta_sandbox, workers, forge.page_id, "Can I bring my own home?")
    conversation = conversation_of(db, forge.account)
    forget_ai_reply(app, conversation.id)
    (row,) = queue_reply(conversation, OutboundReply("Yes, from 2000 or later.", sender_type="human"), user=forge.user)
    return row.id


def _message(db, message_id) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("server_error", {}),
        ("service_unavailable", {}),
        ("timeout", {"delay": 3}),
        ("policy_block", {}),
        ("app_rate_limit", {}),
    ],
)
def test_transient_failures_are_retried_until_sent(db, meta_sandbox, workers, waiting_reply, kind, options):
    """A 5xx, a timeout or a temporary block: the message waits with the reason, and the retry sends it."""
    meta_sandbox.fail(kind, count=1, **options)
    workers.run("outbound")
    message = _message(db, waiting_reply)
    assert message.status == "pending" and message.error.startswith("Retrying")
    workers.run("outbound", fast_forward=True)
    message = _message(db, waiting_reply)
    assert message.status == "sent" and message.external_id
    assert [r["status"] for r in meta_sandbox.sends()][-1] == 200
    assert len(meta_sandbox.sends()) == 2


def test_rate_limits_pause_then_send(db, meta_sandbox, workers, waiting_reply):
    """HTTP 429 with Retry-After pauses the Page's sends for that long, then the message goes out."""
    meta_sandbox.fail("too_many_requests", retry_after=1)
    workers.run("outbound")
    assert _message(db, waiting_reply).status == "pending"
    time.sleep(1.1)  # the platform's Retry-After, not a timed assertion
    workers.run("outbound", fast_forward=True)
    assert _message(db, waiting_reply).status == "sent"


def test_waiting_out_a_pause_does_not_use_up_attempts(
    app, db, forge, meta_sandbox, workers, waiting_reply, monkeypatch
):
    """Another message's 429 pauses the whole Page; a message that only waited out the pause, more times than it
    may fail, is still sent once the pause ends (found by the 30%-failures test: such a message gave up)."""
    from chatpad.pipeline.replies import MAX_SEND_ATTEMPTS, _backoff_key
    from chatpad.queue import get_redis
    from jobs.housekeeping import _requeue_pending_sends

    pause = _backoff_key(forge.account)
    for _ in range(MAX_SEND_ATTEMPTS + 1):
        get_redis().set(pause, "1", px=60_000)
        workers.run("outbound", fast_forward=True, rounds=1)
        assert _message(db, waiting_reply).status == "pending"
    assert meta_sandbox.sends() == []
    # The sweeper sees the waiting job and does not start a second chain of sends beside it.
    monkeypatch.setitem(app.config, "SWEEP_PENDING_GRACE_SECONDS", 0)
    assert _requeue_pending_sends() == 0
    get_redis().delete(pause)
    workers.run("outbound", fast_forward=True)
    assert _message(db, waiting_reply).status == "sent"
    assert len(meta_sandbox.sends()) == 1


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("blocked", "isn't available"),
        ("window", "Outside Messenger's messaging window"),
    ],
)
def test_permanent_failures_are_shown_with_the_reason(db, meta_sandbox, workers, waiting_reply, kind, reason):
    """551 (the person is unavailable) and 10/2018278 (window) fail the message at once with Messenger's reason."""
    meta_sandbox.fail(kind)
    workers.run("outbound", fast_forward=True)
    message = _message(db, waiting_reply)
    assert message.status == "failed" and reason in message.error
    assert len(meta_sandbox.sends()) == 1


def test_an_expired_token_needs_reconnection_and_loses_nothing(db, forge, meta_sandbox, workers, waiting_reply):
    """190/463: the Page is marked for reconnection, the admins are told, and the reply is sent after it."""
    meta_sandbox.invalidate_token(forge.page_id, subcode=463)
    workers.run("outbound", fast_forward=True)
    account = db.session.get(SocialAccount, forge.account.id)
    db.session.refresh(account)
    assert account.status == "needs_reauth" and "no longer valid" in account.last_error
    assert _message(db, waiting_reply).status == "pending"
    assert db.session.scalar(select(Notification).where(Notification.kind == "account_needs_reauth")) is not None

    meta_sandbox._call("POST", "tokens/invalidate", json={"page": forge.page_id, "revive": True})
    account.mark_healthy()
    db.session.commit()
    assert resume_account(account) == 1
    workers.run("outbound")
    assert _message(db, waiting_reply).status == "sent"


def test_several_pages_in_one_post(app, db, make, forge, meta_sandbox, workers):
    """One webhook with entries for two Pages: each message lands on its own Page's conversation."""
    clearview = make.account(
        forge.agent,
        "facebook",
        make.location(forge.agent, "Clearview Estates"),
        account_id=meta_sandbox.page_id(1),
        access_token=meta_sandbox.page_token(meta_sandbox.page_id(1)),
    )
    result = meta_sandbox.batch(
        [
            {"page": forge.page_id, "from": "Jane Doe", "text": "Hi Forge Lake"},
            {"page": clearview.account_id, "from": "Jane Doe", "text": "Hi Clearview"},
        ]
    )
    assert len(result["deliveries"]) == 1
    workers.run("inbound")
    assert [m.content for m in inbound_messages(db, forge.account)] == ["Hi Forge Lake"]
    assert [m.content for m in inbound_messages(db, clearview)] == ["Hi Clearview"]
    psids = {e["psid"] for e in result["events"]}
    assert len(psids) == 2  # the same person, page-scoped ids


def _post(live_server, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{live_server.url}/api/webhooks/facebook", data=body, headers=headers, timeout=10)


def test_unknown_events_are_acknowledged_and_ignored(app, db, live_server, workers):
    """An event type ChatPad does not know is answered 200, stored, and marked ignored — never an error."""
    body = load_fixture("facebook", "unknown__event")
    response = _post(
        live_server, body, {"Content-Type": "application/json", **sign_body(body, app.config["META_APP_SECRET"])}
    )
    assert response.status_code == 200
    workers.run("inbound")
    (event,) = db.session.scalars(select(WebhookEvent)).all()
    assert event.status == "ignored" and event.error is None


def test_forged_and_malformed_webhooks_are_refused(app, db, live_server):
    """A bad signature is 403 and a non-page body 400; nothing is stored."""
    body = load_fixture("facebook", "message__text")
    forged = _post(live_server, body, sign_body(body, "not-the-app-secret"))
    assert forged.status_code == 403
    other = b'{"object": "whatsapp_business_account", "entry": []}'
    malformed = _post(live_server, other, sign_body(other, app.config["META_APP_SECRET"]))
    assert malformed.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0


def test_oversized_and_misaddressed_deliveries_are_refused(app, db, live_server):
    """Over WEBHOOK_MAX_BYTES is 413 (declared or not); a channel without webhooks, or none, is 404; nothing is
    stored, and the signed delivery that follows is stored as usual."""
    secret = app.config["META_APP_SECRET"]
    huge = b'{"object": "page", "entry": [], "pad": "' + b"x" * app.config["WEBHOOK_MAX_BYTES"] + b'"}'
    assert _post(live_server, huge, sign_body(huge, secret)).status_code == 413

    def chunks():
        yield huge

    chunked = requests.post(
        f"{live_server.url}/api/webhooks/facebook", data=chunks(), headers=sign_body(huge, secret), timeout=10
    )
    assert chunked.status_code == 413
    body = load_fixture("facebook", "message__text")
    for channel in ("email", "widget", "nope"):
        response = requests.post(
            f"{live_server.url}/api/webhooks/{channel}", data=body, headers=sign_body(body, secret), timeout=10
        )
        assert response.status_code == 404, channel
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    ok = _post(live_server, body, {"Content-Type": "application/json", **sign_body(body, secret)})
    assert ok.status_code == 200 and ok.json() == {"status": "received"}
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 1


def test_receipts_go_to_their_own_lane_and_a_dispatcher_takes_messages_first(app, db, live_server, workers):
    """A delivery of receipts only (a read receipt) is announced in the receipts lane, a customer's message in the
    messages lane; the workers take the message first, and both are processed."""
    from chatpad.lanes import PENDING_KEY, RECEIPTS_KEY, pop_pending
    from chatpad.queue import get_redis

    secret = app.config["META_APP_SECRET"]
    for name in ("read", "message__text"):
        body = load_fixture("facebook", name)
        assert _post(live_server, body, {"Content-Type": "application/json", **sign_body(body, secret)}).ok
    read, message = db.session.scalars(select(WebhookEvent.id).order_by(WebhookEvent.id)).all()
    with app.app_context():
        assert get_redis().lrange(RECEIPTS_KEY, 0, -1) == [str(read).encode()]
        assert get_redis().lrange(PENDING_KEY, 0, -1) == [str(message).encode()]
        assert pop_pending(1, block=1, lanes=(PENDING_KEY, RECEIPTS_KEY)) == [message]  # the message first
        get_redis().rpush(PENDING_KEY, message)  # put it back for the workers
    workers.run("inbound")
    db.session.expire_all()
    assert {e.status for e in db.session.scalars(select(WebhookEvent))} == {"ignored"}  # no such Page here
    with app.app_context():
        assert get_redis().llen(RECEIPTS_KEY) == 0 and get_redis().llen(PENDING_KEY) == 0


def test_meta_subscription_handshake(app, live_server):
    """The GET verification echoes hub.challenge for our verify token and refuses any other."""
    url = f"{live_server.url}/api/webhooks/facebook"
    params = {"hub.mode": "subscribe", "hub.verify_token": app.config["META_VERIFY_TOKEN"], "hub.challenge": "8841"}
    ok = requests.get(url, params=params, timeout=5)
    assert ok.status_code == 200 and ok.text == "8841"
    assert requests.get(url, params={**params, "hub.verify_token": "guess"}, timeout=5).status_code == 403


def test_meta_retries_until_the_app_answers(app, db, forge, meta_sandbox, sandbox_server, live_server, workers):
    """While the app's webhook fails, the sandbox retries like Meta; once it answers, the message is stored."""
    meta_sandbox.settings(retry_delays=[0.5, 0.5, 0.5])
    meta_sandbox._call("PATCH", "settings", json={"webhook_urls": {"page": f"{sandbox_server.url}/nowhere"}})
    sent = meta_sandbox.simulate(page=forge.page_id, text="Anyone?", wait=True)
    (delivery,) = sent["deliveries"]
    assert delivery["state"] == "retrying" and delivery["attempts"][0]["status"] == 404
    fixed = f"{live_server.url}/api/webhooks/facebook"
    meta_sandbox._call("PATCH", "settings", json={"webhook_urls": {"page": fixed}})
    final = meta_sandbox.wait_for(
        lambda: next(
            (d for d in meta_sandbox.deliveries() if d["id"] == delivery["id"] and d["state"] != "retrying"), None
        )
    )
    assert final["state"] == "delivered" and final["attempts"][-1]["url"] == fixed
    workers.run("inbound")
    assert [m.content for m in inbound_messages(db)] == ["Anyone?"]


def test_meta_gives_up_after_its_retries(app, db, forge, meta_sandbox, sandbox_server):
    """A webhook that never gets a 200 is retried a fixed number of times, then dropped (Meta then alerts)."""
    meta_sandbox._call("PATCH", "settings", json={"webhook_urls": {"page": f"{sandbox_server.url}/nowhere"}})
    sent = meta_sandbox.simulate(page=forge.page_id, text="Anyone?", wait=True)
    (delivery,) = sent["deliveries"]
    final = meta_sandbox.wait_for(
        lambda: next(
            (d for d in meta_sandbox.deliveries() if d["id"] == delivery["id"] and d["state"] == "failed"), None
        )
    )
    assert len(final["attempts"]) == 4  # the first try and three retries (tests use short delays)
