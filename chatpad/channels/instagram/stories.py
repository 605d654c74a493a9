"""Instagram stories in messages: the link, when it dies, and how the inbox shows it.

Meta policy: a story's media is never downloaded or stored, only its CDN link, which stops working when the story
expires (about 24 hours after it was posted) or is deleted.
https://developers.facebook.com/docs/messenger-platform/instagram/features/story-mention

When the link dies: Meta's CDN links are signed, and their `oe` query parameter is the signature's expiry as hex
epoch seconds (observed on scontent.cdninstagram.com and lookaside.fbsbx.com links; undocumented). Without it, a
story is taken to live 24 hours from the message.

Two shapes carry a story in a stored message's metadata:
- a mention: meta["story_mention"] = {"url", "id"?, "expires_at"} (the customer mentioned the business);
- a reply:   meta["reply_to"]["story"] = {"url", "id", "expires_at"} (the customer answered the business's story).

`story_of(message)` gives either as a StoryLink; `story_expired` and the partial templates/channels/instagram/
_story.html use it. `register_template_helpers(app)` installs them in Jinja.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

STORY_LIFETIME = timedelta(hours=24)


def link_expiry(url: str | None, posted_at: datetime | None = None) -> datetime | None:
    """When a story CDN link stops working: its signed `oe` expiry if it has one, else 24 h after posted_at."""
    if url:
        try:
            values = parse_qs(urlsplit(url).query).get("oe")
            if values:
                return datetime.fromtimestamp(int(values[0], 16), UTC)
        except (ValueError, OverflowError, OSError):
            pass
    if posted_at is None:
        return None
    if posted_at.tzinfo is None:
        posted_at = posted_at.replace(tzinfo=UTC)
    return posted_at + STORY_LIFETIME


def story_info(url: str | None, story_id: str | None, posted_at: datetime) -> dict[str, Any]:
    """The metadata kept for a story: its link, its id (when known) and when the link dies (ISO 8601)."""
    expires = link_expiry(url, posted_at)
    info: dict[str, Any] = {"url": url, "expires_at": expires.isoformat() if expires else None}
    if story_id:
        info["id"] = str(story_id)
    return info


@dataclass(frozen=True)
class StoryLink:
    """A story a message refers to, as the inbox shows it."""

    kind: str  # "mention" (the customer mentioned the business in their story) | "reply" (to the business's story)
    url: str | None
    id: str | None
    expires_at: datetime | None

    def expired(self, now: datetime | None = None) -> bool:
        """True once the link is dead (or there never was one): the inbox then says "Story expired"."""
        if not self.url:
            return True
        if self.expires_at is None:
            return False
        return (now or datetime.now(UTC)) >= self.expires_at

    @property
    def live(self) -> bool:
        return not self.expired()

    @property
    def label(self) -> str:
        return "Mentioned you in their story" if self.kind == "mention" else "Replied to your story"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def story_of(message: Any) -> StoryLink | None:
    """The story a message (a stored Message, or its metadata dict) mentions or replies to, if any."""
    meta = message if isinstance(message, Mapping) else (getattr(message, "meta", None) or {})
    mention = meta.get("story_mention")
    if isinstance(mention, Mapping):
        return StoryLink("mention", mention.get("url"), mention.get("id"), _parse_time(mention.get("expires_at")))
    reply_to = meta.get("reply_to")
    story = reply_to.get("story") if isinstance(reply_to, Mapping) else None
    if isinstance(story, Mapping):
        return StoryLink("reply", story.get("url"), story.get("id"), _parse_time(story.get("expires_at")))
    return None


def story_expired(message: Any, now: datetime | None = None) -> bool:
    """Whether the story a message refers to can no longer be shown (False when it refers to none)."""
    story = story_of(message)
    return story is not None and story.expired(now)


def is_unsupported(message: Any) -> bool:
    """A message Instagram could not pass on (a GIF, some stickers…): the inbox shows "Unsupported message"."""
    meta = message if isinstance(message, Mapping) else (getattr(message, "meta", None) or {})
    return bool(meta.get("is_unsupported"))


def register_template_helpers(app) -> None:
    """Jinja: `message|instagram_story` (a StoryLink or None), `message|story_expired`,
    `message|instagram_unsupported`; the partial is templates/channels/instagram/_story.html."""
    app.add_template_filter(story_of, "instagram_story")
    app.add_template_filter(story_expired, "story_expired")
    app.add_template_filter(is_unsupported, "instagram_unsupported")
