"""/sandbox-api/meta: drive the sandbox's Meta from tests, demos and the CLI (not part of Meta's API).

reset, the request log, failure injection, settings and webhook targets, the customer simulator, Page-inbox replies,
read receipts, threads, Pages, tokens and blocked people. JSON in, JSON out.
"""

from __future__ import annotations

import hashlib
import time

from flask import Blueprint, Response, current_app, jsonify, request

from chatpad.sandbox.recording import answer_bad_requests, control_spec

from . import simulator
from .simulator import SimulationError
from .world import DEMO_BUSINESS, FAILURE_KINDS, World

bp = Blueprint("sandbox_meta_api", __name__, url_prefix="/sandbox-api/meta")


def _world() -> World:
    return current_app.extensions["sandbox.meta.world"]


def _dispatcher():
    return current_app.extensions["sandbox.meta.dispatcher"]


_spec = control_spec
answer_bad_requests(bp)


@bp.post("/reset")
def reset():
    """Back to the seeded world; the webhook targets set by tests survive only if `keep_webhooks` is true."""
    world = _world()
    keep = dict(world.webhook_urls) if (request.get_json(silent=True) or {}).get("keep_webhooks") else None
    world.reset()
    _dispatcher().quiesce()
    if keep:
        world.webhook_urls.update(keep)
    return jsonify(ok=True)


@bp.get("/requests")
def requests_log():
    """Every Graph request received (newest last); ?path= substring and ?method= filter."""
    return jsonify(_world().request_log(request.args.get("path"), request.args.get("method")))


@bp.get("/failures")
def list_failures():
    return jsonify([vars(rule) for rule in _world().failures])


@bp.post("/failures")
def add_failure():
    """{"kind": one of FAILURE_KINDS, "count": N | "percent": P, "path": "/messages", "method": "POST",
    "delay": seconds, "retry_after": seconds, "process": bool, "skip": N (let N matching requests through first)}"""
    spec = _spec()
    kind = spec.pop("kind", None)
    if kind not in FAILURE_KINDS:
        raise SimulationError(f"kind must be one of {', '.join(FAILURE_KINDS)}")
    allowed = {"count", "percent", "path", "method", "delay", "retry_after", "process", "skip"}
    unknown = set(spec) - allowed
    if unknown:
        raise SimulationError(f"unknown option(s) {', '.join(sorted(unknown))}")
    rule = _world().add_failure(kind, **spec)
    return jsonify(vars(rule)), 201


@bp.delete("/failures")
def clear_failures():
    world = _world()
    with world.lock:
        world.failures.clear()
    return jsonify(ok=True)


@bp.get("/settings")
def get_settings():
    world = _world()
    return jsonify(settings=world.settings, webhook_urls=world.webhook_urls, app_id=world.app_id)


@bp.patch("/settings")
def patch_settings():
    """Change settings (auto_echo, auto_delivery, require_appsecret_proof, retry_delays, webhook_timeout) and
    webhook targets ({"webhook_urls": {"page": URL}})."""
    world = _world()
    spec = _spec()
    with world.lock:
        for key, value in (spec.get("settings") or {}).items():
            if key not in world.settings:
                raise SimulationError(f"unknown setting {key!r}")
            world.settings[key] = value
        for obj, url in (spec.get("webhook_urls") or {}).items():
            world.webhook_urls[obj] = url or None
    return get_settings()


@bp.get("/pages")
def pages():
    """The Pages (with their tokens: this is a sandbox) and their linked Instagram accounts."""
    world = _world()
    with world.lock:
        return jsonify(
            [
                {
                    **page.public(),
                    "access_token": page.access_token,
                    "instagram_username": world.instagram[page.instagram_id].username if page.instagram_id else None,
                }
                for page in world.pages.values()
            ]
        )


@bp.post("/pages")
def add_page():
    """A new Page: {"name", "id"?, "personal"?}; owned by the demo's business portfolio unless personal is true.
    Answered with its id and Page token."""
    spec = _spec()
    if not spec.get("name"):
        raise SimulationError("name is required")
    business = None if spec.get("personal") else DEMO_BUSINESS
    page = _world().add_page(spec.get("id"), spec["name"], business=business)
    return jsonify({**page.public(), "access_token": page.access_token}), 201


@bp.patch("/pages/<page_ref>")
def patch_page(page_ref: str):
    """{"subscribed_fields": [...]} — what the app is subscribed to on this Page."""
    world = _world()
    page = simulator.resolve_page(world, page_ref)
    spec = _spec()
    with world.lock:
        if "subscribed_fields" in spec:
            page.subscribed_fields = set(spec["subscribed_fields"] or [])
    return jsonify(page.public())


@bp.get("/users")
def users():
    world = _world()
    with world.lock:
        return jsonify(
            [
                {
                    "id": u.id,
                    "name": u.name,
                    "email": u.email,
                    "page_ids": u.page_ids,
                    "access_token": world.token_value("user", u.id),
                }
                for u in world.users.values()
            ]
        )


@bp.post("/tokens/invalidate")
def invalidate_token():
    """Kill a token as Meta would: {"page": ref} or {"token": value}, "subcode": 463 (expired, default), 460
    (password changed), 458 (app removed)…; {"revive": true} brings it back."""
    world = _world()
    spec = _spec()
    with world.lock:
        value = spec.get("token") or simulator.resolve_page(world, spec.get("page")).access_token
        token = world.tokens.get(value)
        if token is None:
            raise SimulationError("unknown token")
        token.invalid_subcode = None if spec.get("revive") else int(spec.get("subcode") or 463)
    return jsonify(ok=True)


@bp.post("/people/block")
def block_person():
    """The person blocks the Page (sends then fail with 551): {"page", "from"|"psid", "unblock": bool}."""
    world = _world()
    spec = _spec()
    page = simulator.resolve_page(world, spec.get("page"))
    thread = simulator.resolve_thread(world, page, spec.get("from"), spec.get("psid"))
    with world.lock:
        person = world.people[thread.person_id]
        if spec.get("unblock"):
            person.blocked_pages.discard(page.id)
        else:
            person.blocked_pages.add(page.id)
    return jsonify(ok=True, psid=thread.psid)


@bp.post("/simulate")
def simulate():
    """A customer action posted as a signed webhook: {"page", "from", "text", "kind"…} (see simulator.customer_says)."""
    return jsonify(simulator.customer_says(_world(), _dispatcher(), _spec()))


@bp.post("/batch")
def batch():
    """Several actions (several Pages) in one POST: {"events": [{…}, …]}."""
    spec = _spec()
    events = spec.get("events")
    if not isinstance(events, list) or not events:
        raise SimulationError("events must be a non-empty list")
    return jsonify(simulator.batch(_world(), _dispatcher(), events, wait=spec.get("wait", True)))


@bp.post("/page-reply")
def page_reply():
    """A person answers from the Page's own inbox: {"page", "from"|"psid", "text", "app_id"?}."""
    return jsonify(simulator.page_inbox_reply(_world(), _spec()))


@bp.post("/read")
def read():
    """The customer read the Page's messages: {"page", "from"|"psid"}."""
    return jsonify(simulator.mark_read(_world(), _dispatcher(), _spec()))


@bp.post("/age")
def age():
    """Pretend time passed: move the thread's last customer message back by {"hours"} ({"page", "from"|"psid"})."""
    world = _world()
    spec = _spec()
    page = simulator.resolve_page(world, spec.get("page"))
    thread = simulator.resolve_thread(world, page, spec.get("from"), spec.get("psid"))
    shift = int(float(spec.get("hours", 0)) * 3600 * 1000)
    with world.lock:
        for message in thread.messages:
            message.timestamp -= shift
        if thread.last_customer_at is not None:
            thread.last_customer_at -= shift
    return jsonify(thread.public())


@bp.get("/thread")
def thread():
    """One conversation as the customer sees it: ?page=&from= (or &psid=); ?since=<ms> for newer messages only."""
    world = _world()
    page = simulator.resolve_page(world, request.args.get("page"))
    thread = simulator.resolve_thread(world, page, request.args.get("from"), request.args.get("psid"))
    since = int(request.args.get("since") or 0)
    with world.lock:
        data = thread.public()
        person = world.people[thread.person_id]
    data["messages"] = [m for m in data["messages"] if m["timestamp"] > since]
    data["page"] = page.public()
    data["person"] = {"id": person.id, "name": person.name, "blocked": page.id in person.blocked_pages}
    return jsonify(data)


@bp.get("/threads")
def threads():
    """Every conversation (page id, psid, message count, last message)."""
    world = _world()
    with world.lock:
        return jsonify(
            [
                {
                    "page_id": t.page_id,
                    "psid": t.psid,
                    "person": world.people[t.person_id].name,
                    "messages": len(t.messages),
                    "last": t.messages[-1].text if t.messages else None,
                }
                for t in world.threads.values()
            ]
        )


@bp.get("/deliveries")
def deliveries():
    """The webhook POSTs made to the app (newest last) with each attempt's status; ?limit=N, ?body=1."""
    world = _world()
    limit = int(request.args.get("limit") or 50)
    with_body = request.args.get("body") in ("1", "true")
    with world.lock:
        items = list(world.deliveries)[-limit:]
        return jsonify([d.public(with_body=with_body) for d in items])


_COLORS = ("#1877f2", "#42b72a", "#f02849", "#f7b928", "#8c44f7", "#0fb5ae", "#e4572e", "#3578e5")


@bp.get("/avatar/<person_id>.svg")
def avatar(person_id: str):
    """A profile picture for a simulated person (what profile_pic points at)."""
    world = _world()
    person = world.people.get(person_id)
    initials = "".join(part[:1] for part in (person.name.split()[:2] if person else ["?"])).upper()
    color = _COLORS[int(hashlib.sha256(person_id.encode()).hexdigest(), 16) % len(_COLORS)]
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        f'<circle cx="48" cy="48" r="48" fill="{color}"/><text x="48" y="60" font-family="system-ui,sans-serif" '
        f'font-size="36" fill="#fff" text-anchor="middle">{initials}</text></svg>'
    )
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "max-age=3600"})


@bp.get("/health")
def health():
    return jsonify(ok=True, time=time.time())
