"""Platform webhooks: /api/webhooks/<channel key>. Verify, store the raw event, announce it, answer 200.

The webhook path is the product's hottest and most important one: a platform retries or unsubscribes an app that is
slow to acknowledge. It is mounted into the main app at /api/webhooks on its own: a delivery (POST) is answered in
plain WSGI by views.Receiver — verify, one INSERT and one LPUSH shared with the deliveries arriving at the same
moment — and pays for nothing the admin needs (sessions, sign-in, CSRF, the admin's rate limiter, Flask's request
machinery); the subscription handshake (GET) is served by a small Flask app of its own.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from flask.sessions import SessionInterface

bp = Blueprint("webhooks", __name__)


class NoSessions(SessionInterface):
    """Platforms send no cookies and get none: no session is read or written on the webhook path."""

    def open_session(self, app, request):
        return None  # Flask then uses a null session, which is never saved

    def save_session(self, app, session, response) -> None:
        return None


PREFIX = "/api/webhooks"


def create_webhook_app(main: Flask) -> Flask:
    """The webhook receiver: the main app's configuration, none of its request machinery."""
    app = Flask("chatpad.webhooks", instance_path=main.instance_path)
    app.config.update(main.config)
    app.session_interface = NoSessions()
    # Shared objects that are safe across the two apps (the cipher, the Redis pool).
    for key in ("chatpad.cipher",):
        app.extensions[key] = main.extensions[key]
    # Adapters whose signature keys live in the database (SMS) verify inside the main app's context.
    app.extensions["chatpad.main_app"] = main
    from . import views  # noqa: F401  (routes on bp)

    app.register_blueprint(bp)
    return app
