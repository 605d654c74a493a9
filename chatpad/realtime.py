"""Live updates: what changed in a conversation, published on Redis pub/sub for the inbox and the widget.

Channels: chatpad:<redis db>:org:<organization_id> (the inbox of that organization) and
chatpad:<redis db>:conv:<conversation_id> (one conversation: its open view in the inbox, the visitor's widget).
Events are small JSON objects; a subscriber that
needs more reads the database. Publishing never fails the caller: a missed live update is refreshed on the next poll.

Events: message.created, message.updated (delivery status, edits, deletes), conversation.updated (status, takeover,
assignment), typing (started: true/false, while the AI works).
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("chatpad.realtime")


def _namespace() -> str:
    """Pub/sub channels are server-wide (Redis ignores the database number for them), so they carry the db number:
    two deployments or test sessions sharing one Redis server on different databases never hear each other."""
    from chatpad.queue import get_redis

    db = get_redis().connection_pool.connection_kwargs.get("db", 0)
    return f"chatpad:{db}"


def org_channel(organization_id: int) -> str:
    return f"{_namespace()}:org:{organization_id}"


def conversation_channel(conversation_id: Any) -> str:
    return f"{_namespace()}:conv:{conversation_id}"


def publish(organization_id: int, conversation_id: Any, event: str, data: dict[str, Any] | None = None) -> None:
    """Tell live subscribers about a change. Call after the change is committed."""
    from chatpad.queue import get_redis

    payload = json.dumps(
        {"event": event, "conversation_id": str(conversation_id), **(data or {})}, separators=(",", ":"), default=str
    )
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.publish(org_channel(organization_id), payload)
        pipe.publish(conversation_channel(conversation_id), payload)
        pipe.execute()
    except Exception:  # a live update is best-effort; the database is the truth
        log.warning("could not publish %s for conversation %s", event, conversation_id, exc_info=True)


def subscribe(*channels: str):
    """A PubSub subscribed to the given channels (the caller closes it)."""
    from chatpad.queue import get_redis

    pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(*channels)
    return pubsub
