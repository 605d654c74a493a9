"""The sandbox's WhatsApp Cloud API: the demo WABA's numbers, POST /{phone-number-id}/messages, read receipts,
media by id, GET /{waba-id}/phone_numbers, and webhooks (object whatsapp_business_account) signed with the app
secret, batched like Meta's. Statuses follow each send (sent, delivered); a free-form message outside the customer's
24-hour window is accepted and then fails late with 131047, as the Cloud API does it
(sms-whatsapp-reference.md §A7). The control API is /sandbox-api/whatsapp; docs/sandbox.md.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from chatpad import demo_data as D
from chatpad.sandbox.recording import answer_bad_requests

from .graph import GraphError, GraphRequest, route
from .world import SEED_HOOKS, World

OBJECT = "whatsapp_business_account"
WINDOW_S = 24 * 3600
TYPES = ("text", "image", "video", "audio", "document", "sticker", "interactive", "template", "location", "reaction")

# The demo WABA's message templates, as GET /{waba-id}/message_templates lists them ([META-OAS] example; categories
# MARKETING | UTILITY | AUTHENTICATION, statuses APPROVED | PENDING | REJECTED …; sms-whatsapp-reference.md §A7).
TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "follow_up",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, this is {{2}}. You asked us about a home: are you still interested? Reply here and "
                "we will pick up where we left off.",
                "example": {"body_text": [["Maria", "Forge at the Lake"]]},
            },
            {"type": "FOOTER", "text": "Reply STOP to stop these messages"},
        ],
    },
    {
        "name": "tour_reminder",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Your tour"},
            {
                "type": "BODY",
                "text": "Hi {{1}}, a reminder of your tour of {{2}} on {{3}}. See you there!",
                "example": {"body_text": [["Maria", "Forge at the Lake", "Friday at 10:00"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [{"type": "QUICK_REPLY", "text": "Confirm"}, {"type": "QUICK_REPLY", "text": "Reschedule"}],
            },
        ],
    },
    {
        "name": "seguimiento",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hola {{1}}, le escribe {{2}}. ¿Sigue interesado en una casa? Responda aquí y seguimos.",
                "example": {"body_text": [["María", "Forge at the Lake"]]},
            }
        ],
    },
    {
        "name": "spring_open_house",
        "language": "en_US",
        "status": "REJECTED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Open house this weekend! {{1}}", "example": {"body_text": [["Come by"]]}}
        ],
    },
    {
        "name": "rent_receipt",
        "language": "en_US",
        "status": "PENDING",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "We received your payment of {{1}}.", "example": {"body_text": [["$650"]]}}
        ],
    },
]
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")

bp = Blueprint("sandbox_whatsapp_api", __name__, url_prefix="/sandbox-api/whatsapp")
cdn = Blueprint("sandbox_whatsapp_cdn", __name__)


@dataclass
class WaNumber:
    id: str  # phone_number_id
    number: str  # E.164
    name: str
    location_slug: str


@dataclass
class WaThread:
    number_id: str
    wa_id: str
    last_customer_at: float | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)


def _seed(world: World) -> None:
    world.wa_numbers = {}
    world.wa_threads = {}
    world.wa_media = {}
    world.waba_id = D.waba_id()
    for loc in D.LOCATIONS:
        pid = D.whatsapp_phone_number_id(loc)
        world.wa_numbers[pid] = WaNumber(pid, D.whatsapp_number(loc), loc.name, loc.slug)
    world.wa_templates = [dict(t, id=str(7_100_000_000_000_000 + i)) for i, t in enumerate(TEMPLATES)]
    world.wa_subscribed = {}  # waba id -> the override callback, for POST /{waba-id}/subscribed_apps
    world.issue_token("whatsapp", world.waba_id, scopes=("whatsapp_business_messaging",))
    base = world.default_webhook_base
    world.webhook_urls[OBJECT] = f"{base}/api/webhooks/whatsapp" if base else None


SEED_HOOKS.append(_seed)


def _wamid() -> str:
    return "wamid.Sbx" + secrets.token_urlsafe(24)


def _digits(value: str) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def _thread(world: World, number_id: str, wa_id: str) -> WaThread:
    key = (number_id, wa_id)
    if key not in world.wa_threads:
        world.wa_threads[key] = WaThread(number_id, wa_id)
    return world.wa_threads[key]


def _value(world: World, number: WaNumber, **fields: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": _digits(number.number), "phone_number_id": number.id},
        **fields,
    }


def envelope(world: World, values: list[dict[str, Any]]) -> dict[str, Any]:
    """One POST: one entry (the WABA) with a change per value."""
    return {
        "object": OBJECT,
        "entry": [{"id": world.waba_id, "changes": [{"field": "messages", "value": v} for v in values]}],
    }


def _post_later(app, payload: dict[str, Any], delay: float) -> None:
    """Statuses arrive after the send's answer, like Meta's."""
    dispatcher = app.extensions["sandbox.meta.dispatcher"]
    world = dispatcher.world
    generation = world.generation

    def post() -> None:
        if world.generation == generation:  # the world was reset meanwhile: Meta forgot about it
            dispatcher.submit(OBJECT, payload)

    timer = threading.Timer(delay, post)
    timer.daemon = True
    timer.start()


def _status(number: WaNumber, wamid: str, wa_id: str, status: str, errors: list | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": wa_id}
    if errors:
        item["errors"] = errors
    return item


# --- Graph routes ---


def _number_for(req: GraphRequest) -> WaNumber | None:
    return req.world.wa_numbers.get(req.match.group("id")) if hasattr(req.world, "wa_numbers") else None


@route("POST", r"(?P<id>\d+)/messages", first=True)
def send_message(req: GraphRequest) -> Any:
    number = _number_for(req)
    if number is None:
        return NotImplemented  # a Page's or Instagram account's Send API
    req.token("whatsapp")
    world = req.world
    body = req.body if isinstance(req.body, dict) else {}
    if body.get("messaging_product") != "whatsapp":
        raise GraphError("(#100) The parameter messaging_product is required.", 100)
    if body.get("status") == "read":
        target = str(body.get("message_id") or "")
        with world.lock:
            for thread in world.wa_threads.values():
                for m in thread.messages:
                    if m["id"] == target:
                        m["read"] = True
                        if body.get("typing_indicator"):
                            m["typing_shown"] = True
                        return {"success": True}
        raise GraphError("(#100) Invalid parameter: message_id", 100)
    wa_id = _digits(body.get("to") or "")
    if not wa_id:
        raise GraphError("(#100) The parameter to is required.", 100)
    kind = body.get("type") or "text"
    if kind not in TYPES or not isinstance(body.get(kind), dict):
        raise GraphError(f"(#100) Param {kind} is required for type {kind}", 100)
    if kind == "text" and len(str(body["text"].get("body") or "")) > 4096:
        raise GraphError("(#100) Param text['body'] must be at most 4096 characters long.", 100)
    if kind == "interactive":
        _check_interactive(body["interactive"])
    if kind == "template":
        _check_template(world, body["template"])
    wamid = _wamid()
    app = current_app._get_current_object()
    with world.lock:
        thread = _thread(world, number.id, wa_id)
        open_window = thread.last_customer_at is not None and time.time() - thread.last_customer_at <= WINDOW_S
        thread.messages.append({"id": wamid, "sender": "business", "type": kind, kind: body[kind], "at": time.time()})
    statuses = [_status(number, wamid, wa_id, "sent")]
    if kind == "template" or open_window:
        statuses.append(_status(number, wamid, wa_id, "delivered"))
    else:
        error = {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {
                "details": "Message failed to send because more than 24 hours have passed since the customer last "
                "replied to this number."
            },
        }
        statuses.append(_status(number, wamid, wa_id, "failed", [error]))
    with world.lock:  # what the customer's phone shows (the simulator page)
        thread.messages[-1]["status"] = statuses[-1]["status"]
        if statuses[-1].get("errors"):
            thread.messages[-1]["error"] = statuses[-1]["errors"][0]["code"]
    for i, item in enumerate(statuses):
        _post_later(app, envelope(world, [_value(world, number, statuses=[item])]), 0.2 * (i + 1))
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": body.get("to"), "wa_id": wa_id}],
        "messages": [{"id": wamid}],
    }


def _check_template(world: World, block: dict[str, Any]) -> None:
    """A template send names an APPROVED template in its language and fills every placeholder of its body; Meta
    refuses the rest synchronously (132001, 132000; sms-whatsapp-reference.md §A8)."""
    name = str(block.get("name") or "")
    code = str((block.get("language") or {}).get("code") or "")
    template = next((t for t in world.wa_templates if t["name"] == name and t["language"] == code), None)
    if template is None or template["status"] != "APPROVED":
        raise GraphError(f"(#132001) Template name does not exist in the translation: {name} ({code})", 132001)
    body = next((c for c in template["components"] if c["type"] == "BODY"), {"text": ""})
    expected = len(set(PLACEHOLDER.findall(body["text"])))
    given = [
        p
        for c in block.get("components") or []
        if str(c.get("type") or "").lower() == "body"
        for p in c.get("parameters") or []
    ]
    if len(given) != expected:
        raise GraphError(
            f"(#132000) Number of parameters does not match the expected number of params: body expected {expected}, "
            f"received {len(given)}",
            132000,
        )
    if any(not str(p.get("text") or "").strip() for p in given):
        raise GraphError("(#131008) Required parameter is missing: template body parameter text", 131008)


def _check_interactive(block: dict[str, Any]) -> None:
    action = block.get("action") or {}
    if block.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise GraphError("(#131009) Parameter value is not valid: buttons count should be between 1 and 3", 131009)
        for b in buttons:
            if len(str((b.get("reply") or {}).get("title") or "")) > 20:
                raise GraphError("(#131009) Parameter value is not valid: button title length is too long", 131009)
    elif block.get("type") == "list":
        rows = [r for s in action.get("sections") or [] for r in s.get("rows") or []]
        if not 1 <= len(rows) <= 10:
            raise GraphError("(#131009) Parameter value is not valid: rows count should be between 1 and 10", 131009)
        if any(len(str(r.get("title") or "")) > 24 for r in rows) or len(str(action.get("button") or "")) > 20:
            raise GraphError("(#131009) Parameter value is not valid: row title length is too long", 131009)
    else:
        raise GraphError("(#131009) Parameter value is not valid: interactive type", 131009)


@route("GET", r"(?P<id>\d+)", first=True)
def media_info(req: GraphRequest) -> Any:
    number = _number_for(req)
    if number is not None:
        # GET /{phone-number-id}: the number as WhatsApp Manager shows it (registered on the Cloud API).
        req.token("whatsapp")
        return {
            "id": number.id,
            "display_phone_number": number.number,
            "verified_name": number.name,
            "quality_rating": "GREEN",
            "code_verification_status": "VERIFIED",
            "platform_type": "CLOUD_API",
            "status": "CONNECTED",
            "throughput": {"level": "STANDARD"},
        }
    media = getattr(req.world, "wa_media", {}).get(req.match.group("id"))
    if media is None:
        return NotImplemented
    req.token("whatsapp")
    base = request.host_url.rstrip("/")
    return {
        "messaging_product": "whatsapp",
        "url": f"{base}/whatsapp-media/{media['id']}?ext=1",
        "mime_type": media["mime_type"],
        "sha256": hashlib.sha256(media["data"]).hexdigest(),
        "file_size": str(len(media["data"])),
        "id": media["id"],
    }


@route("GET", r"(?P<id>\d+)/phone_numbers", first=True)
def phone_numbers(req: GraphRequest) -> Any:
    if req.match.group("id") != getattr(req.world, "waba_id", None):
        return NotImplemented
    req.token("whatsapp")
    return {
        "data": [
            {"id": n.id, "display_phone_number": n.number, "verified_name": n.name, "quality_rating": "GREEN"}
            for n in req.world.wa_numbers.values()
        ]
    }


@route("GET", r"(?P<id>\d+)/message_templates", first=True)
def message_templates(req: GraphRequest) -> Any:
    """GET /{waba-id}/message_templates[?name=&status=&limit=&after=]: the WABA's templates, a page at a time, with
    Meta's cursors (paging.next only when there is more)."""
    world = req.world
    if req.match.group("id") != getattr(world, "waba_id", None):
        return NotImplemented
    req.token("whatsapp")
    rows = list(world.wa_templates)
    if req.param("name"):
        rows = [t for t in rows if str(req.param("name")) in t["name"]]
    if req.param("status"):
        rows = [t for t in rows if t["status"] == str(req.param("status")).upper()]
    try:
        limit = max(1, min(int(req.param("limit") or 25), 100))
        start = int(base64.urlsafe_b64decode(str(req.param("after"))).decode()) if req.param("after") else 0
    except ValueError:
        raise GraphError("(#100) Invalid parameter", 100) from None
    page = rows[start : start + limit]
    paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page) - 1)}}
    if start + limit < len(rows):
        after = _cursor(start + limit)
        paging["cursors"]["after"] = after
        paging["next"] = (
            f"{request.host_url.rstrip('/')}/{req.match.group('id')}/message_templates?limit={limit}&after={after}"
        )
    return {"data": page, "paging": paging}


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(max(index, 0)).encode()).decode()


@route("POST", r"(?P<id>\d+)/subscribed_apps", first=True)
def waba_subscribe(req: GraphRequest) -> Any:
    """POST /{waba-id}/subscribed_apps (an empty body, or override_callback_uri + verify_token): the app receives the
    WABA's webhooks ([META-OAS] /{WABA-ID}/subscribed_apps)."""
    world = req.world
    if req.match.group("id") != getattr(world, "waba_id", None):
        return NotImplemented
    req.token("whatsapp")
    override = req.param("override_callback_uri")
    with world.lock:
        world.wa_subscribed[world.waba_id] = {"override_callback_uri": override, "at": time.time()}
        if override:
            world.webhook_urls[OBJECT] = str(override)
    answer: dict[str, Any] = {"success": True}
    if override:
        answer["data"] = [{"override_callback_uri": override}]
    return answer


@route("GET", r"(?P<id>\d+)/subscribed_apps", first=True)
def waba_subscriptions(req: GraphRequest) -> Any:
    world = req.world
    if req.match.group("id") != getattr(world, "waba_id", None):
        return NotImplemented
    req.token("whatsapp")
    if world.waba_id not in world.wa_subscribed:
        return {"data": []}
    return {
        "data": [
            {"whatsapp_business_api_data": {"id": world.app_id, "name": "ChatPad", "link": "https://chatpad.example/"}}
        ]
    }


@route("DELETE", r"(?P<id>\d+)/subscribed_apps", first=True)
def waba_unsubscribe(req: GraphRequest) -> Any:
    world = req.world
    if req.match.group("id") != getattr(world, "waba_id", None):
        return NotImplemented
    req.token("whatsapp")
    with world.lock:
        world.wa_subscribed.pop(world.waba_id, None)
    return {"success": True}


@cdn.get("/whatsapp")
def whatsapp_page():
    """The simulator: be a customer on a community's WhatsApp number (sandbox/_phone_chat.html's layout)."""
    world: World = current_app.extensions["sandbox.meta.world"]
    with world.lock:
        rows = [{"number": n.number, "location": n.location_slug, "name": n.name} for n in world.wa_numbers.values()]
    return render_template(
        "sandbox/whatsapp.html", numbers=sorted(rows, key=lambda r: r["name"]), api_prefix="/sandbox-api/whatsapp/"
    )


@cdn.get("/whatsapp-media/<media_id>")
def media_file(media_id: str) -> Response:
    """The file, only with the WABA's token (a plain GET gets nothing, like lookaside.fbsbx.com)."""
    world: World = current_app.extensions["sandbox.meta.world"]
    media = world.wa_media.get(media_id)
    auth = request.headers.get("Authorization", "")
    token = world.tokens.get(auth.split(None, 1)[1].strip()) if auth.lower().startswith("bearer ") else None
    if media is None or token is None or token.kind != "whatsapp":
        return Response("Forbidden", 403)
    return Response(media["data"], mimetype=media["mime_type"])


# --- control API: be a customer ---


def _world() -> World:
    return current_app.extensions["sandbox.meta.world"]


def _find_number(world: World, ref: str) -> WaNumber:
    ref = (ref or "").strip().lower()
    if ref.isdigit() and int(ref) < len(D.LOCATIONS):
        ref = D.LOCATIONS[int(ref)].slug
    for n in world.wa_numbers.values():
        if ref in (n.id, n.location_slug, n.name.lower(), n.number, _digits(n.number)):
            return n
    raise ValueError(f"no WhatsApp number for location {ref!r}")


def _customer_message(world: World, number: WaNumber, wa_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"from": wa_id, "id": _wamid(), "timestamp": str(int(time.time()))}
    if spec.get("photo"):
        media_id = str(10**15 + len(world.wa_media) + 1)
        data = b"\x89PNG\r\n\x1a\n" + hashlib.sha256(media_id.encode()).digest()
        world.wa_media[media_id] = {"id": media_id, "mime_type": "image/png", "data": data}
        message.update(
            type="image", image={"id": media_id, "mime_type": "image/png", "caption": spec.get("text") or ""}
        )
    elif spec.get("button"):
        button = spec["button"]
        message.update(type="interactive", interactive={"type": "button_reply", "button_reply": button})
    elif spec.get("row"):
        message.update(type="interactive", interactive={"type": "list_reply", "list_reply": spec["row"]})
    else:
        message.update(type="text", text={"body": str(spec.get("text") or "")})
    return message


answer_bad_requests(bp)


@bp.post("/simulate")
def simulate():
    """{"location", "from": "+1…", "text" | "texts": [...] (one batched POST) | "photo" | "button", "name"}: a
    customer writes to a community's WhatsApp number; the signed webhook is posted before this answers."""
    spec = request.get_json(silent=True) or {}
    world = _world()
    number = _find_number(world, str(spec.get("location") or ""))
    wa_id = _digits(spec.get("from") or "+15125550123")
    texts = spec.get("texts") or [spec.get("text") or ""]
    with world.lock:
        thread = _thread(world, number.id, wa_id)
        messages = [_customer_message(world, number, wa_id, {**spec, "text": t}) for t in texts]
        thread.last_customer_at = time.time()
        for m in messages:
            thread.messages.append({**m, "sender": "customer", "at": time.time()})
    contacts = [{"profile": {"name": spec.get("name") or "Sandbox Customer"}, "wa_id": wa_id}]
    payload = envelope(world, [_value(world, number, contacts=contacts, messages=messages)])
    delivery = current_app.extensions["sandbox.meta.dispatcher"].submit(OBJECT, payload, wait=True)
    return jsonify(
        number=number.number,
        phone_number_id=number.id,
        **{"from": "+" + wa_id},
        ids=[m["id"] for m in messages],
        delivery=delivery.public(with_body=False),
    )


@bp.post("/age")
def age():
    """{"location", "from", "hours"}: the customer last wrote `hours` ago (to step outside the 24-hour window)."""
    spec = request.get_json(silent=True) or {}
    world = _world()
    number = _find_number(world, str(spec.get("location") or ""))
    with world.lock:
        thread = _thread(world, number.id, _digits(spec.get("from") or ""))
        thread.last_customer_at = time.time() - float(spec.get("hours") or 0) * 3600
    return jsonify(ok=True)


@bp.get("/thread")
def thread_view():
    """?location&from: the conversation as the customer's phone shows it."""
    world = _world()
    number = _find_number(world, request.args.get("location", ""))
    with world.lock:
        thread = _thread(world, number.id, _digits(request.args.get("from") or ""))
        messages = [
            dict(m, rendered=_rendered(world, m)) if m.get("type") == "template" else m for m in thread.messages
        ]
        last = thread.last_customer_at
        return jsonify(
            number=number.number,
            customer="+" + thread.wa_id,
            messages=messages,
            window_open=last is not None and time.time() - last <= WINDOW_S,
            last_customer_at=last,
        )


def _rendered(world: World, message: dict[str, Any]) -> str:
    """A template message as the customer's phone shows it: header, body with the parameters, footer."""
    block = message.get("template") or {}
    template = next(
        (
            t
            for t in world.wa_templates
            if t["name"] == block.get("name") and t["language"] == (block.get("language") or {}).get("code")
        ),
        None,
    )
    if template is None:
        return f"(template {block.get('name')})"
    values = [
        str(p.get("text") or "")
        for c in block.get("components") or []
        if str(c.get("type") or "").lower() == "body"
        for p in c.get("parameters") or []
    ]
    parts = []
    for component in template["components"]:
        text = str(component.get("text") or "")
        if component["type"] == "BODY":
            text = PLACEHOLDER.sub(
                lambda m: values[int(m.group(1)) - 1] if int(m.group(1)) <= len(values) else m.group(0), text
            )
        if text:
            parts.append(text)
    return "\n\n".join(parts)


@bp.get("/numbers")
def numbers():
    world = _world()
    return jsonify([vars(n) for n in world.wa_numbers.values()])


@bp.get("/templates")
def templates_list():
    """The demo WABA's templates (what GET /{waba-id}/message_templates pages through)."""
    return jsonify(_world().wa_templates)


@bp.post("/templates")
def templates_upsert():
    """{"name", "language", "status", "category"?, "components"?}: add a template or change one (e.g. Meta approved
    or rejected it), as WhatsApp Manager would."""
    spec = request.get_json(silent=True) or {}
    name, language = str(spec.get("name") or ""), str(spec.get("language") or "en_US")
    if not re.fullmatch(r"[a-z0-9_]{1,512}", name):
        raise ValueError("a template name is lowercase letters, digits and underscores")
    world = _world()
    with world.lock:
        template = next((t for t in world.wa_templates if t["name"] == name and t["language"] == language), None)
        if template is None:
            template = {
                "id": str(7_100_000_000_000_000 + len(world.wa_templates) + 100),
                "name": name,
                "language": language,
                "category": "UTILITY",
                "parameter_format": "POSITIONAL",
                "components": [{"type": "BODY", "text": "Hello {{1}}", "example": {"body_text": [["Maria"]]}}],
            }
            world.wa_templates.append(template)
        before = template.get("status")
        template["status"] = str(spec.get("status") or template.get("status") or "APPROVED").upper()
        for key in ("category", "components"):
            if spec.get(key):
                template[key] = spec[key]
    if template["status"] != before:
        # Meta tells the WABA's subscribed apps about every review ([PYWA] template_status_update.json).
        value = {
            "event": template["status"],
            "message_template_id": int(template["id"]),
            "message_template_name": template["name"],
            "message_template_language": template["language"],
            "reason": spec.get("reason") or "NONE",
            "message_template_category": template.get("category"),
        }
        payload = {
            "object": OBJECT,
            "entry": [
                {
                    "id": world.waba_id,
                    "time": int(time.time()),
                    "changes": [{"field": "message_template_status_update", "value": value}],
                }
            ],
        }
        current_app.extensions["sandbox.meta.dispatcher"].submit(OBJECT, payload, wait=True)
    return jsonify(template)


@bp.delete("/templates/<name>")
def templates_delete(name: str):
    world = _world()
    with world.lock:
        world.wa_templates = [t for t in world.wa_templates if t["name"] != name]
    return jsonify(ok=True)


@bp.get("/subscriptions")
def subscriptions():
    """Which WABAs the app is subscribed to (POST /{waba-id}/subscribed_apps), with the override callback if any."""
    return jsonify(_world().wa_subscribed)
