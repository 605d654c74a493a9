"""Messenger's Graph calls: the Send API, sender actions and user profiles, with the Page's token.

https://developers.facebook.com/docs/messenger-platform/reference/send-api/
https://developers.facebook.com/docs/messenger-platform/send-messages/sender-actions
https://developers.facebook.com/docs/messenger-platform/identity/user-profile
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chatpad.channels.errors import AuthExpiredError
from chatpad.channels.meta import get_graph_client

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")
PROFILE_FIELDS = "first_name,last_name,profile_pic"


def page_token(account: SocialAccount) -> str:
    """The Page access token (decrypted), or AuthExpiredError when the account has none."""
    token = account.access_token
    if not token:
        raise AuthExpiredError(f"{account.account_name} has no Page access token: reconnect it")
    return token


def send_message(account: SocialAccount, body: dict[str, Any], config: Mapping[str, Any] | None = None) -> dict:
    """POST /<PAGE_ID>/messages; Meta's answer {"recipient_id", "message_id"}."""
    client = get_graph_client(config)
    return client.post(f"{account.account_id}/messages", token=page_token(account), json=body)


def send_sender_action(
    account: SocialAccount, recipient_id: str, action: str, config: Mapping[str, Any] | None = None
) -> None:
    """Show typing_on / typing_off, or mark_seen the customer's last message, in the Messenger thread."""
    if action not in SENDER_ACTIONS:
        raise ValueError(f"unknown sender action {action!r}")
    send_message(account, {"recipient": {"id": recipient_id}, "sender_action": action}, config)


def typing_on(account: SocialAccount, recipient_id: str, config: Mapping[str, Any] | None = None) -> None:
    """The "…" bubble while a reply is being written (Meta clears it after 20 s or on the next message)."""
    send_sender_action(account, recipient_id, "typing_on", config)


def mark_seen(account: SocialAccount, recipient_id: str, config: Mapping[str, Any] | None = None) -> None:
    """Mark the customer's messages as seen by the Page."""
    send_sender_action(account, recipient_id, "mark_seen", config)


def get_profile(account: SocialAccount, psid: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """GET /<PSID>?fields=first_name,last_name,profile_pic with the Page token (PSIDs are page-scoped)."""
    client = get_graph_client(config)
    return client.get(psid, token=page_token(account), params={"fields": PROFILE_FIELDS})
