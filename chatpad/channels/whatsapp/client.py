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
