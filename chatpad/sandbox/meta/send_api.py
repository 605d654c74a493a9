"""The Send API and the Graph reads Messenger clients make: POST /<PAGE_ID|me>/messages, GET /me, GET /<id>.

Limits and errors as Meta documents them (platform-reference.md §B): text ≤ 2000, ≤ 13 quick replies with titles
≤ 20 and payloads ≤ 1000, button templates with text ≤ 640 and 1–3 buttons, the 24-hour window (7 days with the
HUMAN_AGENT tag), 551 for a person who blocked the Page, and the (#100) "Length of param …" messages.
https://developers.facebook.com/docs/messenger-platform/reference/send-api/
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, request

from .graph import GraphError, GraphRequest, route, unsupported
from .webhooks import envelope
from .world import HUMAN_AGENT_WINDOW_S, STANDARD_WINDOW_S, Page, Thread, ThreadMessage, World, new_mid, now_ms

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
TAGS = ("CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen", "react", "unreact")
MEDIA_TYPES = ("image", "video", "audio", "file")
BUTTON_TYPES = ("postback", "web_url", "phone_number")
WINDOW_MESSAGE = (
    "(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
    "https://developers.facebook.com/docs/messenger-platform/policy-overview"
)


def param_error(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(f"(#100) {message}", 100, subcode)


def length_error(param: str, limit: int) -> GraphError:
    return param_error(f"Length of param {param} must be less than or equal to {limit}")


def _page_for(req: GraphRequest, node: str) -> Page:
    token = req.token("page")
    page = req.world.pages.get(token.subject)
    if page is None or node not in ("me", page.id):
        raise unsupported(req.method, node)
    return page


@route("POST", r"(?P<id>[^/]+)/messages")
def send_message(req: GraphRequest) -> dict[str, Any]:
    world = req.world
    page = _page_for(req, req.match.group("id"))
    body = req.body if isinstance(req.body, dict) else {}
    recipient = body.get("recipient") or req.params.get("recipient")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        raise param_error("The parameter recipient is required")
    psid = str(recipient["id"])
    with world.lock:
        thread = world.thread_by_psid(page.id, psid)
        if thread is None:
            raise param_error("No matching user found", 2018001)
        person = world.people[thread.person_id]
        if page.id in person.blocked_pages:
            raise GraphError("(#551) This person isn't available right now.", 551, 1545041)

    action = body.get("sender_action")
    if action is not None:
        return _sender_action(world, page, thread, action, body)

    messaging_type = body.get("messaging_type")
    if messaging_type is None:
        raise param_error("The parameter messaging_type is required")
    if messaging_type not in MESSAGING_TYPES:
        raise param_error(f"param messaging_type must be one of {{{', '.join(MESSAGING_TYPES)}}}")
    tag = body.get("tag")
    if messaging_type == "MESSAGE_TAG" and not tag:
        raise param_error("Tag is required for MESSAGE_TAG messaging type")
    if tag is not None and tag not in TAGS:
        raise param_error(f"Param tag must be one of {{{', '.join(TAGS)}}}")
    message = body.get("message")
    if not isinstance(message, dict):
        raise param_error("The parameter message is required")
    stored = _validate_message(message)
    _check_window(thread, messaging_type, tag)

    mid = new_mid()
    timestamp = now_ms()
    with world.lock:
        entry = ThreadMessage(
            mid=mid,
            sender="page",
            timestamp=timestamp,
            app_id=world.app_id,
            metadata=message.get("metadata"),
            messaging_type=messaging_type,
            tag=tag,
            **stored,
        )
        thread.messages.append(entry)
        thread.typing_until = 0.0
    notify_page_message(world, page, thread, entry, app_id=world.app_id)
    answer: dict[str, Any] = {"recipient_id": psid, "message_id": mid}
    attachment = message.get("attachment") or {}
    if attachment.get("type") in MEDIA_TYPES and (attachment.get("payload") or {}).get("is_reusable"):
        answer["attachment_id"] = str(abs(hash(mid)) % 10**15)
    return answer


def notify_page_message(world: World, page: Page, thread: Thread, entry: ThreadMessage, app_id: str | None) -> None:
    """Post the message_echoes webhook of a Page message (and, for sends, the delivery), as Meta does."""
    dispatcher = current_app.extensions["sandbox.meta.dispatcher"]
    settings = world.settings
    if settings.get("auto_echo") and "message_echoes" in page.subscribed_fields:
        echo: dict[str, Any] = {"is_echo": True, "mid": entry.mid}
        if app_id is not None:
            echo["app_id"] = int(app_id) if app_id.isdigit() else app_id
        if entry.metadata is not None:
            echo["metadata"] = entry.metadata
        if entry.text:
            echo["text"] = entry.text
        if entry.attachments:
            echo["attachments"] = entry.attachments
        if entry.template:
            echo["attachments"] = [{"type": "template", "payload": entry.template}]
        if entry.quick_replies:
            echo["quick_replies"] = entry.quick_replies
        item = {
            "sender": {"id": page.id},
            "recipient": {"id": thread.psid},
            "timestamp": entry.timestamp,
            "message": echo,
        }
        dispatcher.submit("page", envelope("page", [(page.id, [item], False)]))
    if app_id is not None and settings.get("auto_delivery") and "message_deliveries" in page.subscribed_fields:
        deliver(world, page, thread)


def deliver(world: World, page: Page, thread: Thread) -> None:
    """The customer's Messenger received everything so far: a message_deliveries webhook."""
    dispatcher = current_app.extensions["sandbox.meta.dispatcher"]
    with world.lock:
        mids = [m.mid for m in thread.messages if m.sender == "page" and m.timestamp > thread.delivered_watermark]
        if not mids:
            return
        thread.delivered_watermark = max(m.timestamp for m in thread.messages if m.sender == "page")
        watermark = thread.delivered_watermark
    item = {
        "sender": {"id": thread.psid},
        "recipient": {"id": page.id},
        "timestamp": now_ms(),
        "delivery": {"mids": mids, "watermark": watermark},
    }
    dispatcher.submit("page", envelope("page", [(page.id, [item], False)]))


def _sender_action(world: World, page: Page, thread: Thread, action: Any, body: dict) -> dict[str, Any]:
    if action not in SENDER_ACTIONS:
        raise param_error(f"param sender_action must be one of {{{', '.join(SENDER_ACTIONS)}}}")
    with world.lock:
        if action == "typing_on":
            thread.typing_until = time.time() + 20  # Meta clears the bubble after 20 s
        elif action == "typing_off":
            thread.typing_until = 0.0
        elif action in ("react", "unreact"):
            payload = body.get("payload") or {}
            target = next((m for m in thread.messages if m.mid == payload.get("message_id")), None)
            if target is None:
                raise param_error("param payload[message_id] must be a valid message id")
            if action == "react":
                target.reactions["page"] = payload.get("reaction") or "❤"
            else:
                target.reactions.pop("page", None)
        elif action == "mark_seen":
            thread.page_seen_at = now_ms()
    return {"recipient_id": thread.psid}


def _validate_message(message: dict[str, Any]) -> dict[str, Any]:
    """Meta's checks on the message object; returns what the thread stores."""
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
        if len(text) > 2000:
            raise length_error("message[text]", 2000)
        stored["text"] = text
    else:
        if not isinstance(attachment, dict):
            raise param_error("param message[attachment] must be an object")
        kind = attachment.get("type")
        payload = attachment.get("payload") or {}
        if kind in MEDIA_TYPES:
            if not payload.get("url") and not payload.get("attachment_id"):
                raise param_error("param message[attachment][payload][url] is required")
            stored["attachments"] = [{"type": kind, "payload": {"url": payload.get("url")}}]
        elif kind == "template":
            stored["template"] = _validate_template(payload)
            stored["text"] = payload.get("text", "")
        else:
            raise param_error("param message[attachment][type] must be one of {image, audio, video, file, template}")
    quick = message.get("quick_replies")
    if quick is not None:
        stored["quick_replies"] = _validate_quick_replies(quick)
    return stored


def _validate_quick_replies(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise param_error("param message[quick_replies] must be an array")
    if len(items) > 13:
        raise length_error("message[quick_replies]", 13)
    for index, item in enumerate(items):
        content_type = item.get("content_type", "text")
        if content_type not in ("text", "user_phone_number", "user_email"):
            raise param_error(
                f"param message[quick_replies][{index}][content_type] must be one of {{text, "
                "user_phone_number, user_email}"
            )
        if content_type == "text":
            title = item.get("title") or ""
            if not title:
                raise param_error(f"param message[quick_replies][{index}][title] must be non-empty")
            if len(title) > 20:
                raise length_error(f"message[quick_replies][{index}][title]", 20)
            if len(str(item.get("payload") or "")) > 1000:
                raise length_error(f"message[quick_replies][{index}][payload]", 1000)
    return items


def _validate_template(payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("template_type") != "button":
        # Generic and other templates are accepted without the detailed checks.
        return payload
    text = payload.get("text") or ""
    if not text:
        raise param_error("param message[attachment][payload][text] must be non-empty")
    if len(text) > 640:
        raise length_error("message[attachment][payload][text]", 640)
    buttons = payload.get("buttons") or []
    if not buttons:
        raise param_error("param message[attachment][payload][buttons] must be non-empty")
    if len(buttons) > 3:
        raise length_error("message[attachment][payload][buttons]", 3)
    for index, button in enumerate(buttons):
        where = f"message[attachment][payload][buttons][{index}]"
        if button.get("type") not in BUTTON_TYPES:
            raise param_error(f"param {where}[type] must be one of {{postback, web_url, phone_number}}")
        title = button.get("title") or ""
        if not title:
            raise param_error(f"param {where}[title] must be non-empty")
        if len(title) > 20:
            raise length_error(f"{where}[title]", 20)
        if button["type"] == "web_url" and not button.get("url"):
            raise param_error(f"param {where}[url] is required")
        if button["type"] in ("postback", "phone_number") and not button.get("payload"):
            raise param_error(f"param {where}[payload] is required")
        if len(str(button.get("payload") or "")) > 1000:
            raise length_error(f"{where}[payload]", 1000)
    return payload


def _check_window(thread: Thread, messaging_type: str, tag: str | None) -> None:
    """24 h after the customer's last message for RESPONSE/UPDATE; 7 days for HUMAN_AGENT; never before they wrote.
    https://developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window"""
    last = thread.last_customer_at
    age = None if last is None else (now_ms() - last) / 1000
    allowed = STANDARD_WINDOW_S
    if messaging_type == "MESSAGE_TAG" and tag == "HUMAN_AGENT":
        allowed = HUMAN_AGENT_WINDOW_S
    elif messaging_type == "MESSAGE_TAG":
        allowed = None  # the other tags are not time-limited (their use is policed by policy, not the API)
    if age is None or (allowed is not None and age > allowed):
        raise GraphError(WINDOW_MESSAGE, 10, 2018278, type="OAuthException")


# --- reads ---


@route("GET", r"me")
def me(req: GraphRequest) -> dict[str, Any]:
    token = req.token()
    world = req.world
    if token.kind == "page":
        page = world.pages[token.subject]
        return {"id": page.id, "name": page.name}
    if token.kind == "user":
        user = world.users[token.subject]
        return {"id": user.id, "name": user.name}
    raise GraphError("An active access token must be used to query information about the current user.", 2500)


@route("GET", r"(?P<id>[^/]+)")
def node(req: GraphRequest) -> dict[str, Any]:
    """A user profile (PSID, page-scoped), a Page, or an Instagram account."""
    world = req.world
    token = req.token()
    node_id = req.match.group("id")
    fields = [f.strip() for f in str(req.params.get("fields") or "").split(",") if f.strip()]
    with world.lock:
        owner = world.person_by_psid(node_id)
        if owner is not None:
            page, person = owner
            # PSIDs are page-scoped: only that Page's token can read the profile.
            if token.kind != "page" or token.subject != page.id:
                raise unsupported("GET", node_id)
            values = {
                "id": node_id,
                "name": person.name,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "profile_pic": person.profile_pic(_base_url()),
            }
            return {k: values[k] for k in (fields or ["first_name", "last_name", "profile_pic"]) if k in values} | {
                "id": node_id
            }
        page = world.pages.get(node_id)
        if page is not None:
            values = {"id": page.id, "name": page.name, "category": page.category}
            if page.business:
                values["business"] = dict(page.business)
            if page.instagram_id:
                values["instagram_business_account"] = {"id": page.instagram_id}
            if token.kind == "user" and page.id in world.users[token.subject].page_ids:
                values["access_token"] = page.access_token
            return {k: values[k] for k in (fields or ["name"]) if k in values} | {"id": page.id}
        account = world.instagram.get(node_id)
        if account is not None:
            values = {"id": account.id, "username": account.username, "name": account.name}
            return {k: values[k] for k in (fields or ["username"]) if k in values} | {"id": account.id}
    raise unsupported("GET", node_id)


def _base_url() -> str:
    return request.host_url.rstrip("/")
