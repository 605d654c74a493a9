"""Live updates: what changed in a conversation, published on Redis pub/sub for the inbox and the widget.

Channels: chatpad:<redis db>:org:<organization_id> (the inbox of that organization) and
chatpad:<redis db>:conv:<conversation_id> (one conversation: its open view in the inbox, the visitor's widget).
Events are small JSON objects; a subscriber that
needs more reads the database. Publishing never fails the caller: a missed live update is refreshed on the next poll.

Events: message.created, message.updated (delivery status, edits, deletes), conversation.updated (status, takeover,
assignment), typing (started: true/false, while the AI works).

Subscribers (the stream process's event streams and long polls) share one Redis connection per process: `subscribe`
registers them with the process's hub, which holds a single pub/sub connection subscribed to the union of their
channels and hands each message to the subscriptions of its channel. A thousand open streams cost one Redis
connection, not a thousand; a subscriber whose queue is full (it stopped reading) loses messages, which the database
catches up, never blocking the others.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger("chatpad.realtime")


def _namespace() -> str:
    """Pub/sub channels are server-wide (Redis ignores the database number for them), so they carry the db number:
    two deployments or test sessions sharing one Redis server on different databases never hear each other."""
    from chatpad.queue import get_redis

    db = get_redis().connection_pool.connection_kwargs.get("db", 0)
    return f"chatpad:{db}"


def org_channel(organization_id: int) -> str:
    return f"{_namespace()}:org:{organization_id}"


def conversation_channel(conversation_id: Any) -> str:
    return f"{_namespace()}:conv:{conversation_id}"


def publish(organization_id: int, conversation_id: Any, event: str, data: dict[str, Any] | None = None) -> None:
    """Tell live subscribers about a change. Call after the change is committed."""
    from chatpad.queue import get_redis

    payload = json.dumps(
        {"event": event, "conversation_id": str(conversation_id), **(data or {})}, separators=(",", ":"), default=str
    )
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.publish(org_channel(organization_id), payload)
        pipe.publish(conversation_channel(conversation_id), payload)
        pipe.execute()
    except Exception:  # a live update is best-effort; the database is the truth
        log.warning("could not publish %s for conversation %s", event, conversation_id, exc_info=True)


def subscribe(*channels: str) -> Subscription:
    """A subscription to the given channels, on this process's shared pub/sub connection (the caller closes it).

    It reads like redis-py's PubSub: get_message(timeout) returns {"type": "message", "channel", "data"} or None,
    subscribe(*more) adds channels, close() ends it. If the shared connection breaks, get_message raises
    redis.exceptions.ConnectionError once, and the hub reconnects and resubscribes by itself."""
    from flask import current_app

    app = current_app._get_current_object()
    hub = app.extensions.get("chatpad.realtime.hub")
    if hub is None:
        with _hub_lock:
            hub = app.extensions.get("chatpad.realtime.hub")
            if hub is None:
                hub = app.extensions["chatpad.realtime.hub"] = Hub(app.config["REDIS_URL"])
    subscription = Subscription(hub)
    if channels:
        subscription.subscribe(*channels)
    return subscription


_hub_lock = threading.Lock()
_LOST = object()  # put in every subscription's queue when the shared connection broke


class Subscription:
    """One subscriber's view of the hub: its channels and a bounded queue of their messages."""

    MAX_QUEUED = 1000

    def __init__(self, hub: Hub):
        self._hub = hub
        self.channels: set[bytes] = set()
        self.queue: queue.Queue = queue.Queue(self.MAX_QUEUED)
        self.closed = False

    def subscribe(self, *channels: str) -> None:
        self._hub.add(self, [c.encode() for c in channels])

    def get_message(self, timeout: float = 0.0) -> dict | None:
        try:
            item = self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
        except queue.Empty:
            return None
        if item is _LOST:
            raise RedisConnectionError("live updates lost their Redis connection")
        return item

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub.remove(self)

    def deliver(self, message: Any) -> None:
        try:
            self.queue.put_nowait(message)
        except queue.Full:  # a subscriber that stopped reading: it catches up from the database
            pass


class Hub:
    """One pub/sub connection per process, shared by every subscription; a reader thread (a greenlet under
    gevent) hands each message to the subscriptions of its channel. Channels are subscribed while someone wants
    them and unsubscribed when the last one leaves."""

    def __init__(self, redis_url: str):
        # No health-check pings from the reader: only the writers below write to the connection (under the lock).
        self._pubsub = Redis.from_url(redis_url, health_check_interval=0).pubsub(ignore_subscribe_messages=True)
        self._lock = threading.Lock()
        self._by_channel: dict[bytes, set[Subscription]] = {}
        self._reader: threading.Thread | None = None
        self._stale = False  # the connection broke: reconnect and resubscribe before reading again

    def add(self, subscription: Subscription, channels: list[bytes]) -> None:
        with self._lock:
            new = [c for c in channels if c not in self._by_channel]
            for channel in channels:
                self._by_channel.setdefault(channel, set()).add(subscription)
                subscription.channels.add(channel)
            if new:
                try:
                    self._pubsub.subscribe(*new)
                except Exception:
                    for channel in new:
                        self._by_channel.pop(channel, None)
                        subscription.channels.discard(channel)
                    self._stale = True  # the reader reconnects and resubscribes the rest
                    raise
            if self._reader is None or not self._reader.is_alive():
                self._reader = threading.Thread(target=self._read, name="chatpad-realtime-hub", daemon=True)
                self._reader.start()

    def remove(self, subscription: Subscription) -> None:
        with self._lock:
            gone = []
            for channel in subscription.channels:
                members = self._by_channel.get(channel)
                if members is None:
                    continue
                members.discard(subscription)
                if not members:
                    del self._by_channel[channel]
                    gone.append(channel)
            subscription.channels.clear()
            if gone:
                try:
                    self._pubsub.unsubscribe(*gone)
                except Exception:  # the connection is down; it resubscribes only what is still wanted
                    log.warning("could not unsubscribe from %d channels", len(gone), exc_info=True)

    def subscribers(self) -> int:
        with self._lock:
            return len({s for members in self._by_channel.values() for s in members})

    def _read(self) -> None:
        while True:
            if self._stale:
                self._reconnect()
                if self._stale:
                    time.sleep(1.0)
                    continue
            try:
                message = self._pubsub.get_message(timeout=1.0)
            except Exception:
                log.warning("live updates lost Redis; reconnecting", exc_info=True)
                with self._lock:
                    everyone = {s for members in self._by_channel.values() for s in members}
                for subscription in everyone:
                    subscription.deliver(_LOST)
                self._stale = True
                time.sleep(1.0)
                continue
            if not message or message.get("type") != "message":
                continue
            with self._lock:
                members = list(self._by_channel.get(message["channel"], ()))
            for subscription in members:
                subscription.deliver(message)

    def _reconnect(self) -> None:
        with self._lock:
            try:
                self._pubsub.reset()
                if self._by_channel:
                    self._pubsub.subscribe(*self._by_channel)
                self._stale = False
            except Exception:
                log.warning("live updates could not resubscribe yet", exc_info=True)
