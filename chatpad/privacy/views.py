"""Public privacy endpoints: Meta's data deletion callback and the status page it points people to.

- POST /api/privacy/meta-data-deletion: signed by Meta (chatpad.privacy.meta); no session, no CSRF token. A request
  whose signature fails gets 403 and nothing is stored; an address that keeps sending them gets 429.
- GET /privacy/deletion/<confirmation code>: the human-readable status Meta requires, rate limited per address.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from sqlalchemy import select

from chatpad.extensions import csrf, db, limiter
from chatpad.models import DataDeletionRequest
from chatpad.security import hit_limit

from .meta import SignedRequestError, parse_signed_request, record_request

bp = Blueprint("privacy", __name__)
log = logging.getLogger("chatpad.privacy.meta")


def _status_limit() -> str:
    return current_app.config.get("PRIVACY_STATUS_RATE_LIMIT", "60 per minute")


@bp.post("/api/privacy/meta-data-deletion")
@csrf.exempt
def meta_data_deletion():
    """Meta's Data Deletion Request Callback: verify, record, queue, answer {url, confirmation_code}."""
    try:
        signed = parse_signed_request(request.form.get("signed_request"), current_app.config.get("META_APP_SECRET"))
    except SignedRequestError as exc:
        log.warning("refused a data deletion callback from %s: %s", request.remote_addr, exc)
        if not _count_failure():
            return jsonify(error="too many requests that failed verification"), 429, {"Retry-After": "60"}
        return jsonify(error="invalid signed_request"), 403
    deletion = record_request(signed.user_id)
    try:
        from chatpad.queue import enqueue, job_id

        enqueue("default", "jobs.privacy.process_deletion_request", deletion.id, job_id=job_id("deletion", deletion.id))
    except Exception:  # Redis down: the request is stored; the privacy sweep carries it out later
        log.warning("could not queue deletion request %s; the sweep will", deletion.id, exc_info=True)
    return jsonify(url=status_url(deletion.confirmation_code), confirmation_code=deletion.confirmation_code)


@bp.get("/privacy/deletion/<code>")
@limiter.limit(_status_limit)
def deletion_status(code: str):
    """The status of one deletion request, for the person who asked (found by its confirmation code)."""
    if not code.isalnum() or len(code) > 64:
        abort(404)
    deletion = db.session.scalar(select(DataDeletionRequest).where(DataDeletionRequest.confirmation_code == code))
    if deletion is None:
        return render_template("privacy/deletion_status.html", deletion=None, code=code), 404
    return render_template("privacy/deletion_status.html", deletion=deletion, code=code)


def status_url(code: str) -> str:
    """The absolute URL of a request's status page (PUBLIC_URL when set: Meta shows it to the person)."""
    path = url_for("privacy.deletion_status", code=code)
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return f"{base}{path}" if base else url_for("privacy.deletion_status", code=code, _external=True)


def _count_failure() -> bool:
    """Count a request that failed verification against its address; False once it is over the limit (429).
    Signed requests are never counted. Same limit as the webhooks' (WEBHOOK_UNSIGNED_RATE_LIMIT)."""
    limit = current_app.config["WEBHOOK_UNSIGNED_RATE_LIMIT"]
    return hit_limit("privacy-unsigned", request.remote_addr or "unknown", limit)
