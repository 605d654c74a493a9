"""The sandbox's Instagram: professional accounts linked to the demo Pages, their customers and stories.

What ChatPad's Instagram client can tell apart from Meta, made faithful (platform-reference.md §A–§C):
- Graph: POST /<PAGE_ID|me>/messages with the Page's token and an IGSID recipient (the Page-linked path), with
  Instagram's limits (text ≤ 1000 UTF-8 bytes, ≤ 13 quick replies, only the HUMAN_AGENT tag) and error codes
  (10/2534022 outside the window, 100/2534014 no matching user); GET /<IGSID> (name, username, profile_pic);
  GET /<MID>?fields=story for story mentions. Other ids fall through to the Messenger routes.
- Webhooks: object "instagram", entry.id = the IG account id, signed like Messenger's; echoes come with the
  `messages` field (no app_id unless the `ig_echo_app_id` setting is on: Meta does not document one).
- Stories: a customer's story that mentions the business, or the business's own story a customer replies to, has
  a CDN link that works until it expires (`story_ttl_seconds`, Meta: about 24 h) and then answers 403 "URL
  signature expired", like Meta's CDN; the link carries its expiry as hex epoch seconds in `oe`.
- The customer simulator (simulate_instagram) and the control API under /sandbox-api/meta/instagram.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from chatpad.sandbox.recording import answer_bad_requests, control_spec

from .graph import GraphError, GraphRequest, route
from .send_api import MESSAGING_TYPES, SENDER_ACTIONS, length_error, param_error
from .simulator import SimulationError
from .webhooks import envelope
from .world import HUMAN_AGENT_WINDOW_S, STANDARD_WINDOW_S, InstagramAccount, Thread, ThreadMessage, World, now_ms

MAX_TEXT_BYTES = 1000
ATTACHMENT_TYPES = ("image", "video", "audio", "file")
WINDOW_MESSAGE = "(#10) This message is sent outside of allowed window."
NO_USER_MESSAGE = "(#100) No matching user found"

# What a customer can do in an Instagram DM (simulate_instagram's kinds).
EVENT_KINDS = (
    "text",
    "quick_reply",
    "attachment",
    "story_mention",
    "story_reply",
    "postback",
    "reaction",
    "unreact",
    "seen",
    "edit",
    "unsend",
    "referral",
    "unsupported",
)
INBOUND_ATTACHMENTS = ("image", "video", "audio", "file", "share", "ig_reel", "ig_post", "sticker")

bp = Blueprint("sandbox_meta_instagram", __name__, url_prefix="/sandbox-api/meta/instagram")
cdn = Blueprint("sandbox_meta_cdn", __name__)
page_bp = Blueprint("sandbox_meta_instagram_page", __name__)


# --- records -------------------------------------------------------------------------------------------------------


@dataclass
class Story:
    """A story on Instagram: a customer's that mentions the business, or the business's own."""

    id: str
    owner: str  # "person:<person id>" or "ig:<IG account id>"
    owner_name: str
    created_at: float  # epoch seconds
    expires_at: float
    mentions: str | None = None  # the IG account a customer's story mentions
    deleted: bool = False

    def url(self, base: str, app_secret: str) -> str:
        oe = f"{int(self.expires_at):08X}"
        signature = hmac.new(app_secret.encode(), f"{self.id}:{oe}".encode(), hashlib.sha256).hexdigest()[:20]
        return f"{base}/sandbox-cdn/ig/stories/{self.id}?asset_id={self.id}&oh={signature}&oe={oe}"

    def alive(self, at: float | None = None) -> bool:
        return not self.deleted and (at or time.time()) < self.expires_at


def _digits(seed: str, n: int) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:n]


def new_ig_mid() -> str:
    """An Instagram-looking message id (base64 of "ig_…", as Meta's are)."""
    raw = b"ig_message_item:1:" + secrets.token_hex(20).encode()
    return base64.b64encode(raw).decode().rstrip("=")


def username_of(name: str) -> str:
    """The simulated person's Instagram handle: "Jane Doe" → jane.doe."""
    return re.sub(r"[^a-z0-9.]+", "", re.sub(r"\s+", ".", name.strip().lower())) or "customer"


def find_account(world: World, ref: str | None) -> InstagramAccount:
    """An IG account by id, @username, username, or its linked Page's id or name."""
    ref = (ref or "").strip()
    with world.lock:
        if ref in world.instagram:
            return world.instagram[ref]
        handle = ref.lstrip("@").lower()
        for account in world.instagram.values():
            if account.username.lower() == handle:
                return account
        page = world.find_page(ref) if ref else None
        if page is not None and page.instagram_id in world.instagram:
            return world.instagram[page.instagram_id]
    raise SimulationError(f"no Instagram account {ref!r} in the sandbox (GET /sandbox-api/meta/instagram/accounts)")


def igsid(world: World, ig_id: str, person_id: str) -> str:
    """The Instagram-scoped id of a person for one IG account: different on every account, stable on one."""
    with world.lock:
        value = "3" + _digits(f"igsid:{ig_id}:{person_id}", 15)
        world.igsids[value] = (ig_id, person_id)
        return value


def thread_for(world: World, ig_id: str, person_id: str) -> Thread:
    with world.lock:
        scoped = igsid(world, ig_id, person_id)
        key = (ig_id, scoped)
        if key not in world.ig_threads:
            world.ig_threads[key] = Thread(ig_id, scoped, person_id)
        return world.ig_threads[key]


def resolve_thread(world: World, account: InstagramAccount, name: str | None, scoped: str | None) -> Thread:
    if scoped:
        with world.lock:
            owner = world.igsids.get(scoped)
        if owner is None or owner[0] != account.id:
            raise SimulationError(f"{scoped} is not an IGSID of @{account.username}")
        return thread_for(world, account.id, owner[1])
    return thread_for(world, account.id, world.person(name or "Jane Doe").id)


def post_story(world: World, owner: str, owner_name: str, *, ttl: float | None = None, mentions: str | None = None):
    """A new story, live for `ttl` seconds (default: the world's story_ttl_seconds)."""
    with world.lock:
        ttl = float(ttl if ttl is not None else world.settings.get("story_ttl_seconds", 24 * 3600))
        story_id = "179" + _digits(f"story:{owner}:{time.time_ns()}:{len(world.stories)}", 14)
        story = Story(story_id, owner, owner_name, time.time(), time.time() + ttl, mentions)
        world.stories[story_id] = story
        return story


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _dispatcher():
    return current_app.extensions["sandbox.meta.dispatcher"]


# --- the Graph API: sends to IGSIDs, profiles, story lookups ------------------------------------------------------


def _page_for(req: GraphRequest, node: str):
    from .graph import unsupported

    token = req.token("page")
    page = req.world.pages.get(token.subject)
    if page is None or node not in ("me", page.id):
        raise unsupported(req.method, node)
    return page


@route("POST", r"(?P<id>[^/]+)/messages", first=True)
def send_to_instagram(req: GraphRequest) -> Any:
    """The Send API for a recipient that is an IGSID (everything else falls through to Messenger's)."""
    world = req.world
    body = req.body if isinstance(req.body, dict) else {}
    recipient = body.get("recipient")
    scoped = str(recipient.get("id")) if isinstance(recipient, dict) and recipient.get("id") else None
    with world.lock:
        owner = world.igsids.get(scoped) if scoped else None
    if owner is None:
        return NotImplemented
    page = _page_for(req, req.match.group("id"))
    ig_id, person_id = owner
    with world.lock:
        account = world.instagram.get(ig_id)
        if account is None or account.page_id != page.id:
            # The IGSID belongs to another Page's Instagram account.
            raise GraphError(NO_USER_MESSAGE, 100, 2534014)
        thread = thread_for(world, ig_id, person_id)
        if page.id in world.people[person_id].blocked_pages:
            raise GraphError("(#551) This person isn't available right now.", 551, 1545041)

    action = body.get("sender_action")
    if action is not None:
        return _sender_action(world, thread, action, body)

    messaging_type = body.get("messaging_type")
    if messaging_type is not None and messaging_type not in MESSAGING_TYPES:
        raise param_error(f"param messaging_type must be one of {{{', '.join(MESSAGING_TYPES)}}}")
    tag = body.get("tag")
    if messaging_type == "MESSAGE_TAG" and not tag:
        raise param_error("Tag is required for MESSAGE_TAG messaging type")
    if tag is not None and tag != "HUMAN_AGENT":
        # The other Messenger tags do not exist on Instagram.
        raise param_error("Param tag must be one of {HUMAN_AGENT}")
    message = body.get("message")
    if not isinstance(message, dict):
        raise param_error("The parameter message is required")
    stored = _validate_message(message)
    _check_window(thread, tag)

    mid = new_ig_mid()
    entry = ThreadMessage(
        mid=mid,
        sender="page",
        timestamp=now_ms(),
        app_id=world.app_id,
        messaging_type=messaging_type,
        tag=tag,
        **stored,
    )
    with world.lock:
        thread.messages.append(entry)
        thread.typing_until = 0.0
    notify_business_message(world, account, thread, entry, app_id=world.app_id)
    return {"recipient_id": thread.psid, "message_id": mid}


def _validate_message(message: dict[str, Any]) -> dict[str, Any]:
    text = message.get("text")
    attachment = message.get("attachment")
    if text is None and attachment is None:
        raise param_error("Message cannot be empty, must provide valid attachment or text")
    if text is not None and attachment is not None:
        raise param_error("Only one of text or attachment may be provided")
    stored: dict[str, Any] = {}
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise param_error("Message cannot be empty, must provide valid attachment or text")
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            # Instagram counts UTF-8 bytes, not characters.
            raise length_error("message[text]", MAX_TEXT_BYTES)
        stored["text"] = text
    else:
        if not isinstance(attachment, dict):
            raise param_error("param message[attachment] must be an object")
        kind = attachment.get("type")
        payload = attachment.get("payload") or {}
        if kind in ATTACHMENT_TYPES:
            if not payload.get("url") and not payload.get("attachment_id"):
                raise param_error("param message[attachment][payload][url] is required")
            stored["attachments"] = [{"type": kind, "payload": {"url": payload.get("url")}}]
        elif kind == "like_heart":
            stored["attachments"] = [{"type": "like_heart", "payload": {}}]
        elif kind == "template":
            stored["template"] = payload
            stored["text"] = payload.get("text", "")
        else:
            raise param_error("param message[attachment][type] must be one of {image, audio, video, file, template}")
    quick = message.get("quick_replies")
    if quick is not None:
        if not isinstance(quick, list):
            raise param_error("param message[quick_replies] must be an array")
        if len(quick) > 13:
            raise length_error("message[quick_replies]", 13)
        for index, item in enumerate(quick):
            if item.get("content_type", "text") != "text":
                raise param_error(f"param message[quick_replies][{index}][content_type] must be one of {{text}}")
            if not item.get("title"):
                raise param_error(f"param message[quick_replies][{index}][title] must be non-empty")
            if len(str(item.get("payload") or "")) > 1000:
                raise length_error(f"message[quick_replies][{index}][payload]", 1000)
        # Instagram cuts titles over 20 characters rather than refusing them.
        stored["quick_replies"] = [{**item, "title": str(item["title"])[:20]} for item in quick]
    return stored


def _check_window(thread: Thread, tag: str | None) -> None:
    """24 h after the customer's last message; 7 days with HUMAN_AGENT; never before they wrote."""
    last = thread.last_customer_at
    age = None if last is None else (now_ms() - last) / 1000
    allowed = HUMAN_AGENT_WINDOW_S if tag == "HUMAN_AGENT" else STANDARD_WINDOW_S
    if age is None or age > allowed:
        raise GraphError(WINDOW_MESSAGE, 10, 2534022)


def _sender_action(world: World, thread: Thread, action: Any, body: dict) -> dict[str, Any]:
    if action not in SENDER_ACTIONS:
        raise param_error(f"param sender_action must be one of {{{', '.join(SENDER_ACTIONS)}}}")
    with world.lock:
        if action == "typing_on":
            thread.typing_until = time.time() + 20
        elif action == "typing_off":
            thread.typing_until = 0.0
        elif action == "mark_seen":
            thread.page_seen_at = now_ms()
        else:
            payload = body.get("payload") or {}
            target = next((m for m in thread.messages if m.mid == payload.get("message_id")), None)
            if target is None:
                raise param_error("param payload[message_id] must be a valid message id")
            if action == "react":
                target.reactions["page"] = payload.get("reaction") or "❤"
            else:
                target.reactions.pop("page", None)
    return {"recipient_id": thread.psid}


def notify_business_message(
    world: World, account: InstagramAccount, thread: Thread, entry: ThreadMessage, app_id: str | None
) -> None:
    """The echo of a message the business sent (from ChatPad or the Instagram app), under the messages field."""
    echo: dict[str, Any] = {"mid": entry.mid, "is_echo": True}
    if app_id is not None and world.settings.get("ig_echo_app_id"):
        echo["app_id"] = int(app_id) if str(app_id).isdigit() else app_id
    if entry.text:
        echo["text"] = entry.text
    if entry.attachments:
        echo["attachments"] = entry.attachments
    item = {
        "sender": {"id": account.id},
        "recipient": {"id": thread.psid},
        "timestamp": entry.timestamp,
        "message": echo,
    }
    _dispatcher().submit("instagram", envelope("instagram", [(account.id, [item], False)]))


@route("GET", r"(?P<id>[^/]+)", first=True)
def instagram_node(req: GraphRequest) -> Any:
    """GET /<IGSID> (the customer's profile, for the linked Page's token) and GET /<MID>?fields=story."""
    world = req.world
    node_id = req.match.group("id")
    fields = [f.strip() for f in str(req.params.get("fields") or "").split(",") if f.strip()]
    with world.lock:
        owner = world.igsids.get(node_id)
        found = None if owner else _find_message(world, node_id)
    if owner is not None:
        token = req.token("page")
        account = world.instagram[owner[0]]
        if token.subject != account.page_id:
            from .graph import unsupported

            raise unsupported("GET", node_id)
        person = world.people[owner[1]]
        values = {
            "id": node_id,
            "name": person.name,
            "username": username_of(person.name),
            "profile_pic": person.profile_pic(_base_url()),
        }
        return {k: values[k] for k in (fields or ["name", "username"]) if k in values} | {"id": node_id}
    if found is None:
        return NotImplemented
    account, message = found
    token = req.token("page")
    if token.subject != account.page_id:
        from .graph import unsupported

        raise unsupported("GET", node_id)
    answer: dict[str, Any] = {"id": node_id}
    if "story" in fields:
        mention = next((a for a in message.attachments if a.get("type") == "story_mention"), None)
        if mention is not None:
            answer["story"] = {"mention": {"link": mention["payload"]["url"], "id": mention["payload"].get("id")}}
    if "message" in fields:
        answer["message"] = message.text
    return answer


def _find_message(world: World, mid: str) -> tuple[InstagramAccount, ThreadMessage] | None:
    for (ig_id, _), thread in world.ig_threads.items():
        for message in thread.messages:
            if message.mid == mid:
                return world.instagram[ig_id], message
    return None


# --- the customer simulator ----------------------------------------------------------------------------------------


def build_item(world: World, account: InstagramAccount, thread: Thread, spec: dict[str, Any]) -> dict[str, Any]:
    """One messaging item for a customer action, recorded in the thread (so windows and the thread view agree)."""
    kind = spec.get("kind") or "text"
    if kind not in EVENT_KINDS:
        raise SimulationError(f"unknown kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    timestamp = now_ms() - int(float(spec.get("age_seconds") or 0) * 1000)
    item: dict[str, Any] = {"sender": {"id": thread.psid}, "recipient": {"id": account.id}, "timestamp": timestamp}
    mid = spec.get("mid") or new_ig_mid()
    text = spec.get("text")
    person = world.people[thread.person_id]
    record: ThreadMessage | None = None
    record_attachments: list[dict[str, Any]] = []
    result: dict[str, Any] = {"mid": None}

    if kind in ("text", "quick_reply", "attachment", "story_mention", "story_reply", "unsupported"):
        message: dict[str, Any] = {"mid": mid}
        if kind == "text" and not text:
            raise SimulationError("text is required")
        if kind == "quick_reply":
            if not text:
                raise SimulationError("a quick reply needs the tapped title as text")
            message["quick_reply"] = {"payload": spec.get("payload") or text}
        if kind == "attachment":
            media_type = spec.get("type") or "image"
            if media_type not in INBOUND_ATTACHMENTS:
                raise SimulationError(f"type must be one of {', '.join(INBOUND_ATTACHMENTS)}")
            payload: dict[str, Any] = {"url": spec.get("url") or _sample_url(media_type)}
            if media_type in ("ig_reel", "ig_post"):
                payload["title"] = spec.get("title") or "A post from the community"
                payload["reel_video_id" if media_type == "ig_reel" else "ig_post_media_id"] = "18" + _digits(mid, 15)
            if media_type == "sticker":
                payload["sticker_id"] = 369239263222822
            message["attachments"] = [{"type": media_type, "payload": payload}]
        if kind == "story_mention":
            story = post_story(
                world, f"person:{person.id}", username_of(person.name), ttl=spec.get("ttl_seconds"), mentions=account.id
            )
            url = story.url(_base_url(), world.app_secret)
            # The webhook carries only the CDN link; GET /<MID>?fields=story gives the story id.
            message["attachments"] = [{"type": "story_mention", "payload": {"url": url}}]
            result["story_id"] = story.id
            result["story_url"] = url
            record_attachments = [{"type": "story_mention", "payload": {"url": url, "id": story.id}}]
        if kind == "story_reply":
            if not text:
                raise SimulationError("a story reply needs the customer's text")
            story = world.stories.get(spec.get("story_id") or "")
            if story is None:
                story = post_story(world, f"ig:{account.id}", account.username, ttl=spec.get("ttl_seconds"))
            url = story.url(_base_url(), world.app_secret)
            message["reply_to"] = {"story": {"id": story.id, "url": url}}
            result["story_id"] = story.id
            result["story_url"] = url
        if kind == "unsupported":
            message["is_unsupported"] = True
        if text and kind not in ("story_mention", "unsupported"):
            message["text"] = text
        if spec.get("reply_to") and kind != "story_reply":
            message["reply_to"] = {"mid": spec["reply_to"]}
        item["message"] = message
        record = ThreadMessage(
            mid=mid,
            sender="customer",
            timestamp=timestamp,
            text=message.get("text", "") if kind != "unsupported" else "(unsupported message)",
            attachments=record_attachments if kind == "story_mention" else message.get("attachments", []),
            payload=(message.get("quick_reply") or {}).get("payload"),
            reply_to=spec.get("reply_to"),
            kind="story_reply" if kind == "story_reply" else "message",
        )
        result["mid"] = mid
    elif kind == "postback":
        title = spec.get("title") or text
        if not title:
            raise SimulationError("a postback needs the button's title")
        item["postback"] = {"mid": mid, "title": title, "payload": spec.get("payload") or title}
        record = ThreadMessage(mid=mid, sender="customer", timestamp=timestamp, text=title, kind="postback")
        result["mid"] = mid
    elif kind in ("reaction", "unreact"):
        target = spec.get("target_mid") or _last_mid(thread, "page")
        if not target:
            raise SimulationError("nothing to react to: the business has not written yet")
        emoji = spec.get("emoji") or "❤️"
        reaction: dict[str, Any] = {"mid": target, "action": "unreact" if kind == "unreact" else "react"}
        if kind == "reaction":
            reaction.update(reaction="love" if emoji.startswith("❤") else "other", emoji=emoji)
        item["reaction"] = reaction
        with world.lock:
            for message_ in thread.messages:
                if message_.mid == target:
                    if kind == "reaction":
                        message_.reactions["customer"] = emoji
                    else:
                        message_.reactions.pop("customer", None)
    elif kind == "seen":
        target = spec.get("target_mid") or _last_mid(thread, "page")
        if not target:
            raise SimulationError("nothing to see: the business has not written yet")
        item["read"] = {"mid": target}
        with world.lock:
            thread.read_watermark = max(thread.read_watermark, timestamp)
    elif kind == "edit":
        target = spec.get("target_mid") or _last_mid(thread, "customer")
        if not target or not text:
            raise SimulationError("an edit needs text and a message of the customer's to edit")
        with world.lock:
            edited = next((m for m in thread.messages if m.mid == target), None)
            if edited is not None:
                edited.text = text
        item["message_edit"] = {"mid": target, "text": text, "num_edit": int(spec.get("num_edit") or 1)}
    elif kind == "unsend":
        target = spec.get("target_mid") or _last_mid(thread, "customer")
        if not target:
            raise SimulationError("nothing to unsend: the customer has not written yet")
        with world.lock:
            thread.messages = [m for m in thread.messages if m.mid != target]
        item["message"] = {"mid": target, "is_deleted": True}
    elif kind == "referral":
        item["referral"] = {"ref": spec.get("ref") or "sandbox", "source": "IGME", "type": "OPEN_THREAD"}

    if record is not None:
        with world.lock:
            thread.messages.append(record)
            thread.messages.sort(key=lambda m: m.timestamp)
            thread.last_customer_at = max(thread.last_customer_at or 0, timestamp)
    elif kind == "referral":
        with world.lock:
            thread.last_customer_at = max(thread.last_customer_at or 0, timestamp)
    result["item"] = item
    return result


def _sample_url(kind: str) -> str:
    asset = _digits(kind + str(time.time_ns()), 15)
    return f"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={asset}&sbx={kind}"


def _last_mid(thread: Thread, sender: str) -> str | None:
    return next((m.mid for m in reversed(thread.messages) if m.sender == sender), None)


def post(world: World, entries: list[tuple[str, list[dict[str, Any]], bool]], *, duplicates: int = 1, wait=True):
    """POST one object=instagram envelope (several times for duplicates)."""
    body = json.dumps(envelope("instagram", entries))
    duplicates = max(1, min(int(duplicates), 100))
    dispatcher = _dispatcher()
    return [dispatcher.submit("instagram", {}, wait=wait, body=body).public(with_body=False) for _ in range(duplicates)]


def simulate_instagram(world: World, spec: dict[str, Any]) -> dict[str, Any]:
    """One customer action in an Instagram DM, posted as a signed webhook. spec: account (id, @username, or the
    linked Page), from | igsid, kind (EVENT_KINDS), text, payload, title, type, url, story_id, ttl_seconds,
    target_mid, emoji, reply_to, ref, age_seconds, standby, duplicates, wait."""
    account = find_account(world, spec.get("account") or spec.get("page"))
    thread = resolve_thread(world, account, spec.get("from"), spec.get("igsid"))
    built = build_item(world, account, thread, spec)
    deliveries = post(
        world,
        [(account.id, [built["item"]], bool(spec.get("standby")))],
        duplicates=spec.get("duplicates", 1),
        wait=spec.get("wait", True),
    )
    return {
        "account_id": account.id,
        "username": account.username,
        "page_id": account.page_id,
        "igsid": thread.psid,
        "person_id": thread.person_id,
        "deliveries": deliveries,
        **built,
    }


def business_reply(world: World, spec: dict[str, Any]) -> dict[str, Any]:
    """A person answers from the Instagram app (or Meta Business Suite): an echo that is not ChatPad's."""
    account = find_account(world, spec.get("account"))
    thread = resolve_thread(world, account, spec.get("from"), spec.get("igsid"))
    text = (spec.get("text") or "").strip()
    if not text:
        raise SimulationError("text is required")
    entry = ThreadMessage(mid=new_ig_mid(), sender="page", timestamp=now_ms(), text=text, app_id=None)
    with world.lock:
        thread.messages.append(entry)
    notify_business_message(world, account, thread, entry, app_id=None)
    return {"account_id": account.id, "igsid": thread.psid, "mid": entry.mid}


# --- the control API: /sandbox-api/meta/instagram -------------------------------------------------------------------


def _world() -> World:
    return current_app.extensions["sandbox.meta.world"]


_spec = control_spec
answer_bad_requests(bp)


@bp.get("/accounts")
def accounts():
    """The Instagram accounts and the Pages they are linked to."""
    world = _world()
    with world.lock:
        return jsonify([{**asdict(a), "page_name": world.pages[a.page_id].name} for a in world.instagram.values()])


@bp.post("/simulate")
def simulate():
    """A customer action posted as a signed object=instagram webhook (see simulate_instagram)."""
    return jsonify(simulate_instagram(_world(), _spec()))


@bp.post("/business-reply")
def post_business_reply():
    """A person replies from the Instagram app: {"account", "from"|"igsid", "text"}."""
    return jsonify(business_reply(_world(), _spec()))


@bp.post("/stories")
def new_story():
    """The business posts a story customers can reply to: {"account", "ttl_seconds"?}."""
    world = _world()
    spec = _spec()
    account = find_account(world, spec.get("account"))
    story = post_story(world, f"ig:{account.id}", account.username, ttl=spec.get("ttl_seconds"))
    return jsonify({**asdict(story), "url": story.url(_base_url(), world.app_secret)}), 201


@bp.post("/stories/<story_id>/expire")
def expire_story(story_id: str):
    """The story ends now (its link starts answering 403); {"delete": true} deletes it instead."""
    world = _world()
    with world.lock:
        story = world.stories.get(story_id)
        if story is None:
            raise SimulationError(f"no story {story_id}")
        if (request.get_json(silent=True) or {}).get("delete"):
            story.deleted = True
        else:
            story.expires_at = min(story.expires_at, time.time())
    return jsonify(asdict(story))


@bp.get("/thread")
def thread():
    """One DM thread as the customer sees it: ?account=&from= (or &igsid=)."""
    world = _world()
    account = find_account(world, request.args.get("account"))
    found = resolve_thread(world, account, request.args.get("from"), request.args.get("igsid"))
    with world.lock:
        data = found.public()
        data["igsid"] = data.pop("psid")
        data["account"] = {**asdict(account)}
        data["person"] = {"id": found.person_id, "name": world.people[found.person_id].name}
    return jsonify(data)


@bp.get("/threads")
def threads():
    world = _world()
    with world.lock:
        return jsonify(
            [
                {
                    "account_id": t.page_id,
                    "igsid": t.psid,
                    "person": world.people[t.person_id].name,
                    "messages": len(t.messages),
                    "last": t.messages[-1].text if t.messages else None,
                }
                for t in world.ig_threads.values()
            ]
        )


@bp.post("/age")
def age():
    """Pretend time passed in a thread: {"account", "from"|"igsid", "hours"}."""
    world = _world()
    spec = _spec()
    account = find_account(world, spec.get("account"))
    found = resolve_thread(world, account, spec.get("from"), spec.get("igsid"))
    shift = int(float(spec.get("hours", 0)) * 3600 * 1000)
    with world.lock:
        for message in found.messages:
            message.timestamp -= shift
        if found.last_customer_at is not None:
            found.last_customer_at -= shift
    return jsonify(ok=True)


# --- the CDN: story links that work until the story expires ---------------------------------------------------------


@cdn.get("/sandbox-cdn/ig/stories/<story_id>")
def story_media(story_id: str):
    """A story's picture while the link lives; 403 "URL signature expired" after (as Meta's CDN answers)."""
    world = _world()
    with world.lock:
        story = world.stories.get(story_id)
    try:
        link_expiry = int(request.args.get("oe", "0"), 16)
    except ValueError:
        link_expiry = 0
    if story is None or not story.alive() or time.time() >= link_expiry:
        return Response("URL signature expired", status=403, mimetype="text/plain")
    hue = int(story.id[-3:]) % 360
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="270" height="480" viewBox="0 0 270 480">'
        f'<rect width="270" height="480" rx="16" fill="hsl({hue},60%,45%)"/>'
        '<text x="135" y="220" font-family="system-ui,sans-serif" font-size="22" fill="#fff" text-anchor="middle">'
        f"@{_escape(story.owner_name)}</text>"
        '<text x="135" y="260" font-family="system-ui,sans-serif" font-size="16" fill="#fff" text-anchor="middle">'
        "sandbox story</text></svg>"
    )
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@page_bp.get("/instagram")
def instagram_page():
    """The customer's side of Instagram DMs in the browser."""
    world = _world()
    with world.lock:
        accounts = sorted(
            ({**asdict(a), "page_name": world.pages[a.page_id].name} for a in world.instagram.values()),
            key=lambda a: a["username"],
        )
    return render_template("sandbox/instagram.html", accounts=accounts, app_id=world.app_id)
