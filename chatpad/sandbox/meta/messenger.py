"""/messenger: the customer's side of Messenger, in the browser. Pick a Page, write as a customer, watch the replies.

This is what a new user tries after `make run`: the page posts through the same simulator as the tests, so what
they see is exactly what ChatPad received and sent.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("sandbox_meta_messenger", __name__)


@bp.get("/messenger")
def messenger():
    world = current_app.extensions["sandbox.meta.world"]
    with world.lock:
        pages = sorted((p.public() for p in world.pages.values()), key=lambda p: p["name"])
    return render_template("sandbox/messenger.html", pages=pages, app_id=world.app_id)
