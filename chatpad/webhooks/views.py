"""/api/webhooks/<channel>: verify, store the raw event, enqueue, answer — in milliseconds, with no platform or AI
call in the request.

- Bad or missing signature: 403, nothing stored. A body the platform would never send: 400. Too large: 413.
- The database down: 503, so the platform retries (Meta retries for hours).
- Redis down: the event is already stored, so 200; the sweeper (jobs/housekeeping.py) enqueues it later.
"""

from __future__ import annotations

import logging

from flask import abort, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from chatpad.channels import CHANNELS, get_channel
from chatpad.channels.errors import AnomalousPayloadError, SignatureError
from chatpad.extensions import db, limiter
from chatpad.models import WebhookEvent
from chatpad.queue import INBOUND_RETRY, enqueue, job_id

from . import bp

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
        return "Verification failed", 403, {"Content-Type": "text/plain"}
    if body is None:
        abort(404)
    return body, 200, {"Content-Type": "text/plain"}


@bp.post("/<channel>")
@limiter.limit(lambda: current_app.config.get("WEBHOOK_RATE_LIMIT", "6000 per minute"))
def receive(channel: str):
    """Store one delivery durably and hand it to the inbound queue."""
    adapter = _adapter(channel)
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return {"error": f"body larger than {limit} bytes"}, 413
    body = request.get_data(cache=False)
    if len(body) > limit:
        return {"error": f"body larger than {limit} bytes"}, 413
    try:
        adapter.verify_request(body, request.headers, current_app.config)
    except SignatureError as exc:
        log.warning("%s webhook with a bad signature from %s: %s", channel, request.remote_addr, exc)
        return {"error": "invalid signature"}, 403
    try:
        adapter.validate_envelope(body)
    except AnomalousPayloadError as exc:
        anomalous_log.warning("%s webhook refused: %s", channel, exc)
        return {"error": str(exc)}, 400

    try:
        event = WebhookEvent(channel=channel, body=body)
        db.session.add(event)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not store a %s webhook; asking the platform to retry", channel)
        return {"error": "temporarily unavailable"}, 503, {"Retry-After": "30"}

    try:
        enqueue(
            "inbound", "jobs.inbound.process_event", event.id, job_id=job_id("event", event.id), retry=INBOUND_RETRY
        )
    except Exception:  # Redis down: the event is stored; the sweeper enqueues it when Redis is back
        log.warning("stored %s event %s but could not enqueue it; the sweeper will", channel, event.id, exc_info=True)
    return {"status": "received"}, 200
