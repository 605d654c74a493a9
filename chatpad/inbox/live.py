"""Live updates for open inbox pages: server-sent events from Redis pub/sub (chatpad.realtime), with short polling
as the fallback.

Streams are served by the stream process (chatpad.streams: a greenlet each, never one of the web's threads), each
holding one Redis connection and no database connection while it waits; the web process refuses them at once (503).
Each stream holds a slot: beyond STREAMS_MAX_PER_USER for one person or STREAMS_MAX_PER_IP for one address the answer
is 429, and when a process is full, 503; the page then polls (ETag'd partials: an unchanged list costs a 304) and
tries a stream again later. A stream is closed after INBOX_SSE_MAX_SECONDS (the browser's EventSource reconnects by
itself), with a comment line every INBOX_SSE_HEARTBEAT_SECONDS so idle proxies keep the connection and a closed tab
is noticed. Events carry ids only; the page fetches what changed through the same scoped views as everything else.
When the stream process is on another origin (development: another port), the app's own pages may open it with
their cookie (CORS with credentials, for those origins only).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

from flask import Response, current_app, request
from redis.exceptions import RedisError

from chatpad import streams
from chatpad.realtime import subscribe

log = logging.getLogger("chatpad.inbox.live")

STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    # nginx buffers responses by default, which would hold every event back; this turns it off for the stream.
    # https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffering
    "X-Accel-Buffering": "no",
}


def _cors(headers: dict[str, str]) -> dict[str, str]:
    """CORS headers for one of the app's own pages on another origin than the stream process's (development)."""
    origin = request.headers.get("Origin")
    if origin and origin != f"{request.scheme}://{request.host}" and streams.page_origin_allowed(origin):
        return {
            **headers,
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
    return headers


def _frame(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


def event_stream(channels: list[str], user_id: int) -> Response:
    """A text/event-stream response relaying the events published on these Redis channels for this user, or the
    refusal (429: too many of theirs or their address's; 503: not here, or this process is full) that makes the
    page poll."""
    app = current_app._get_current_object()
    poll_ms = int(app.config.get("INBOX_POLL_SECONDS", 10)) * 1000
    headers = _cors(STREAM_HEADERS)
    if not app.config.get("INBOX_SSE_ENABLED", True):
        return Response("Live updates are off; poll instead.\n", 503, {"Retry-After": "30", **headers})
    try:
        slot = streams.open_slot("user", str(user_id))
    except streams.StreamRefused as exc:
        return Response(f"{exc.message} Poll instead.\n", exc.status, {"Retry-After": str(exc.retry_after), **headers})
    try:
        pubsub = subscribe(*channels)
    except Exception:
        slot.release()
        return Response("Live updates are unavailable; poll instead.\n", 503, {"Retry-After": "30", **headers})
    max_seconds = float(app.config.get("INBOX_SSE_MAX_SECONDS", 300))
    heartbeat = float(app.config.get("INBOX_SSE_HEARTBEAT_SECONDS", 5))
    released = threading.Event()

    def release() -> None:
        # Called by the generator's finally and by the server's close(); a client gone before the first byte never
        # starts the generator, so its finally alone would leak the slot.
        if released.is_set():
            return
        released.set()
        try:
            pubsub.close()
        finally:
            slot.release()

    def stream() -> Iterator[str]:
        try:
            # retry: how long EventSource waits before reconnecting; "ready" tells the page the stream works
            # (a buffering proxy would hold it back, and the page falls back to polling).
            yield f"retry: {min(poll_ms, 5000)}\n" + _frame("ready", json.dumps({"poll_ms": poll_ms}))
            started = last = time.monotonic()
            while time.monotonic() - started < max_seconds:
                try:
                    message = pubsub.get_message(timeout=1.0)
                except RedisError:
                    # Redis went away: end the stream; the page reconnects, or polls if that fails too.
                    log.warning("live updates stream lost Redis; closing it", exc_info=True)
                    break
                slot.renew()
                now = time.monotonic()
                if message and message.get("type") == "message":
                    data = message["data"].decode() if isinstance(message["data"], bytes) else message["data"]
                    try:
                        event = str(json.loads(data).get("event") or "message")
                    except (ValueError, AttributeError):
                        continue
                    yield _frame(event, data)
                    last = now
                elif now - last >= heartbeat:
                    yield ": keep-alive\n\n"
                    last = now
            yield _frame("bye", "{}")
        finally:
            release()

    return Response(_ClosingStream(stream(), release), mimetype="text/event-stream", headers=headers)


class _ClosingStream:
    """An iterator whose close() (which WSGI servers call when the client goes) always frees the stream's slot."""

    def __init__(self, generator: Iterator[str], release) -> None:
        self._generator = generator
        self._release = release

    def __iter__(self):
        return self

    def __next__(self) -> str:
        return next(self._generator)

    def close(self) -> None:
        try:
            self._generator.close()
        finally:
            self._release()
