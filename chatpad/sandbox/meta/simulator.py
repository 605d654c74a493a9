"""The customer simulator: what people do in Messenger, turned into the signed webhooks Meta would post.

Each function records the event in the world's thread (so the Send API's windows and the web page agree) and hands
the envelope to the dispatcher. Used by the control API, the sandbox's Messenger page and the CLI.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from .send_api import deliver, notify_page_message
from .webhooks import Dispatcher, envelope, item_field
from .world import Page, Thread, ThreadMessage, World, new_mid, now_ms

EVENT_KINDS = (
    "text",
    "quick_reply",
    "attachment",
    "sticker",
    "postback",
    "get_started",
    "reaction",
    "unreact",
    "referral",
    "edit",
)
STICKER_ID = 369239263222822  # Messenger's "like" thumb
GET_STARTED_PAYLOAD = "GET_STARTED"


class SimulationError(ValueError):
    """A request the simulator cannot turn into an event (unknown Page, missing text…): answered 400."""


def resolve_page(world: World, ref: str | None) -> Page:
    page = world.find_page(ref or "")
    if page is None:
        raise SimulationError(f"no Page {ref!r} in the sandbox (GET /sandbox-api/meta/pages lists them)")
    return page


def resolve_thread(world: World, page: Page, name: str | None = None, psid: str | None = None) -> Thread:
    if psid:
        thread = world.thread_by_psid(page.id, psid)
        if thread is None:
            raise SimulationError(f"{psid} is not a PSID of {page.name}")
        return thread
    return world.thread(page.id, world.person(name or "Jane Doe").id)


def build_item(world: World, page: Page, thread: Thread, spec: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """One messaging item for a customer action, recorded in the thread. Returns (item, mid)."""
    kind = spec.get("kind") or "text"
    if kind not in EVENT_KINDS:
        raise SimulationError(f"unknown kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    timestamp = now_ms() - int(float(spec.get("age_seconds") or 0) * 1000)
    stamp: Any = str(timestamp // 1000) if spec.get("timestamp_style") == "string_seconds" else timestamp
    item: dict[str, Any] = {"sender": {"id": thread.psid}, "recipient": {"id": page.id}, "timestamp": stamp}
    mid = spec.get("mid") or new_mid()
    text = spec.get("text")
    record: ThreadMessage | None = None

    if kind in ("text", "quick_reply", "attachment", "sticker"):
        message: dict[str, Any] = {"mid": mid}
        if kind == "quick_reply":
            if not text:
                raise SimulationError("a quick reply needs the tapped title as text")
            message["quick_reply"] = {"payload": spec.get("payload") or text}
        if kind == "sticker":
            url = spec.get("url") or "https://scontent.xx.fbcdn.net/v/t39.1997-6/sandbox_like.png"
            message["sticker_id"] = STICKER_ID
            message["attachments"] = [{"type": "image", "payload": {"url": url, "sticker_id": STICKER_ID}}]
        elif kind == "attachment" or spec.get("attachments"):
            attachments = spec.get("attachments") or [
                {"type": spec.get("type") or "image", "payload": {"url": spec.get("url") or _sample_url(spec)}}
            ]
            message["attachments"] = attachments
        if text:
            message["text"] = text
        if kind == "text" and not text:
            raise SimulationError("text is required")
        if spec.get("reply_to"):
            message["reply_to"] = {"mid": spec["reply_to"]}
        item["message"] = message
        record = ThreadMessage(
            mid=mid,
            sender="customer",
            timestamp=timestamp,
            text=text or "",
            attachments=message.get("attachments", []),
            payload=(message.get("quick_reply") or {}).get("payload"),
            reply_to=spec.get("reply_to"),
        )
    elif kind in ("postback", "get_started"):
        title = "Get Started" if kind == "get_started" else (spec.get("title") or text)
        payload = GET_STARTED_PAYLOAD if kind == "get_started" else (spec.get("payload") or title)
        if not title:
            raise SimulationError("a postback needs the button's title")
        item["postback"] = {"mid": mid, "title": title, "payload": payload}
        if spec.get("referral"):
            item["postback"]["referral"] = spec["referral"]
        record = ThreadMessage(
            mid=mid, sender="customer", timestamp=timestamp, text=title, kind="postback", payload=payload
        )
    elif kind in ("reaction", "unreact"):
        target = spec.get("target_mid") or _last_page_mid(thread)
        if not target:
            raise SimulationError("nothing to react to: the Page has not written yet")
        emoji = spec.get("emoji") or "❤"
        action = "unreact" if kind == "unreact" else "react"
        item["reaction"] = {"mid": target, "action": action, "emoji": emoji, "reaction": _reaction_name(emoji)}
        with world.lock:
            for message in thread.messages:
                if message.mid == target:
                    if action == "react":
                        message.reactions["customer"] = emoji
                    else:
                        message.reactions.pop("customer", None)
        mid = None
    elif kind == "referral":
        referral = {
            "ref": spec.get("ref") or "sandbox",
            "source": spec.get("source") or "SHORTLINK",
            "type": "OPEN_THREAD",
        }
        if spec.get("ad_id"):
            referral["ad_id"] = str(spec["ad_id"])
            referral["source"] = "ADS"
        item["referral"] = referral
        mid = None
    elif kind == "edit":
        target = spec.get("target_mid") or _last_customer_mid(thread)
        if not target or not text:
            raise SimulationError("an edit needs text and a message of the customer's to edit")
        item["message_edit"] = {"mid": target, "text": text, "num_edit": 1}
        with world.lock:
            for message in thread.messages:
                if message.mid == target:
                    message.text = text
        mid = None

    if record is not None:
        with world.lock:
            thread.messages.append(record)
            thread.messages.sort(key=lambda m: m.timestamp)
            thread.last_customer_at = max(thread.last_customer_at or 0, timestamp)
    if spec.get("wrapped"):
        item = {"field": item_field(item), "value": item}
    return item, mid


def _sample_url(spec: dict[str, Any]) -> str:
    kind = spec.get("type") or "image"
    ext = {"image": "jpg", "video": "mp4", "audio": "mp4", "file": "pdf"}.get(kind, "bin")
    return f"https://scontent.xx.fbcdn.net/v/t1.15752-9/sandbox_{kind}.{ext}"


def _reaction_name(emoji: str) -> str:
    return {"❤": "love", "❤️": "love", "😆": "smile", "😮": "wow", "😢": "sad", "😠": "angry", "👍": "like"}.get(
        emoji, "other"
    )


def _last_page_mid(thread: Thread) -> str | None:
    return next((m.mid for m in reversed(thread.messages) if m.sender == "page"), None)


def _last_customer_mid(thread: Thread) -> str | None:
    return next((m.mid for m in reversed(thread.messages) if m.sender == "customer"), None)


def post(
    world: World,
    dispatcher: Dispatcher,
    entries: list[tuple[str, list[dict[str, Any]], bool]],
    *,
    duplicates: int = 1,
    concurrent: bool = False,
    wait: bool = True,
) -> list[dict[str, Any]]:
    """POST one envelope (several times for duplicates, from parallel threads when concurrent)."""
    body = json.dumps(envelope("page", entries))
    duplicates = max(1, min(int(duplicates), 100))
    if concurrent and duplicates > 1:
        results: list = [None] * duplicates
        barrier = threading.Barrier(duplicates)

        def run(index: int) -> None:
            barrier.wait()
            results[index] = dispatcher.submit("page", {}, wait=True, body=body)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(duplicates)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deliveries = results
    else:
        deliveries = [dispatcher.submit("page", {}, wait=wait, body=body) for _ in range(duplicates)]
    return [d.public(with_body=False) for d in deliveries]


def customer_says(world: World, dispatcher: Dispatcher, spec: dict[str, Any]) -> dict[str, Any]:
    """One customer action on one Page (text by default), posted as a webhook. spec: page, from|psid, kind, text,
    payload, title, type, url, attachments, reply_to, target_mid, emoji, ref, ad_id, age_seconds, timestamp_style,
    wrapped, standby, duplicates, concurrent, wait."""
    page = resolve_page(world, spec.get("page"))
    thread = resolve_thread(world, page, spec.get("from"), spec.get("psid"))
    item, mid = build_item(world, page, thread, spec)
    standby = bool(spec.get("standby"))
    field = "standby" if standby else item_field(item.get("value", item))
    result: dict[str, Any] = {
        "page_id": page.id,
        "page": page.name,
        "psid": thread.psid,
        "person_id": thread.person_id,
        "mid": mid,
        "item": item,
    }
    if field not in page.subscribed_fields:
        result["deliveries"] = []
        result["skipped"] = f"the app is not subscribed to {field} on {page.name}"
        return result
    result["deliveries"] = post(
        world,
        dispatcher,
        [(page.id, [item], standby)],
        duplicates=spec.get("duplicates", 1),
        concurrent=bool(spec.get("concurrent")),
        wait=spec.get("wait", True),
    )
    return result


def batch(world: World, dispatcher: Dispatcher, specs: list[dict[str, Any]], wait: bool = True) -> dict[str, Any]:
    """Several customer actions, possibly on several Pages, in ONE webhook POST (one entry each)."""
    entries, results = [], []
    for spec in specs:
        page = resolve_page(world, spec.get("page"))
        thread = resolve_thread(world, page, spec.get("from"), spec.get("psid"))
        item, mid = build_item(world, page, thread, spec)
        entries.append((page.id, [item], bool(spec.get("standby"))))
        results.append({"page_id": page.id, "psid": thread.psid, "mid": mid})
    deliveries = post(world, dispatcher, entries, wait=wait)
    return {"events": results, "deliveries": deliveries}


def page_inbox_reply(world: World, spec: dict[str, Any]) -> dict[str, Any]:
    """A person answers from the Page's own inbox (Meta Business Suite): an echo without our app_id."""
    page = resolve_page(world, spec.get("page"))
    thread = resolve_thread(world, page, spec.get("from"), spec.get("psid"))
    text = (spec.get("text") or "").strip()
    if not text:
        raise SimulationError("text is required")
    app_id = spec.get("app_id")  # None: Meta's own inbox; another id: a third-party tool
    entry = ThreadMessage(mid=new_mid(), sender="page", timestamp=now_ms(), text=text, app_id=app_id)
    with world.lock:
        thread.messages.append(entry)
    notify_page_message(world, page, thread, entry, app_id=app_id)
    return {"page_id": page.id, "psid": thread.psid, "mid": entry.mid}


def mark_read(world: World, dispatcher: Dispatcher, spec: dict[str, Any]) -> dict[str, Any]:
    """The customer opened the thread: a message_reads webhook with the watermark of the Page's last message."""
    page = resolve_page(world, spec.get("page"))
    thread = resolve_thread(world, page, spec.get("from"), spec.get("psid"))
    with world.lock:
        page_times = [m.timestamp for m in thread.messages if m.sender == "page"]
        if not page_times or max(page_times) <= thread.read_watermark:
            return {"psid": thread.psid, "deliveries": [], "skipped": "nothing new to read"}
        thread.read_watermark = max(page_times)
        watermark = thread.read_watermark
    deliver(world, page, thread)
    item = {
        "sender": {"id": thread.psid},
        "recipient": {"id": page.id},
        "timestamp": now_ms(),
        "read": {"watermark": watermark},
    }
    if "message_reads" not in page.subscribed_fields:
        return {"psid": thread.psid, "deliveries": []}
    delivery = dispatcher.submit("page", envelope("page", [(page.id, [item], False)]), wait=spec.get("wait", False))
    return {"psid": thread.psid, "watermark": watermark, "deliveries": [delivery.public(with_body=False)]}
