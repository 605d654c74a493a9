"""/sandbox-api/twilio: drive the sandbox's Twilio from tests, the simulator page and the CLI (not Twilio's API).

reset, a customer's text (simulate), the request log, webhook deliveries, failure injection, settings, threads,
numbers, accounts (with their secrets: this is a sandbox), API keys, opt-outs.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, jsonify, request

from chatpad.channels.phone import maybe_e164
from chatpad.sandbox.recording import answer_bad_requests, control_spec

from . import simulator
from .simulator import SimulationError
from .world import FAILURE_KINDS, TwilioWorld

bp = Blueprint("sandbox_twilio_control", __name__, url_prefix="/sandbox-api/twilio")


def _world() -> TwilioWorld:
    return current_app.extensions["sandbox.twilio.world"]


_spec = control_spec
answer_bad_requests(bp)


@bp.post("/reset")
def reset():
    """Back to the seeded demo account; webhook URLs of the numbers and services as `webhook_base` says (or
    PUBLIC_URL's)."""
    world = _world()
    base = (request.get_json(silent=True) or {}).get("webhook_base")
    if base is not None:
        world.webhook_base = base.rstrip("/") or None
    world.reset()
    return jsonify(ok=True)


@bp.post("/simulate")
def simulate():
    """A customer texts a demo number: {"location", "from", "text", "photo", "media", "wait"}."""
    base = request.host_url.rstrip("/")  # media URLs on the sandbox, as the caller reached it
    return jsonify(simulator.texts(_world(), current_app.extensions["sandbox.twilio.dispatcher"], _spec(), base))


@bp.get("/thread")
def thread():
    """The texts between a demo number and a customer: ?location=&from=&since= (ms)."""
    world = _world()
    number = world.number_for_location(request.args.get("location", ""))
    customer = maybe_e164(request.args.get("from", ""))
    if number is None or customer is None:
        raise SimulationError("location and from are required")
    messages = world.thread(number, customer, int(request.args.get("since", 0) or 0))
    return jsonify(
        number=number.phone_number, customer=customer, opted_out=world.opted_out(number, customer), messages=messages
    )


@bp.get("/numbers")
def numbers():
    world = _world()
    with world.lock:
        rows = []
        for number in sorted(world.numbers.values(), key=lambda n: n.friendly_name):
            service = world.service_of(number)
            rows.append(
                number.public()
                | {
                    "location": number.location_slug,
                    "inbound_url": world.inbound_url(number),
                    "messaging_service_sid": service.sid if service else None,
                }
            )
    return jsonify(rows)


@bp.get("/accounts")
def accounts():
    """The accounts with their Auth Tokens and API keys (a sandbox: the connect screen needs something to type)."""
    world = _world()
    with world.lock:
        return jsonify(
            [
                {
                    "sid": a.sid,
                    "auth_token": a.auth_token,
                    "friendly_name": a.friendly_name,
                    "status": a.status,
                    "api_keys": a.api_keys,
                }
                for a in world.accounts.values()
            ]
        )


@bp.post("/accounts/<account_sid>/keys")
def add_key(account_sid: str):
    world = _world()
    account = world.accounts.get(account_sid)
    if account is None:
        raise SimulationError("no such account")
    key_sid, secret = "SK" + secrets.token_hex(16), secrets.token_urlsafe(24)
    with world.lock:
        account.api_keys[key_sid] = secret
    return jsonify(sid=key_sid, secret=secret), 201


@bp.post("/accounts/<account_sid>/rotate-token")
def rotate_token(account_sid: str):
    """A new Auth Token (the old one stops working at once, as when it is promoted in Twilio's console)."""
    world = _world()
    account = world.accounts.get(account_sid)
    if account is None:
        raise SimulationError("no such account")
    with world.lock:
        account.auth_token = secrets.token_hex(16)
    return jsonify(auth_token=account.auth_token)


@bp.get("/requests")
def requests_log():
    return jsonify(_world().request_log(request.args.get("path"), request.args.get("method")))


@bp.get("/deliveries")
def deliveries():
    world = _world()
    limit = int(request.args.get("limit", 100))
    with world.lock:
        rows = [d.public() for d in list(world.deliveries)[-limit:]]
    return jsonify(rows)


@bp.get("/messages")
def messages():
    """Every message Twilio holds (?direction= inbound | outbound-api | outbound-reply)."""
    world = _world()
    direction = request.args.get("direction")
    with world.lock:
        rows = [m.public() for m in world.messages.values() if direction is None or m.direction == direction]
    rows.sort(key=lambda m: m["timestamp"])
    return jsonify(rows)


@bp.post("/failures")
def add_failure():
    """{"kind": one of FAILURE_KINDS, "count": N, "path": "/Messages.json", "method": "POST", "delay", "retry_after"}"""
    spec = _spec()
    kind = spec.pop("kind", None)
    if kind not in FAILURE_KINDS:
        raise SimulationError(f"kind must be one of {', '.join(FAILURE_KINDS)}")
    unknown = set(spec) - {"count", "path", "method", "delay", "retry_after"}
    if unknown:
        raise SimulationError(f"unknown option(s) {', '.join(sorted(unknown))}")
    return jsonify(vars(_world().add_failure(kind, **spec))), 201


@bp.delete("/failures")
def clear_failures():
    world = _world()
    with world.lock:
        world.failures.clear()
    return jsonify(ok=True)


@bp.get("/settings")
def get_settings():
    return jsonify(settings=_world().settings)


@bp.patch("/settings")
def patch_settings():
    world = _world()
    for key, value in (_spec().get("settings") or {}).items():
        if key not in world.settings:
            raise SimulationError(f"unknown setting {key!r}")
        world.settings[key] = value
    return get_settings()


@bp.post("/opt-outs")
def opt_out():
    """Block a customer at Twilio without a STOP reaching ChatPad (as if they opted out on another app): the next
    send answers 21610. {"location", "from"}"""
    world = _world()
    spec = _spec()
    number = world.number_for_location(str(spec.get("location") or ""))
    customer = maybe_e164(str(spec.get("from") or ""))
    if number is None or customer is None:
        raise SimulationError("location and from are required")
    with world.lock:
        world.opt_outs.add((world.opt_out_scope(number), customer))
    return jsonify(ok=True)
