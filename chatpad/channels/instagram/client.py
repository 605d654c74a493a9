"""Instagram's Graph calls, for professional accounts linked to a Facebook Page: everything goes to the Page's
endpoints with the Page's token, and the customer is addressed by their Instagram-scoped id (IGSID).

Send API:      https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message
User profile:  https://developers.facebook.com/docs/messenger-platform/instagram/features/user-profile
Story mention: https://developers.facebook.com/docs/messenger-platform/instagram/features/story-mention
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chatpad.channels.errors import AuthExpiredError
from chatpad.channels.meta import get_graph_client

if TYPE_CHECKING:
    from chatpad.channels.meta import GraphClient
    from chatpad.models import SocialAccount

PLATFORM = "Instagram"
PROFILE_FIELDS = "name,username,profile_pic"
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")


def graph(config: Mapping[str, Any] | None = None) -> GraphClient:
    """The Graph client, naming Instagram in the reasons shown to admins."""
    return get_graph_client(config, platform=PLATFORM)


def page_token(account: SocialAccount) -> str:
    """The linked Page's access token (decrypted), or AuthExpiredError when the account has none."""
    token = account.access_token
    if not token:
        raise AuthExpiredError(f"{account.account_name} has no Page access token: reconnect its Facebook Page")
    return token


def page_node(account: SocialAccount) -> str:
    """The Graph node to send from: the linked Page's id, or "me" (the Page the token belongs to)."""
    return str((account.meta or {}).get("page_id") or "me")


def send_message(account: SocialAccount, body: dict[str, Any], config: Mapping[str, Any] | None = None) -> dict:
    """POST /<PAGE_ID>/messages with the Page token; Meta's answer {"recipient_id", "message_id"}."""
    return graph(config).post(f"{page_node(account)}/messages", token=page_token(account), json=body)


def send_sender_action(
    account: SocialAccount, recipient_id: str, action: str, config: Mapping[str, Any] | None = None
) -> None:
    """typing_on / typing_off / mark_seen in the customer's Instagram thread."""
    if action not in SENDER_ACTIONS:
        raise ValueError(f"unknown sender action {action!r}")
    send_message(account, {"recipient": {"id": recipient_id}, "sender_action": action}, config)


def get_profile(account: SocialAccount, igsid: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """GET /<IGSID>?fields=name,username,profile_pic with the Page token (IGSIDs are scoped to the IG account)."""
    return graph(config).get(igsid, token=page_token(account), params={"fields": PROFILE_FIELDS})


def get_story_mention(account: SocialAccount, mid: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The story a story-mention message points at: GET /<MID>?fields=story → {"link", "id"} (empty if none)."""
    answer = graph(config).get(mid, token=page_token(account), params={"fields": "story"})
    story = answer.get("story") if isinstance(answer, dict) else None
    mention = story.get("mention") if isinstance(story, dict) else None
    return dict(mention) if isinstance(mention, dict) else {}
