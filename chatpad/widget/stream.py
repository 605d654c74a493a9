"""Live updates for the visitor: a server-sent event stream, and long polling for networks where streams stall.

Both wake on Redis pub/sub (chatpad.realtime: the conversation's channel, plus the visitor's own channel for the
moment their first message opens a conversation) and then read the database, which is the truth: an event that is
missed (Redis down, a reconnect) is caught up by the cursor. The stream sends:

    event: message  id: <message id>   data: a message as the widget shows it
    event: state                       data: the conversation's state (a person joined, ended, rated)
    event: typing                      data: {"typing": true|false} while the AI works
    event: ping                        data: {} every WIDGET_HEARTBEAT_SECONDS (proxies keep the line open; the
                                       script notices a stalled stream and falls back to long polling)

The stream ends after WIDGET_STREAM_MAX_SECONDS; EventSource reconnects with Last-Event-ID and nothing is lost.

Streams and long polls are served by the stream process (chatpad.streams: a greenlet each, never a web thread), and
each holds a slot there: per visitor and per IP beyond their limits the answer is 429 with Retry-After. The web
process refuses a stream at once (503) and answers a long poll without waiting, with `retry_ms`: how long the script
waits before it polls again. While a stream waits it holds no database connection (the session is released before
every wait) and no Redis connection of its own (subscriptions share one per process: chatpad.realtime).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Response, current_app, jsonify, request, stream_with_context

from chatpad import realtime, streams
from chatpad.channels.widget.tokens import TokenError, read_stream_ticket
from chatpad.extensions import db
from chatpad.models import SocialAccount, utcnow

from . import bp
from .api import API, ApiError, WidgetRequest, _limit, current, post_message, visitor_api
from .visitor import (
    CURSOR_SLACK,
    conversation_state,
    current_conversation,
    make_cursor,
    new_messages,
    parse_cursor,
    serialize_messages,
    visible_messages,
    visitor_channel,
)

log = logging.getLogger("chatpad.widget.stream")
# After a reconnect only the last message id is known (Last-Event-ID): look this far back for late deliveries.
RECONNECT_LOOKBACK = timedelta(minutes=2)
# The first bytes of a stream: some proxies hold a response until a couple of kilobytes have arrived.
PADDING = ":" + " " * 2048 + "\n"


def _slot(account_id, visitor_id: str) -> streams.StreamSlot:
    """This visitor's place on the stream process, or the refusal as the API's error (429 or 503, Retry-After)."""
    try:
        return streams.open_slot("visitor", f"{account_id}:{visitor_id}")
    except streams.StreamRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, {"Retry-After": str(exc.retry_after)}) from None


def frame(event: str, data: Any, event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), default=str))
    return "\n".join(lines) + "\n\n"


@bp.route(f"{API}/events", methods=["GET", "OPTIONS"])
@visitor_api(needs_visitor=False)
def events(key: str):
    """The visitor's live event stream (EventSource), authorised by the stream ticket in the URL."""
    req = current()
    try:
        visitor = read_stream_ticket(request.args.get("ticket"), req.account.id)
    except TokenError as exc:
        raise ApiError(401, "invalid_ticket", f"The stream ticket is {exc.reason}; start a new session.") from None
    _limit("WIDGET_RATE_LIMIT_REQUESTS_VISITOR", str(req.account.id), visitor.visitor_id)
    after_id, read_at = parse_cursor(request.args.get("cursor"))
    since = read_at - CURSOR_SLACK if read_at else None
    last_event_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    resumed = False
    if last_event_id:
        resumed_id, _ = parse_cursor(last_event_id)
        if resumed_id >= after_id:
            after_id, since, resumed = resumed_id, utcnow() - RECONNECT_LOOKBACK, True
    slot = _slot(req.account.id, visitor.visitor_id)
    title = req.settings.appearance["title"]
    account_id = req.account.id
    db.session.remove()  # the stream may last minutes: no database connection waits with it
    pubsub = _subscribe_or_503(slot, visitor_channel(account_id, visitor.visitor_id))
    generator = _event_stream(account_id, visitor.visitor_id, title, after_id, since, resumed, slot, pubsub)
    response = Response(stream_with_context(generator), mimetype="text/event-stream")
    # Released when the server closes the response, whether or not the generator ever ran.
    response.call_on_close(pubsub.close)
    response.call_on_close(slot.release)
    response.headers["Cache-Control"] = "no-cache, no-transform"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer this response
    return response


def _subscribe_or_503(slot: streams.StreamSlot, *channels: str) -> realtime.Subscription:
    """A subscription to these channels, or (Redis unreachable) the slot back and 503: the script polls."""
    try:
        return realtime.subscribe(*channels)
    except Exception:
        slot.release()
        log.warning("live updates could not subscribe", exc_info=True)
        raise ApiError(503, "unavailable", "Live updates are unavailable; polling instead.", {"Retry-After": "30"})


def _event_stream(
    account_id,
    visitor_id: str,
    assistant_name: str,
    after_id: int,
    since,
    resumed: bool,
    slot: streams.StreamSlot,
    pubsub: realtime.Subscription,
) -> Iterator[str]:
    config = current_app.config
    heartbeat = float(config["WIDGET_HEARTBEAT_SECONDS"])
    deadline = time.monotonic() + float(config["WIDGET_STREAM_MAX_SECONDS"])
    watching: set[str] = set()
    seen: set[int] = set()
    # After a Last-Event-ID resume the visitor has every message up to after_id except replies delivered late.
    position = {"after_id": after_id, "since": since, "state": None, "recent_inbound": not resumed}

    def flush() -> list[str]:
        """What the visitor does not have yet, as frames; subscribes to their current conversation. The session is
        released before anything is sent, so no database connection waits on a slow client."""
        frames: list[str] = []
        try:
            account = db.session.get(SocialAccount, account_id)
            if account is None:
                return frames
            read_at = utcnow()
            found = new_messages(
                account, visitor_id, position["after_id"], position["since"], recent_inbound=position["recent_inbound"]
            )
            messages = [m for m in found if m.id not in seen]
            position["recent_inbound"] = True
            for item in serialize_messages(messages, assistant_name=assistant_name):
                seen.add(item["id"])
                frames.append(frame("message", item, event_id=item["id"]))
            if messages:
                position["after_id"] = max(position["after_id"], *(m.id for m in messages))
            position["since"] = read_at - CURSOR_SLACK
            conversation = current_conversation(account, visitor_id)
            if conversation is not None and str(conversation.id) not in watching:
                watching.add(str(conversation.id))
                pubsub.subscribe(realtime.conversation_channel(conversation.id))
            state = conversation_state(conversation)
            if state != position["state"]:
                position["state"] = state
                frames.append(frame("state", state))
        finally:
            db.session.remove()
        return frames

    try:
        yield PADDING + "retry: 3000\n\n"
        yield "".join(flush())
        yield frame("ready", {"heartbeat": heartbeat, "cursor": make_cursor([], after_id=position["after_id"])})
        quiet_beats = 0
        while (remaining := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=min(heartbeat, remaining))
            slot.renew()
            if message is None:
                quiet_beats += 1
                # A missed publish is caught up within a minute.
                caught_up = flush() if quiet_beats % 4 == 0 else []
                yield "".join(caught_up) + frame("ping", {})
                continue
            batch = [message]
            while len(batch) < 100 and (more := pubsub.get_message(timeout=0)) is not None:
                batch.append(more)
            wanted = False
            for item in batch:
                data = _decode(item)
                if data.get("event") == "typing":
                    yield frame("typing", {"typing": bool(data.get("started"))})
                else:
                    wanted = True
            if wanted:
                frames = flush()
                if frames:
                    yield "".join(frames)
    finally:
        pubsub.close()
        slot.release()
        db.session.remove()


def _decode(message: dict) -> dict:
    try:
        data = json.loads(message.get("data") or b"{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@bp.route(f"{API}/wait", methods=["GET", "OPTIONS"])
@visitor_api(needs_visitor=True)
def wait(key: str):
    """The long poll on a path of its own (GET ?after=<cursor>&wait=<s>), so a proxy routes it to the stream
    process by path alone; `messages?after=…` answers the same on whichever process gets it."""
    if request.args.get("after") is None:
        raise ApiError(400, "cursor_required", "A long poll needs after=<cursor>.")
    return history_or_poll(current())


def history_or_poll(req: WidgetRequest) -> Response:
    """GET messages: the visitor's history, or (with after=<cursor>) what is newer, waiting up to `wait` seconds
    for something to happen (long polling: plain requests that any proxy passes)."""
    assistant_name = req.settings.appearance["title"]
    visitor_id = req.visitor.visitor_id
    account = req.account
    after = request.args.get("after")
    if after is None:
        messages = visible_messages(account, visitor_id)
        conversation = current_conversation(account, visitor_id)
        return jsonify(
            {
                "messages": serialize_messages(messages, assistant_name=assistant_name),
                "conversation": conversation_state(conversation),
                "cursor": make_cursor(messages),
                "typing": False,
            }
        )
    try:
        wait = float(request.args.get("wait", 0))
    except ValueError:
        wait = 0.0
    wait = max(0.0, min(wait, float(current_app.config["WIDGET_LONG_POLL_SECONDS"])))
    retry_ms = None
    if wait > 0 and not streams.served_here():
        # The web process never waits: answer now, and say when to ask again (the stream process long-polls).
        wait, retry_ms = 0.0, int(current_app.config["WIDGET_POLL_SECONDS"]) * 1000
    after_id, cursor_at = parse_cursor(after)
    since = cursor_at - CURSOR_SLACK if cursor_at else None

    def fresh(rows) -> bool:
        """Anything the visitor surely lacks (rows inside the look-back slack may be ones they have)."""
        return any(m.id > after_id or (cursor_at and m.sent_at and m.sent_at >= cursor_at) for m in rows)

    typing = None
    read_at = utcnow()
    messages = new_messages(account, visitor_id, after_id, since)
    conversation = current_conversation(account, visitor_id)
    if not fresh(messages) and wait > 0:
        slot = _slot(account.id, visitor_id)
        channels = [visitor_channel(account.id, visitor_id)]
        if conversation is not None:
            channels.append(realtime.conversation_channel(conversation.id))
        pubsub = _subscribe_or_503(slot, *channels)
        try:
            # Subscribed first, then read again: nothing that happens in between is missed.
            read_at = utcnow()
            messages = new_messages(account, visitor_id, after_id, since)
            deadline = time.monotonic() + wait
            state = conversation_state(conversation)
            # Wait until something the visitor sees changes: a delivered message, the conversation's state, typing.
            while not fresh(messages) and (remaining := deadline - time.monotonic()) > 0:
                db.session.remove()
                event = pubsub.get_message(timeout=remaining)
                if event is None:
                    continue
                data = _decode(event)
                read_at = utcnow()
                account = db.session.get(SocialAccount, req.account.id)
                messages = new_messages(account, visitor_id, after_id, since)
                conversation = current_conversation(account, visitor_id)
                if data.get("event") == "typing":
                    typing = bool(data.get("started"))
                    break
                if conversation_state(conversation) != state:
                    break
            else:
                if not fresh(messages):  # timed out: read once more so the cursor moves on
                    read_at = utcnow()
                    account = db.session.get(SocialAccount, req.account.id)
                    messages = new_messages(account, visitor_id, after_id, since)
                    conversation = current_conversation(account, visitor_id)
        finally:
            pubsub.close()
            slot.release()
    body = {
        "messages": serialize_messages(messages, assistant_name=assistant_name),
        "conversation": conversation_state(conversation),
        "cursor": make_cursor(messages, after_id=after_id, at=read_at),
        "typing": typing,
    }
    if retry_ms is not None:
        body["retry_ms"] = retry_ms
    return jsonify(body)


@bp.route(f"{API}/messages", methods=["GET", "POST", "OPTIONS"])
@visitor_api(needs_visitor=True)
def messages(key: str):
    """GET: the visitor's history, or a long poll for what is new (history_or_poll). POST: a new message
    (api.post_message)."""
    if request.method == "GET":
        return history_or_poll(current())
    return post_message(key)
