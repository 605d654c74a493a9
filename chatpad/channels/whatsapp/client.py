"""The Cloud API calls, with the WhatsApp Business Account's token (a system user's, from Embedded Signup):
send, mark read (with the typing indicator), media download.
https://developers.facebook.com/documentation/business-messaging/whatsapp/reference (sms-whatsapp-reference.md §A5-6)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import select

from chatpad.channels.errors import AuthExpiredError, PermanentSendError, TransientSendError
from chatpad.channels.meta import get_graph_client

if TYPE_CHECKING:
    from chatpad.models import Conversation, SocialAccount

PLATFORM = "WhatsApp"
MAX_MEDIA_BYTES = 100 * 1024 * 1024  # documents: 100 MB, the largest WhatsApp takes


def token(account: SocialAccount) -> str:
    """The account's WhatsApp token (decrypted), or AuthExpiredError when it has none."""
    value = account.access_token
    if not value:
        raise AuthExpiredError(f"{account.account_name} has no WhatsApp access token: reconnect it")
    return value


def send_message(account: SocialAccount, body: dict[str, Any], config: Mapping[str, Any] | None = None) -> dict:
    """POST /{phone-number-id}/messages; Meta's answer {"messaging_product", "contacts", "messages": [{"id"}]}."""
    client = get_graph_client(config, platform=PLATFORM)
    return client.post(f"{account.account_id}/messages", token=token(account), json=body)


def mark_read(account: SocialAccount, wamid: str, *, typing: bool = False) -> None:
    """Mark a customer's message read; with typing, show the typing indicator too."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    send_message(account, body)


def last_inbound_id(conversation: Conversation) -> str | None:
    """The wamid of the customer's latest message in the conversation (what a read receipt names)."""
    from chatpad.extensions import db
    from chatpad.models import Message

    return db.session.scalar(
        select(Message.external_id)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.id.desc())
        .limit(1)
    )


def download_media(account: SocialAccount, media_id: str) -> tuple[bytes, str]:
    """GET /{media-id} for the file's short-lived URL, then the file with the same Bearer token."""
    client = get_graph_client(platform=PLATFORM)
    bearer = token(account)
    info = client.get(media_id, token=bearer, params={"phone_number_id": account.account_id})
    url = str(info.get("url") or "")
    if not url:
        raise PermanentSendError(f"WhatsApp gave no URL for media {media_id}")
    try:
        response = client.session.get(
            url, headers={"Authorization": f"Bearer {bearer}"}, timeout=client.timeout, stream=True
        )
    except requests.RequestException as exc:
        raise TransientSendError(f"Could not download WhatsApp media: {type(exc).__name__}") from None
    with response:
        if response.status_code in (401, 403):
            raise AuthExpiredError("WhatsApp refused the media download: the token is no longer valid")
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientSendError(f"WhatsApp media download answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise PermanentSendError(f"WhatsApp media download answered HTTP {response.status_code}")
        data = response.raw.read(MAX_MEDIA_BYTES + 1, decode_content=True)
    if len(data) > MAX_MEDIA_BYTES:
        raise PermanentSendError("WhatsApp media larger than 100 MB")
    return data, str(info.get("mime_type") or response.headers.get("Content-Type") or "application/octet-stream")


# --- the WhatsApp Business Account (connect, templates) ---


def list_templates(waba_id: str, bearer: str, *, page_size: int = 100) -> list[dict[str, Any]]:
    """Every message template of the WABA: GET /{waba-id}/message_templates, page after page (paging.next, by its
    after cursor), each {"id", "name", "language", "status", "category", "components"}."""
    client = get_graph_client(platform=PLATFORM)
    templates: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": page_size}
    for _ in range(1000):  # a WABA holds at most a few thousand templates; never loop forever on a bad cursor
        answer = client.get(f"{waba_id}/message_templates", token=bearer, params=params)
        templates += [t for t in answer.get("data") or [] if isinstance(t, dict)]
        paging = answer.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after or after == params.get("after"):
            break
        params = {"limit": page_size, "after": after}
    return templates


def phone_numbers(waba_id: str, bearer: str) -> list[dict[str, Any]]:
    """The WABA's phone numbers: GET /{waba-id}/phone_numbers, each {"id", "display_phone_number",
    "verified_name", "quality_rating"}."""
    answer = get_graph_client(platform=PLATFORM).get(f"{waba_id}/phone_numbers", token=bearer)
    return [n for n in answer.get("data") or [] if isinstance(n, dict)]


def subscribe_app(waba_id: str, bearer: str) -> None:
    """POST /{waba-id}/subscribed_apps: the app receives the WABA's webhooks (the callback set on the app)."""
    answer = get_graph_client(platform=PLATFORM).post(f"{waba_id}/subscribed_apps", token=bearer, json={})
    if not answer.get("success"):
        raise PermanentSendError("WhatsApp did not confirm the app's subscription to the WhatsApp Business Account")


def app_subscribed(waba_id: str, bearer: str) -> bool:
    """GET /{waba-id}/subscribed_apps: is some app (ours: the token is our app's) subscribed to the WABA?"""
    answer = get_graph_client(platform=PLATFORM).get(f"{waba_id}/subscribed_apps", token=bearer)
    return bool(answer.get("data"))


def phone_number(number_id: str, bearer: str) -> dict[str, Any]:
    """GET /{phone-number-id}: the number's display number, verified name, status and platform type."""
    return get_graph_client(platform=PLATFORM).get(number_id, token=bearer)
