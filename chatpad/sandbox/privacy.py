"""The sandbox's side of Meta's Data Deletion Request Callback: send ChatPad the request Meta sends when someone
removes the app and asks for their data to be deleted (a signed_request keyed with the app secret).

/privacy: a page with the form; /sandbox-api/meta/data-deletion (POST {"user_id": …}): the same for scripts and
tests. Both post to ChatPad's /api/privacy/meta-data-deletion (PUBLIC_URL) and show what it answered.
"""

from __future__ import annotations

import time

import requests
from flask import Blueprint, Flask, current_app, jsonify, render_template, request

from chatpad.privacy.meta import make_signed_request

bp = Blueprint("sandbox_privacy", __name__)

CALLBACK_PATH = "/api/privacy/meta-data-deletion"


def send_deletion_request(user_id: str) -> dict:
    """POST a signed deletion request for this app-scoped user id to ChatPad; ChatPad's status and JSON answer."""
    config = current_app.config
    signed = make_signed_request(user_id, config["META_APP_SECRET"], issued_at=int(time.time()))
    url = (config.get("PUBLIC_URL") or "").rstrip("/") + CALLBACK_PATH
    try:
        response = requests.post(url, data={"signed_request": signed}, timeout=10)
    except requests.RequestException as exc:
        return {"url": url, "status": None, "error": f"could not reach ChatPad: {type(exc).__name__}"}
    try:
        body = response.json()
    except ValueError:
        body = {"raw": response.text[:500]}
    return {"url": url, "status": response.status_code, "body": body}


@bp.route("/privacy", methods=["GET", "POST"])
def page():
    """A person removes the app in their Facebook settings and asks for their data to be deleted."""
    result = None
    user_id = (request.form.get("user_id") or "").strip()
    if request.method == "POST" and user_id:
        result = send_deletion_request(user_id)
    return render_template("sandbox/privacy.html", result=result, user_id=user_id)


@bp.post("/sandbox-api/meta/data-deletion")
def api():
    """Send a deletion request for {"user_id": …}; answers with what ChatPad answered."""
    user_id = str((request.get_json(silent=True) or {}).get("user_id") or "").strip()
    if not user_id:
        return jsonify(error="user_id is required"), 400
    return jsonify(send_deletion_request(user_id))


def init_privacy(app: Flask) -> None:
    """Register the data deletion part and list it on the sandbox's index."""
    app.register_blueprint(bp)
    app.extensions["sandbox.parts"].append(
        ("/privacy", "Data deletion", "ask ChatPad to delete a Facebook user's data, as Meta's callback does")
    )
