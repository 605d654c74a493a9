"""Live updates for open inbox pages: server-sent events from Redis pub/sub (chatpad.realtime), with short polling
as the fallback.

A stream holds one web thread (gunicorn runs gthread workers) and one Redis connection for as long as it is open,
so streams are bounded: at most INBOX_SSE_MAX_STREAMS per process (the rest of the threads keep serving pages), each
closed after INBOX_SSE_MAX_SECONDS (the browser's EventSource reconnects by itself), with a comment line every
INBOX_SSE_HEARTBEAT_SECONDS so idle proxies keep the connection and a closed tab is noticed. When every slot is
taken the answer is 503 and the page polls instead (ETag'd partials: an unchanged list costs a 304). Events carry
ids only; the page fetches what changed through the same scoped views as everything else.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app
from redis.exceptions import RedisError

from chatpad.realtime import subscribe

log = logging.getLogger("chatpad.inbox.live")

STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    # nginx buffers responses by default, which would hold every event back; this turns it off for the stream.
    # https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffering
    "X-Accel-Buffering": "no",
}


def _slots(app: Flask) -> threading.BoundedSemaphore:
    slots = app.extensions.get("chatpad.inbox.sse_slots")
    if slots is None:
        with _slots_lock:
            slots = app.extensions.get("chatpad.inbox.sse_slots")
            if slots is None:
                slots = threading.BoundedSemaphore(int(app.config.get("INBOX_SSE_MAX_STREAMS", 4)))
                app.extensions["chatpad.inbox.sse_slots"] = slots
    return slots


_slots_lock = threading.Lock()


def _frame(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


def event_stream(channels: list[str]) -> Response:
    """A text/event-stream response relaying the events published on these Redis channels, or 503 when this
    process already holds its maximum of streams (the page then polls)."""
    app = current_app._get_current_object()
    poll_ms = int(app.config.get("INBOX_POLL_SECONDS", 10)) * 1000
    if not app.config.get("INBOX_SSE_ENABLED", True):
        return Response("Live updates are off; poll instead.\n", 503, {"Retry-After": "30", **STREAM_HEADERS})
    slots = _slots(app)
    if not slots.acquire(blocking=False):
        return Response("Too many live connections; poll instead.\n", 503, {"Retry-After": "30", **STREAM_HEADERS})
    try:
        pubsub = subscribe(*channels)
    except Exception:
        slots.release()
        return Response("Live updates are unavailable; poll instead.\n", 503, {"Retry-After": "30"})
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
            slots.release()

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

    return Response(_ClosingStream(stream(), release), mimetype="text/event-stream", headers=STREAM_HEADERS)


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
