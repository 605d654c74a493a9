"""The face every channel adapter shows: verify, parse, format, send."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from chatpad.http import loads_json
from chatpad.messages import FollowUp, InboundEvent, OutboundPart, OutboundReply

from .errors import AnomalousPayloadError, unsendable_is_permanent

if TYPE_CHECKING:
    from chatpad.models import Contact, Conversation, Message, SocialAccount


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
    # The account's sending columns were read a moment ago (the AI job's last check after the model): the send that
    # follows need not read them again.
    account_fresh: bool = False
    # Why the customer may not be messaged from this account at all (they texted STOP: SMS opt-out), or None.
    recipient_opted_out: str | None = None


class Channel(ABC):
    """A channel adapter. parse() is pure; platform HTTP lives in the adapter's client module."""

    key: ClassVar[str]
    # Every event type the adapter declares; tests/test_fixture_coverage.py wants a fixture for each.
    event_types: ClassVar[tuple[str, ...]] = ()
    # Text limit of one outbound message, and its unit.
    max_text: ClassVar[int | None] = None
    max_text_unit: ClassVar[str] = "characters"
    # verify_request reads the database (per-account signing keys: Twilio signs with each customer's own Auth Token),
    # so the webhook receiver runs it inside the app context.
    verify_in_app_context: ClassVar[bool] = False
    # The customer's id on this channel is their phone number in E.164, proven by the platform (SMS, WhatsApp): the
    # same number on two such channels is the same person.
    identity_is_phone: ClassVar[bool] = False
    # Choices go out as numbered lines (no buttons on the channel): a reply of "2" picks the second (pick_choice).
    numbered_choices: ClassVar[bool] = False

    def verify_request(  # noqa: B027
        self, body: bytes, headers: Mapping[str, str], config: Mapping[str, Any], url: str | None = None
    ) -> None:
        """Raise SignatureError unless the request is really from the platform. url: the address the request was
        made to, as this server saw it (Twilio signs the URL it called). Default: nothing to check."""

    def webhook_ack(self, body: bytes) -> tuple[str, bytes]:
        """The content type and body of the webhook's 200 answer (Twilio wants empty TwiML). Default: JSON."""
        return "application/json", b'{"status": "received"}'

    @abstractmethod
    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """Turn one raw delivery into events. No database, no network: fixture tests call it directly.

        Raise AnomalousPayloadError for a body the platform would never send."""

    @abstractmethod
    def format(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """Shape a reply into the platform messages to send, in order, each within the channel's limits. Pure."""

    @abstractmethod
    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """Send one formatted payload from ctx.account; return the platform's message id.

        Raise TransientSendError, PermanentSendError (or WindowClosedError) or AuthExpiredError."""

    # --- what the pipeline calls: format and send, with what can never be sent made permanent ---

    def prepare(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """format(), with a reply that cannot be built for this channel (a ValueError: a header holding CR/LF, an
        address that is not one) raised as PermanentSendError: the same input fails the same way every time."""
        with unsendable_is_permanent("The reply could not be written"):
            return self.format(reply, ctx)

    def deliver(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """send(), with a payload the platform's client refuses to even hand over (a ValueError) raised as
        PermanentSendError, so it is marked failed with the reason instead of being retried."""
        with unsendable_is_permanent("The message could not be sent as written"):
            return self.send(payload, ctx)

    # --- optional hooks; the defaults suit most channels ---

    def handshake(self, args: Mapping[str, str], config: Mapping[str, Any]) -> str | None:
        """Answer a platform's GET verification (Meta's hub.challenge): the body to return, or None when this
        channel has none. Raise SignatureError when the verify token is wrong."""
        return None

    def receipts_only(self, body: bytes, config: Mapping[str, Any]) -> bool:
        """In the webhook request, after validate_envelope: does this delivery hold nothing but receipts of what the
        business sent (delivery and read receipts, echoes of ChatPad's own sends)? Those need no answer, so they go
        to a lane of their own, taken in batches, that customers' messages never wait behind
        (chatpad/pipeline/dispatch.py). When unsure, False. Default: False."""
        return False

    def validate_envelope(self, body: bytes) -> None:
        """A cheap check in the webhook request, before the event is stored: raise AnomalousPayloadError for a body
        the platform would never send (400). The full parse runs in the worker. Default: a JSON object."""
        try:
            data = loads_json(body)
        except ValueError:
            raise AnomalousPayloadError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise AnomalousPayloadError("the body is not a JSON object")

    # True where the platform hides our typing indicator by itself when our message arrives: the AI then turns it
    # off only when no reply follows (dropped, taken over).
    typing_ends_with_reply: bool = False

    def typing(self, ctx: SendContext, on: bool) -> None:  # noqa: B027 (optional hook, no-op by default)
        """Show or hide a typing indicator to the customer while the AI works (best-effort; default: none)."""

    def check_window(self, ctx: SendContext) -> str | None:
        """Why this reply may not be sent now (a closed messaging window), or None if it may. Checked before an
        outbound message is queued and again before it is sent; a reason marks the message skipped/failed with it."""
        return None

    def fetch_profile(self, account: SocialAccount, sender_id: str) -> dict[str, Any] | None:
        """The customer's profile from the platform ({"name": …, "email": …}); runs in a worker, I/O allowed.
        None when the channel has no profile lookup or it failed (never fatal)."""
        return None

    def resolve_conversation(
        self, account: SocialAccount, contact: Contact, event: InboundEvent
    ) -> Conversation | None:
        """The existing conversation an inbound event belongs to, or None to start one. The pipeline's default
        (used when this returns NotImplemented) is the contact's latest conversation on the account."""
        return NotImplemented

    def pick_choice(self, text: str, offered: list[dict[str, Any]]) -> dict[str, Any] | None:
        """For numbered_choices channels: the choice (one of `offered`, the last reply's numbered options) that the
        customer's `text` picks, or None when it picks none."""
        return None

    def download_media(self, account: SocialAccount, media: dict[str, Any]) -> tuple[bytes, str]:
        """The bytes and content type of an inbound media entry marked extra["download"] (MMS, WhatsApp media), with
        the account's credentials; raise SendErrors (transient ones are retried). Runs in a worker."""
        raise NotImplementedError(f"{self.key} has no media to download")

    def webhook_needles(self, external_id: str) -> list[bytes]:
        """How a customer's id appears in the raw deliveries this channel stores (for erasure): a JSON string by
        default, an address as it is in raw mail."""
        return [external_id.encode()] if "@" in external_id else [f'"{external_id}"'.encode()]

    def after_ingest(self, event: InboundEvent, conversation: Conversation, message: Message) -> list[FollowUp]:
        """Called in the worker once a customer's new message is stored and committed (I/O allowed): the place for
        a channel's own follow-up, such as Instagram looking up a mentioned story. Returns the replies the channel
        wants sent (Instagram's story-mention thank-you), each keyed by the message so a rerun asks for the same one;
        the pipeline decides whether they go out and queues them. Errors are logged, never lose the message.
        Default: nothing."""
        return []
