"""/api/webhooks/<channel>: verify, store the raw event, announce it, answer — in well under a millisecond of work,
with no platform or AI call in the request.

- Bad or missing signature: 403, nothing stored; an address sending many gets 429 (counted in Redis, and only
  failures are counted, so real deliveries never wait on the limiter).
- A body the platform would never send: 400. Too large: 413.
- The database down: 503, so the platform retries (Meta retries for hours).
- Redis down: the event is already stored, so 200; the sweeper (jobs/housekeeping.py) queues it later.
- The workers take the event from there (chatpad/pipeline/dispatch.py): an INSERT and an LPUSH, shared with
  whatever other deliveries arrive at the same moment (group commit, chatpad/webhooks/store.py), are all the request
  pays for. A delivery is answered in plain WSGI (Receiver); the handshake is a Flask view. Measured against the
  bare floor in bench/webhook_ack.py.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, abort, current_app, request
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import EnvironHeaders
from werkzeug.wsgi import get_current_url, get_input_stream

from chatpad.channels import CHANNELS, get_channel
from chatpad.channels.errors import AnomalousPayloadError, SignatureError

from . import bp
from .store import EventStore

log = logging.getLogger("chatpad.webhooks")
anomalous_log = logging.getLogger("chatpad.webhooks.anomalous")

# Channels whose events arrive by webhook (email is synced over IMAP; the widget has its own endpoints).
WEBHOOK_CHANNELS = ("facebook", "instagram", "sms", "whatsapp")


def _adapter(channel: str):
    if channel not in WEBHOOK_CHANNELS or channel not in CHANNELS:
        abort(404)
    return get_channel(channel)


@bp.get("/<channel>")
def verify(channel: str):
    """The platform's subscription handshake (Meta: hub.mode=subscribe, hub.verify_token, hub.challenge)."""
    adapter = _adapter(channel)
    try:
        body = adapter.handshake(request.args, current_app.config)
    except SignatureError as exc:
        log.warning("%s webhook verification refused: %s", channel, exc)
        if not _count_failure(request.remote_addr):
            return "Too many failed verifications", 429, {"Content-Type": "text/plain", "Retry-After": "60"}
        return "Verification failed", 403, {"Content-Type": "text/plain"}
    if body is None:
        abort(404)
    return body, 200, {"Content-Type": "text/plain"}


class Receiver:
    """The WSGI app at /api/webhooks: a delivery (POST /<channel>) is answered here, in plain WSGI; everything else
    (the GET handshake, other methods, other paths) goes to the webhook Flask app. A delivery needs none of Flask's
    request machinery (URL map, request and response objects, hooks), and on the product's hottest path that was a
    fifth of the request's CPU (bench/webhook_ack.py)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._store: EventStore | None = None

    def __call__(self, environ: dict, start_response):
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        channel = environ.get("PATH_INFO", "").strip("/")
        if channel in WEBHOOK_CHANNELS and channel in CHANNELS:
            status, body, headers = self.receive(channel, environ)
        else:
            status, body, headers = "404 Not Found", {"error": "no such webhook"}, []
        if isinstance(body, tuple):  # the channel's own acknowledgement (Twilio: empty TwiML)
            content_type, payload = body
        else:
            content_type, payload = "application/json", json.dumps(body).encode()
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(payload))), *headers])
        return [payload]

    def receive(self, channel: str, environ: dict) -> tuple[str, dict | tuple[str, bytes], list[tuple[str, str]]]:
        """Store one delivery durably and announce it to the dispatchers: (status line, JSON body or the channel's
        (content type, bytes) acknowledgement, extra headers)."""
        config = self.app.config
        limit = config["WEBHOOK_MAX_BYTES"]
        declared = environ.get("CONTENT_LENGTH")
        if declared and declared.isdigit() and int(declared) > limit:
            return "413 Request Entity Too Large", {"error": f"body larger than {limit} bytes"}, []
        body = get_input_stream(environ, max_content_length=None).read(limit + 1)
        if len(body) > limit:
            return "413 Request Entity Too Large", {"error": f"body larger than {limit} bytes"}, []
        adapter = get_channel(channel)
        try:
            self.verify(adapter, body, environ)
        except SignatureError as exc:
            remote = environ.get("REMOTE_ADDR") or "unknown"
            log.warning("%s webhook with a bad signature from %s: %s", channel, remote, exc)
            with self.app.app_context():
                allowed = _count_failure(remote)
            if not allowed:
                error = {"error": "too many requests that failed verification"}
                return "429 Too Many Requests", error, [("Retry-After", "60")]
            return "403 Forbidden", {"error": "invalid signature"}, []
        try:
            adapter.validate_envelope(body)
        except AnomalousPayloadError as exc:
            anomalous_log.warning("%s webhook refused: %s", channel, exc)
            return "400 Bad Request", {"error": str(exc)}, []
        try:
            self.store(channel, body, receipt=adapter.receipts_only(body, config))
        except SQLAlchemyError:
            log.exception("could not store a %s webhook; asking the platform to retry", channel)
            return "503 Service Unavailable", {"error": "temporarily unavailable"}, [("Retry-After", "30")]
        return "200 OK", adapter.webhook_ack(body), []

    def verify(self, adapter, body: bytes, environ: dict) -> None:
        """The adapter's signature check, told the URL the request was made to; inside the main app's context when
        the adapter reads its keys from the database (Twilio: each business's own Auth Token)."""
        headers = EnvironHeaders(environ)
        url = get_current_url(environ)
        if not adapter.verify_in_app_context:
            adapter.verify_request(body, headers, self.app.config, url=url)
            return
        with self.app.extensions["chatpad.main_app"].app_context():
            adapter.verify_request(body, headers, self.app.config, url=url)

    def store(self, channel: str, body: bytes, *, receipt: bool = False) -> None:
        """Committed and announced when it returns (chatpad/webhooks/store.py). The group-committing writer needs no
        app context in the request thread; SQLite's direct write (it announces from here) does."""
        store = self._store
        if store is None:
            with self.app.app_context():
                store = self._store = _event_store()
        if store.group_commit:
            store.store(channel, body, receipt=receipt)
        else:
            with self.app.app_context():
                store.store(channel, body, receipt=receipt)


# --- storing -------------------------------------------------------------------------------------------------------


def _event_store() -> EventStore:
    """The process's delivery writer, on an engine just for it: autocommit (the INSERT is the transaction: one
    round trip, durable when it returns), no reset or ping per checkout. A dropped connection fails its batch once,
    is invalidated, and the platform, told 503, retries."""
    store = current_app.extensions.get("chatpad.event_store")
    if store is None:
        engine = create_engine(
            current_app.config["SQLALCHEMY_DATABASE_URI"],
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            pool_pre_ping=False,
            hide_parameters=True,
        )
        store = current_app.extensions["chatpad.event_store"] = EventStore(current_app._get_current_object(), engine)
    return store


# --- throttling forged traffic -----------------------------------------------------------------------------------


def _limiter():
    ext = current_app.extensions
    if "chatpad.webhook_limiter" not in ext:
        storage = storage_from_string(current_app.config["RATELIMIT_STORAGE_URI"])
        ext["chatpad.webhook_limiter"] = (
            MovingWindowRateLimiter(storage),
            parse_limit(current_app.config["WEBHOOK_UNSIGNED_RATE_LIMIT"]),
        )
    return ext["chatpad.webhook_limiter"]


def _count_failure(remote_addr: str | None) -> bool:
    """Count a request that failed verification against its address; False once the address is over the limit
    (answer 429). Signed deliveries are never counted, so a platform's real traffic never waits on this."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    limiter, limit = _limiter()
    try:
        return limiter.hit(limit, "webhook-unsigned", remote_addr or "unknown")
    except Exception:  # Redis down: do not turn a forged request into a 500
        log.debug("could not count a failed webhook verification", exc_info=True)
        return True
