"""/api/webhooks/<channel>: verify, store the raw event, announce it, answer — in well under a millisecond of work,
with no platform or AI call in the request.

- Bad or missing signature: 403, nothing stored; an address sending many gets 429 (counted in Redis, and only
  failures are counted, so real deliveries never wait on the limiter).
- A body the platform would never send: 400. Too large: 413.
- The database down: 503, so the platform retries (Meta retries for hours).
- Redis down: the event is already stored, so 200; the sweeper (jobs/housekeeping.py) queues it later.
- The RQ job is created by a dispatcher in the workers (chatpad/pipeline/dispatch.py), not here: an INSERT and an
  LPUSH, shared with whatever other deliveries arrive at the same moment (group commit, chatpad/webhooks/store.py),
  are all the request pays for. Measured against the bare floor in bench/webhook_ack.py.
"""

from __future__ import annotations

import logging

from flask import abort, current_app, request
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from chatpad.channels import CHANNELS, get_channel
from chatpad.channels.errors import AnomalousPayloadError, SignatureError

from . import bp
from .store import EventStore

log = logging.getLogger("chatpad.webhooks")
anomalous_log = logging.getLogger("chatpad.webhooks.anomalous")

# Channels whose events arrive by webhook (email is synced over IMAP; the widget has its own endpoints).
WEBHOOK_CHANNELS = ("facebook", "instagram", "sms")


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
        if not _count_failure():
            return "Too many failed verifications", 429, {"Content-Type": "text/plain", "Retry-After": "60"}
        return "Verification failed", 403, {"Content-Type": "text/plain"}
    if body is None:
        abort(404)
    return body, 200, {"Content-Type": "text/plain"}


@bp.post("/<channel>")
def receive(channel: str):
    """Store one delivery durably and announce it to the dispatchers."""
    adapter = _adapter(channel)
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return {"error": f"body larger than {limit} bytes"}, 413
    body = request.get_data()
    if len(body) > limit:
        return {"error": f"body larger than {limit} bytes"}, 413
    try:
        adapter.verify_request(body, request.headers, current_app.config)
    except SignatureError as exc:
        log.warning("%s webhook with a bad signature from %s: %s", channel, request.remote_addr, exc)
        if not _count_failure():
            return {"error": "too many requests that failed verification"}, 429, {"Retry-After": "60"}
        return {"error": "invalid signature"}, 403
    try:
        adapter.validate_envelope(body)
    except AnomalousPayloadError as exc:
        anomalous_log.warning("%s webhook refused: %s", channel, exc)
        return {"error": str(exc)}, 400

    try:
        _event_store().store(channel, body)  # committed and announced (chatpad/webhooks/store.py)
    except SQLAlchemyError:
        log.exception("could not store a %s webhook; asking the platform to retry", channel)
        return {"error": "temporarily unavailable"}, 503, {"Retry-After": "30"}
    return {"status": "received"}, 200


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


def _count_failure() -> bool:
    """Count a request that failed verification against its address; False once the address is over the limit
    (answer 429). Signed deliveries are never counted, so a platform's real traffic never waits on this."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    limiter, limit = _limiter()
    try:
        return limiter.hit(limit, "webhook-unsigned", request.remote_addr or "unknown")
    except Exception:  # Redis down: do not turn a forged request into a 500
        log.debug("could not count a failed webhook verification", exc_info=True)
        return True
