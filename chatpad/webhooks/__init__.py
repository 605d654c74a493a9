"""Platform webhooks: /api/webhooks/<channel key>. Verify, store the raw event, enqueue, answer 200."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")

from . import views  # noqa: E402,F401
