"""The sandbox's Meta: the Graph API (/graph), the control API (/sandbox-api/meta) and the Messenger page.

See docs/sandbox.md. init_meta(app) builds the World from the app's config (META_APP_ID, META_APP_SECRET and
PUBLIC_URL, the app whose /api/webhooks/<key> receives the webhooks) and registers the blueprints.
"""

from __future__ import annotations

from flask import Flask

from .webhooks import Dispatcher
from .world import World


def init_meta(app: Flask) -> World:
    """Attach a seeded World and its webhook dispatcher to the sandbox app and register the Meta blueprints."""
    # Importing send_api and instagram registers their Graph routes; Instagram's go ahead of Messenger's and pass
    # on every id that is not Instagram's. oauth: Facebook Login, /me/accounts, subscribed_apps, debug_token.
    from . import control, graph, instagram, messenger, oauth, send_api, whatsapp  # noqa: F401

    world = World(
        app_id=app.config.get("META_APP_ID") or "sandbox-app",
        app_secret=app.config["META_APP_SECRET"],
        webhook_base=app.config.get("PUBLIC_URL") or None,
    )
    app.extensions["sandbox.meta.world"] = world
    app.extensions["sandbox.meta.dispatcher"] = Dispatcher(world)
    app.register_blueprint(graph.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(messenger.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(oauth.api)
    app.register_blueprint(instagram.bp)
    app.register_blueprint(instagram.cdn)
    app.register_blueprint(instagram.page_bp)
    app.register_blueprint(whatsapp.bp)
    app.register_blueprint(whatsapp.cdn)
    app.extensions["sandbox.parts"].extend(
        [
            ("/messenger", "Messenger", "write to the demo's Facebook Pages as a customer and watch the replies"),
            ("/instagram", "Instagram", "DM the demo's Instagram accounts, mention them in a story, reply to theirs"),
            (
                "/whatsapp",
                "WhatsApp",
                "write to the demo's WhatsApp numbers as a customer; tap buttons, age the window",
            ),
            (
                "/sandbox-api/whatsapp/numbers",
                "WhatsApp numbers",
                "the demo WABA's numbers and templates (…/templates); POST /sandbox-api/whatsapp/simulate to write",
            ),
            ("/sandbox-api/meta/requests", "Graph API log", "every Graph API request ChatPad made (JSON)"),
            ("/sandbox-api/meta/deliveries", "Meta webhooks", "every webhook posted to ChatPad, with its attempts"),
            (
                "/sandbox-api/meta/oauth/dialogs",
                "Facebook Login",
                "every login dialog ChatPad opened (Connect Facebook)",
            ),
        ]
    )
    return world
