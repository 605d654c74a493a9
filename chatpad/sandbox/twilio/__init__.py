"""The sandbox's Twilio: its REST API (/twilio, /twilio-messaging), signed webhooks, the control API
(/sandbox-api/twilio) and the SMS simulator page (/sms). docs/sandbox.md."""

from __future__ import annotations

from flask import Flask, render_template

from chatpad import demo_data as D

from .webhooks import TwilioDispatcher
from .world import TwilioWorld


def init_twilio(app: Flask) -> TwilioWorld:
    from . import api, control

    world = TwilioWorld(app.config["META_APP_SECRET"], webhook_base=app.config.get("PUBLIC_URL") or None)
    app.extensions["sandbox.twilio.world"] = world
    app.extensions["sandbox.twilio.dispatcher"] = TwilioDispatcher(world)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.messaging)
    app.register_blueprint(control.bp)

    @app.get("/sms")
    def sms_page():
        with world.lock:
            numbers = sorted(world.numbers.values(), key=lambda n: n.friendly_name)
            rows = [
                {
                    "number": n.phone_number,
                    "location": n.location_slug,
                    "name": next((loc.name for loc in D.LOCATIONS if loc.slug == n.location_slug), n.friendly_name),
                    "pool": world.service_of(n) is not None,
                }
                for n in numbers
            ]
        return render_template(
            "sandbox/sms.html", numbers=sorted(rows, key=lambda r: r["name"]), api_prefix="/sandbox-api/twilio/"
        )

    app.extensions["sandbox.parts"].extend(
        [
            ("/sms", "SMS", "text the demo's community numbers as a customer (Twilio), STOP and START included"),
            ("/sandbox-api/twilio/requests", "Twilio API log", "every Twilio REST request ChatPad made (JSON)"),
            ("/sandbox-api/twilio/deliveries", "Twilio webhooks", "every signed webhook posted to ChatPad"),
            ("/sandbox-api/twilio/accounts", "Twilio account", "the demo account's SID and Auth Token, to connect it"),
        ]
    )
    return world
