"""SMS providers behind one interface: Twilio first; Telnyx, Vonage or Plivo follow as one module each.

The SMS channel (chatpad/channels/sms/adapter.py) knows nothing of any provider's wire format. A provider module
implements SmsProvider: tell its webhooks apart (claims), check their signature, parse them into InboundEvents, send,
list and configure the numbers of an account, and fetch media. Register it in PROVIDERS; the account's
meta["provider"] says which one serves a number.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from typing import Any, ClassVar

from chatpad.messages import InboundEvent

# key -> "module:Class"
PROVIDERS: dict[str, str] = {
    "twilio": "chatpad.channels.sms.providers.twilio:TwilioProvider",
}


@dataclass(frozen=True)
class Credentials:
    """What a provider needs to act for one of its accounts. repr never shows the secrets."""

    account_sid: str
    auth_token: str = field(repr=False)  # signs webhooks (and authenticates REST calls without an API key)
    api_key_sid: str | None = None
    api_key_secret: str | None = field(default=None, repr=False)

    def rest_auth(self) -> tuple[str, str]:
        """HTTP Basic credentials for REST calls: the API key when there is one, else the account and its token."""
        if self.api_key_sid and self.api_key_secret:
            return self.api_key_sid, self.api_key_secret
        return self.account_sid, self.auth_token


@dataclass
class NumberInfo:
    """One number of a provider account, as the connect screens show it."""

    sid: str
    phone_number: str  # E.164
    friendly_name: str
    sms: bool = True
    mms: bool = False
    sms_url: str | None = None
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    messaging_service_name: str | None = None
    # Where the number's inbound messages really go: its own SmsUrl, or its Messaging Service's inbound URL.
    inbound_url: str | None = None


@dataclass
class SentMessage:
    sid: str
    status: str
    segments: int | None = None


@dataclass(frozen=True)
class WebhookKey:
    """Which provider account signed a webhook and which of our numbers it is about: enough to find the key."""

    account_sid: str
    number: str | None  # our number (E.164): To of an inbound message, From of a status callback


class SmsProvider(ABC):
    """One SMS provider's wire format and REST API."""

    key: ClassVar[str]
    label: ClassVar[str]
    # The response its inbound webhook expects (Twilio: empty TwiML as text/xml).
    ack_content_type: ClassVar[str] = "application/json"
    ack_body: ClassVar[bytes] = b'{"status": "received"}'

    @abstractmethod
    def claims(self, body: bytes, headers: Mapping[str, str] | None = None) -> bool:
        """Is this delivery this provider's? (Decided from the body alone in workers, which store no headers.)"""

    @abstractmethod
    def webhook_key(self, body: bytes) -> WebhookKey | None:
        """Who signed the delivery, from its (unverified) body; None when it names no account."""

    @abstractmethod
    def verify(self, body: bytes, headers: Mapping[str, str], urls: list[str], secrets: list[str]) -> bool:
        """Is the delivery signed by one of `secrets` for one of `urls` (the addresses it may have been sent to)?"""

    @abstractmethod
    def validate(self, body: bytes) -> None:
        """Raise AnomalousPayloadError for a body this provider would never send."""

    @abstractmethod
    def is_receipt(self, body: bytes) -> bool:
        """A delivery report of something we sent (not a customer's message)."""

    @abstractmethod
    def parse(self, body: bytes) -> list[InboundEvent]:
        """The delivery as events. Pure: no database, no network."""

    @abstractmethod
    def send(
        self,
        credentials: Credentials,
        *,
        to: str,
        sender: str | None,
        messaging_service_sid: str | None,
        body: str,
        media_urls: list[str],
        status_callback: str | None,
    ) -> SentMessage:
        """Send one message; raise the channel layer's SendErrors."""

    @abstractmethod
    def check(self, credentials: Credentials) -> dict[str, Any]:
        """Prove the credentials work (the account's name and status); raise ProviderError otherwise."""

    @abstractmethod
    def list_numbers(self, credentials: Credentials) -> list[NumberInfo]:
        """Every SMS-capable number of the account, with the Messaging Service each belongs to."""

    @abstractmethod
    def configure(self, credentials: Credentials, number: NumberInfo, *, webhook_url: str) -> NumberInfo:
        """Point the number's inbound messages and delivery reports at `webhook_url` (and its Messaging Service's,
        when it is in one), then read it back: the NumberInfo as the provider now has it."""

    @abstractmethod
    def release(self, credentials: Credentials, number: NumberInfo, *, webhook_url: str) -> None:
        """Undo configure on disconnect: stop the number's messages going to `webhook_url` (where they still do)."""

    @abstractmethod
    def download(self, credentials: Credentials, url: str) -> tuple[bytes, str]:
        """A media file of an inbound message: (bytes, content type); raise SendErrors on failure."""


class ProviderError(Exception):
    """A provider call during connection failed; `what` and `todo` are the admin's words."""

    def __init__(self, what: str, todo: str = "", *, code: int | str | None = None, status: int | None = None):
        super().__init__(what)
        self.what, self.todo, self.code, self.status = what, todo, code, status


@cache
def get_provider(key: str) -> SmsProvider:
    """The provider for a key; KeyError for an unknown one."""
    module_name, _, class_name = PROVIDERS[key].partition(":")
    return getattr(import_module(module_name), class_name)()


def provider_for(body: bytes, headers: Mapping[str, str] | None = None) -> SmsProvider | None:
    """The provider whose delivery this is, or None."""
    for key in PROVIDERS:
        provider = get_provider(key)
        if provider.claims(body, headers):
            return provider
    return None
