"""The customer's side of SMS: a text (or MMS) to one of the demo's numbers, turned into the signed webhook Twilio
would post to the number's SmsUrl (or its Messaging Service's inbound URL), with Advanced Opt-Out applied first."""

from __future__ import annotations

import base64
import time
from typing import Any

from chatpad.channels.phone import maybe_e164

from .webhooks import TwilioDispatcher
from .world import Message, TwilioWorld, sid

# A 1x1 PNG, for "send a photo" when no file is given.
SAMPLE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class SimulationError(ValueError):
    """A request the simulator cannot turn into a text: answered 400."""


def texts(world: TwilioWorld, dispatcher: TwilioDispatcher, spec: dict[str, Any], media_base: str) -> dict[str, Any]:
    """spec: location (community name, slug or the number), from (the customer's number), text, media
    ([{"content_type", "data" (base64)}] or "photo": true), wait (post the webhook before answering)."""
    number = world.number_for_location(str(spec.get("location") or spec.get("to") or ""))
    if number is None:
        raise SimulationError(f"no demo number for {spec.get('location')!r} (GET /sandbox-api/twilio/numbers)")
    customer = maybe_e164(str(spec.get("from") or "+15125550123"))
    if customer is None:
        raise SimulationError(f"{spec.get('from')!r} is not a phone number")
    text = str(spec.get("text") or "")
    files = list(spec.get("media") or [])
    if spec.get("photo"):
        files.append({"content_type": "image/png", "data": base64.b64encode(SAMPLE_PNG).decode()})
    if not text and not files:
        raise SimulationError("text or media is required")
    account = world.accounts[number.account_sid]
    message_sid = sid("MM" if files else "SM")
    media = []
    for item in files[:10]:
        data = base64.b64decode(item.get("data") or "")
        media_sid = world.store_media(item.get("content_type") or "image/jpeg", data)
        url = f"{media_base}/twilio/2010-04-01/Accounts/{account.sid}/Messages/{message_sid}/Media/{media_sid}"
        media.append({"sid": media_sid, "content_type": item.get("content_type") or "image/jpeg", "url": url})
    service = world.service_of(number)
    message = Message(
        sid=message_sid,
        account_sid=account.sid,
        direction="inbound",
        from_=customer,
        to=number.phone_number,
        body=text,
        status="received",
        created_at=time.time(),
        media=media,
        messaging_service_sid=service.sid if service else None,
    )
    with world.lock:
        world.messages[message.sid] = message
    params = [
        ("ToCountry", "US"),
        ("ToState", ""),
        ("SmsMessageSid", message.sid),
        ("NumMedia", str(len(media))),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", message.sid),
        ("FromState", "TX"),
        ("SmsStatus", "received"),
        ("FromCity", "AUSTIN"),
        ("Body", text),
        ("FromCountry", "US"),
        ("To", number.phone_number),
    ]
    if service is not None:
        params.append(("MessagingServiceSid", service.sid))
    params += [
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", message.sid),
        ("AccountSid", account.sid),
        ("From", customer),
        ("ApiVersion", "2010-04-01"),
    ]
    for index, item in enumerate(media):
        params += [(f"MediaContentType{index}", item["content_type"]), (f"MediaUrl{index}", item["url"])]
    automatic = world.apply_keyword(number, customer, text)
    if automatic:
        reply = Message(
            sid=sid("SM"),
            account_sid=account.sid,
            direction="outbound-reply",
            from_=number.phone_number,
            to=customer,
            body=automatic,
            status="delivered",
            created_at=time.time() + 0.001,
            automatic="twilio",
        )
        with world.lock:
            world.messages[reply.sid] = reply
    url = world.inbound_url(number)
    delivery = dispatcher.submit("inbound", account.sid, url, params, wait=bool(spec.get("wait", True)))
    return {
        "number": number.phone_number,
        "location": number.location_slug,
        "from": customer,
        "sid": message.sid,
        "messaging_service_sid": message.messaging_service_sid,
        "automatic_reply": automatic,
        "delivery": delivery.public(),
    }
