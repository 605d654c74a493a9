"""Long-lived connections (event streams, long polls): where they are served, and how many one client may hold.

A stream waits minutes on Redis pub/sub. On the web process's threads (gunicorn gthread) a few dozen of them would
take every thread, and webhooks and pages with them, so streams have a process of their own: the stream process,
`gunicorn -k gevent wsgi:streams`, where each stream is a greenlet and thousands wait at the cost of their sockets.
The same views serve both: where SERVES_STREAMS is off (the web process) a stream is refused at once (503, the
client polls) and a long poll answers without waiting. `streams_only` makes the stream process answer nothing else.

Browsers reach the stream process at `url(path)`: STREAMS_URL, or the page's host on STREAMS_PORT (development), or
the app's own origin when neither is set (a proxy routes the stream paths; see README "Running workers at scale").

Every stream or long poll holds a slot (`open_slot`):
- one process holds at most STREAMS_MAX_PER_PROCESS (503: that process is full, another may not be);
- one client IP at most STREAMS_MAX_PER_IP, one widget visitor STREAMS_MAX_PER_VISITOR and one signed-in user
  STREAMS_MAX_PER_USER (429 with Retry-After). These are counted in Redis as leases (a sorted set per IP, visitor or
  user: member = the slot, score = when its lease ends), renewed while the stream lives, so they hold across
  processes and machines, and the slots of a process that died stop counting within STREAMS_LEASE_SECONDS.
A slot costs one Redis round trip to open, one to close and one per STREAMS_LEASE_SECONDS / 3 while open.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from urllib.parse import urlsplit

from flask import Flask, current_app, request

log = logging.getLogger("chatpad.streams")

# The routes the stream process answers (method, path); everything else is the web process's.
STREAM_ROUTES = (
    (("GET", "OPTIONS"), re.compile(r"^/api/widget/[^/]{1,100}/(events|wait)$")),
    (("GET",), re.compile(r"^/admin/inbox/events$")),
    (("GET", "HEAD"), re.compile(r"^/healthz$")),
)

# KEYS: the lease sets; ARGV: now, lease end, slot id, lease ttl (s), then one limit per key.
# Returns 0 when the slot was taken in every set, or the 1-based index of the first set that is full.
_ACQUIRE = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[4 + i]) then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[3])
  redis.call('EXPIRE', key, ARGV[4])
end
return 0
"""


class StreamRefused(Exception):
    """No slot for this stream: answer `status` with Retry-After; the client polls instead."""

    def __init__(self, status: int, code: str, message: str, retry_after: int):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def served_here() -> bool:
    """Whether this process holds streams (the stream process) or refuses them at once (the web process)."""
    return bool(current_app.config.get("SERVES_STREAMS"))


def url(path: str) -> str:
    """The address browsers open a stream at: on the stream process, wherever it is published."""
    config = current_app.config
    if config.get("STREAMS_URL"):
        return str(config["STREAMS_URL"]).rstrip("/") + path
    port = config.get("STREAMS_PORT")
    if port:
        host = urlsplit(request.host_url).hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{request.scheme}://{host}:{int(port)}{path}"
    return path


def stream_origin() -> str | None:
    """The origin of the stream process when it is not the app's own (then pages need CORS to reach it)."""
    base = url("/")
    if base == "/":
        return None
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


def page_origin_allowed(origin: str | None) -> bool:
    """Whether a signed-in page on `origin` may open a stream here across origins: the app's own pages only (its
    PUBLIC_URL, or this host on another port, as `url()` gives them in development)."""
    if not origin:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    public = current_app.config.get("PUBLIC_URL")
    if public:
        own = urlsplit(public)
        if (own.scheme, own.netloc) == (parts.scheme, parts.netloc):
            return True
    return bool(current_app.config.get("STREAMS_PORT")) and parts.hostname == urlsplit(request.host_url).hostname


class _ProcessSlots:
    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.held >= self.limit:
                return False
            self.held += 1
            return True

    def give(self) -> None:
        with self.lock:
            self.held = max(0, self.held - 1)


def _process_slots(app: Flask) -> _ProcessSlots:
    slots = app.extensions.get("chatpad.streams.slots")
    if slots is None:
        slots = app.extensions.setdefault(
            "chatpad.streams.slots", _ProcessSlots(int(app.config["STREAMS_MAX_PER_PROCESS"]))
        )
    return slots


class StreamSlot:
    """One open stream's place: renew() while it lives, release() when it ends (safe to call more than once)."""

    def __init__(self, app: Flask, process: _ProcessSlots, keys: list[str], member: str, lease: int):
        self._app, self._process, self._keys, self._member, self._lease = app, process, keys, member, lease
        self._renewed = time.monotonic()
        self._released = False
        self._lock = threading.Lock()

    def renew(self) -> None:
        """Extend the leases when a third of their time has passed (a no-op otherwise)."""
        if self._released or time.monotonic() - self._renewed < self._lease / 3:
            return
        self._renewed = time.monotonic()
        try:
            redis = _redis(self._app)
            pipe = redis.pipeline(transaction=False)
            for key in self._keys:
                pipe.zadd(key, {self._member: time.time() + self._lease}, xx=True)
                pipe.expire(key, self._lease * 2)
            pipe.execute()
        except Exception:  # the stream goes on; at worst its lease lapses early and a limit counts one fewer
            log.warning("could not renew a stream's lease", exc_info=True)

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._process.give()
        try:
            redis = _redis(self._app)
            pipe = redis.pipeline(transaction=False)
            for key in self._keys:
                pipe.zrem(key, self._member)
            pipe.execute()
        except Exception:  # the lease lapses by itself
            log.warning("could not release a stream's lease", exc_info=True)


def _redis(app: Flask):
    with app.app_context():
        from chatpad.queue import get_redis

        return get_redis()


def open_slot(owner_kind: str, owner: str) -> StreamSlot:
    """A slot for a stream of this client (its IP) and owner ("visitor" with "<widget>:<visitor id>", or "user" with
    the user's id), or StreamRefused. The caller releases it when the stream ends."""
    app = current_app._get_current_object()
    config = app.config
    retry_after = int(config["STREAMS_RETRY_AFTER"])
    if not served_here():
        raise StreamRefused(503, "streams_elsewhere", "Live updates are served by the stream process.", retry_after)
    process = _process_slots(app)
    if not process.take():
        raise StreamRefused(503, "busy", "Too many live connections here; polling instead.", retry_after)
    limit_name = {"visitor": "STREAMS_MAX_PER_VISITOR", "user": "STREAMS_MAX_PER_USER"}[owner_kind]
    ip = request.remote_addr or "?"
    keys = [f"chatpad:streams:ip:{ip}", f"chatpad:streams:{owner_kind}:{owner}"]
    limits = [int(config["STREAMS_MAX_PER_IP"]), int(config[limit_name])]
    lease = int(config["STREAMS_LEASE_SECONDS"])
    member = secrets.token_hex(8)
    now = time.time()
    try:
        redis = _redis(app)
        script = app.extensions.get("chatpad.streams.acquire")
        if script is None:
            script = app.extensions.setdefault("chatpad.streams.acquire", redis.register_script(_ACQUIRE))
        full = int(script(keys=keys, args=[now, now + lease, member, lease * 2, *limits], client=redis))
    except Exception:
        process.give()
        log.warning("stream limits could not be checked; refusing the stream", exc_info=True)
        raise StreamRefused(503, "unavailable", "Live updates are unavailable; polling instead.", retry_after) from None
    if full:
        process.give()
        who = "your network" if full == 1 else ("this visitor" if owner_kind == "visitor" else "this user")
        log.info("stream refused: %s open from %s", limits[full - 1], who)
        raise StreamRefused(429, "too_many_streams", f"Too many live connections from {who}.", retry_after)
    return StreamSlot(app, process, keys, member, lease)


def streams_only(wsgi_app):
    """WSGI middleware for the stream process: the stream routes pass, anything else is 404 (pages, webhooks and
    the rest of the API are the web process's, on its threads)."""

    def app(environ, start_response):
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if any(method in methods and pattern.match(path) for methods, pattern in STREAM_ROUTES):
            return wsgi_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Cache-Control", "no-store")])
        return [b"Not a stream route: this is ChatPad's stream process.\n"]

    return app
