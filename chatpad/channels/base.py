"""The face every channel adapter shows: verify, parse, format, send."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .types import InboundEvent, OutboundReply

if TYPE_CHECKING:
    from chatpad.models import Conversation, Message, SocialAccount


@dataclass
class SendContext:
    """What a channel needs to know to shape and send a reply."""

    account: SocialAccount
    conversation: Conversation
    recipient_id: str  # the customer's platform id (PSID, IGSID, email address, visitor id)
    sender_type: str = "ai"  # ai | human | system: decides window tags (HUMAN_AGENT) on Meta
    last_inbound_at: datetime | None = None
    reply_to: Message | None = None  # the message being answered (email threading)
    extra: dict[str, Any] = field(default_factory=dict)


class Channel(ABC):
    """A channel adapter. parse() is pure; platform HTTP lives in the adapter's client module."""

    key: ClassVar[str]
    # Every event type the adapter declares; tests/test_fixture_coverage.py wants a fixture for each.
    event_types: ClassVar[tuple[str, ...]] = ()
    # Text limit of one outbound message, and its unit.
    max_text: ClassVar[int | None] = None
    max_text_unit: ClassVar[str] = "characters"

    def verify_request(self, body: bytes, headers: Mapping[str, str], config: Mapping[str, Any]) -> None:  # noqa: B027
        """Raise SignatureError unless the request is really from the platform. Default: nothing to check."""

    @abstractmethod
    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """Turn one raw delivery into events. No database, no network: fixture tests call it directly.

        Raise AnomalousPayloadError for a body the platform would never send."""

    @abstractmethod
    def format(self, reply: OutboundReply, ctx: SendContext) -> list[dict[str, Any]]:
        """Shape a reply into the platform payloads to send, in order, each within the channel's limits."""

    @abstractmethod
    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """Send one formatted payload from ctx.account; return the platform's message id.

        Raise TransientSendError, PermanentSendError (or WindowClosedError) or AuthExpiredError."""
