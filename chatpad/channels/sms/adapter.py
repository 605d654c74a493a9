"""The SMS adapter: a provider's webhooks in (Twilio first), its REST API out, one number per location or a pool.

- Inbound: POST /api/webhooks/sms, form-encoded, signed by the provider (Twilio: X-Twilio-Signature with the Auth
  Token of the customer's own Twilio account, over the URL Twilio called); answered with empty TwiML. A message is
  routed by the number it was sent to (To), so a number in a Messaging Service pool routes like any other.
- MMS media are downloaded with the account's credentials and stored as attachments (chatpad/pipeline/media.py).
- Delivery reports (status callbacks) update the message: delivered, or failed with the provider's error.
- Opt-out is the law: STOP (and the other keywords) marks the customer opted out of this number; nothing is sent to
  them until START. A reply is refused with the reason; 21610 from the provider marks them opted out too.
- Outbound: 1,600 characters per message at most; choices become numbered lines and "2" picks the second.
docs/channels/sms.md
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from chatpad.channels.base import Channel, SendContext
from chatpad.channels.errors import AnomalousPayloadError, AuthExpiredError, SignatureError
from chatpad.messages import FollowUp, InboundEvent, OutboundPart, OutboundReply

from . import formatting
from .credentials import NoCredentialsError, credentials, signing_keys
from .providers import SmsProvider, get_provider, provider_for
from .segments import MAX_BODY

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

WEBHOOK_PATH = "/api/webhooks/sms"
HELP_SETTING = "sms_help_reply"


def webhook_url(config: Mapping[str, Any]) -> str:
    """The address ChatPad gives the provider for inbound messages and delivery reports (PUBLIC_URL)."""
    base = str(config.get("PUBLIC_URL") or "").rstrip("/")
    return base + WEBHOOK_PATH


def signed_urls(config: Mapping[str, Any], url: str | None, headers: Mapping[str, str]) -> list[str]:
    """The URLs the provider may have signed: the one ChatPad configured (PUBLIC_URL, with the request's query), the
    request's own, and the request's as a proxy in front says it was (X-Forwarded-Proto/Host)."""
    candidates: list[str] = []
    query = urlsplit(url).query if url else ""
    public = webhook_url(config)
    if public.startswith("http"):
        candidates.append(public + (f"?{query}" if query else ""))
    if url:
        candidates.append(url)
        parts = urlsplit(url)
        proto = (_header(headers, "X-Forwarded-Proto") or "").split(",")[0].strip()
        host = (_header(headers, "X-Forwarded-Host") or "").split(",")[0].strip()
        if proto or host:
            candidates.append(urlunsplit((proto or parts.scheme, host or parts.netloc, *parts[2:])))
    return list(dict.fromkeys(candidates))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


class SmsChannel(Channel):
    """SMS and MMS through the number's provider."""

    key: ClassVar[str] = "sms"
    # Fixture prefixes under tests/fixtures/sms/ (tests/test_fixture_coverage.py checks both ways).
    event_types: ClassVar[tuple[str, ...]] = ("message", "mms", "keyword", "status", "pool", "unknown")
    max_text: ClassVar[int | None] = MAX_BODY
    max_text_unit: ClassVar[str] = "characters"
    verify_in_app_context: ClassVar[bool] = True
    identity_is_phone: ClassVar[bool] = True
    numbered_choices: ClassVar[bool] = True

    # --- inbound ---

    def _provider(self, body: bytes, headers: Mapping[str, str] | None = None) -> SmsProvider:
        provider = provider_for(body, headers)
        if provider is None:
            raise AnomalousPayloadError("not a delivery of any SMS provider ChatPad knows")
        return provider

    def verify_request(
        self, body: bytes, headers: Mapping[str, str], config: Mapping[str, Any], url: str | None = None
    ) -> None:
        """The provider's signature with the key of the provider account the delivery names (cached; read again
        before refusing); SignatureError (403) otherwise. Runs in the app context (the keys are in the database)."""
        try:
            provider = self._provider(body, headers)
            key = provider.webhook_key(body)
        except AnomalousPayloadError as exc:
            raise SignatureError(f"unsigned or unreadable SMS webhook: {exc}") from None
        if key is None:
            raise SignatureError("the delivery names no provider account")
        urls = signed_urls(config, url, headers)
        secrets = signing_keys(key)
        if secrets and provider.verify(body, headers, urls, list(secrets)):
            return
        fresh = signing_keys(key, fresh=True)
        if fresh and fresh != secrets and provider.verify(body, headers, urls, list(fresh)):
            return
        if not fresh:
            raise SignatureError(f"no connected SMS number of account {key.account_sid} to check the signature with")
        raise SignatureError(f"{provider.label} signature does not match")

    def webhook_ack(self, body: bytes) -> tuple[str, bytes]:
        """Twilio: an empty TwiML <Response/> as text/xml (no automatic reply; ChatPad answers through the API)."""
        provider = provider_for(body) or get_provider("twilio")
        return provider.ack_content_type, provider.ack_body

    def validate_envelope(self, body: bytes) -> None:
        """400 unless the body is a delivery the provider would send."""
        self._provider(body).validate(body)

    def receipts_only(self, body: bytes, config: Mapping[str, Any]) -> bool:
        """Delivery reports of what ChatPad sent go to the receipts lane."""
        provider = provider_for(body)
        return provider is not None and provider.is_receipt(body)

    def parse(self, body: bytes, headers: Mapping[str, str] | None = None) -> list[InboundEvent]:
        """A customer's SMS/MMS (with its opt-out keyword, if it is one) or a delivery report. Pure."""
        return self._provider(body, headers).parse(body)

    def after_ingest(self, event: InboundEvent, conversation, message) -> list[FollowUp]:
        """HELP (or INFO) is answered with who is texting and how to reach a person, as carriers require, also while
        a person has the conversation: the location's own text (Location.settings["sms_help_reply"]) or one built
        from the business's name and the location's phone and email."""
        if event.data.get("keyword") != "help":
            return []
        return [FollowUp(help_reply(conversation), f"keyword:{message.id}", during_takeover=True)]

    def pick_choice(self, text: str, offered: list[dict[str, Any]]) -> dict[str, Any] | None:
        """ "2" (or "2." or "#2") picks the second of the numbered choices the last reply offered."""
        return formatting.pick(text, offered)

    def download_media(self, account: SocialAccount, media: dict[str, Any]) -> tuple[bytes, str]:
        """An MMS file, fetched with the account's credentials."""
        try:
            creds = credentials(account)
        except NoCredentialsError as exc:
            raise AuthExpiredError(str(exc)) from None
        return get_provider(_provider_key(account)).download(creds, str(media.get("url") or ""))

    def webhook_needles(self, external_id: str) -> list[bytes]:
        """Form-encoded bodies: the number as a whole field value, From=%2B1…& or To=%2B1…& (erasure reads each body
        with a "&" after it, so the last field ends the same way); a number that only starts another is not it."""
        return [b"=" + quote(external_id, safe="").encode() + b"&"]

    # --- outbound ---

    def format(self, reply: OutboundReply, ctx: SendContext) -> list[OutboundPart]:
        """Parts of at most 1,600 characters; links written out; choices numbered on the last part; media (public
        URLs) with the last part."""
        offered = formatting.choices(reply.quick_replies, reply.buttons)
        block = formatting.choices_block(offered) if offered else None
        bodies = formatting.texts(reply.text, formatting.link_lines(reply.buttons), block)
        media = formatting.public_media(reply.media)
        if not bodies and media:
            bodies = [""]
        parts = []
        for index, body in enumerate(bodies):
            last = index == len(bodies) - 1
            payload: dict[str, Any] = {"Body": body, **formatting.segment_info(body)}
            if last and media:
                payload["MediaUrl"] = [m.url for m in media]
            if last and offered:
                payload["choices"] = offered
            parts.append(OutboundPart(text=body, payload=payload, media=media if last else []))
        return parts

    def check_window(self, ctx: SendContext) -> str | None:
        """SMS has no messaging window, but a customer who texted STOP may not be texted again until START."""
        if ctx.recipient_opted_out:
            return ctx.recipient_opted_out
        return None

    def send(self, payload: dict[str, Any], ctx: SendContext) -> str | None:
        """Send from the conversation's number (with its Messaging Service, when it is in one); the provider's id."""
        from flask import current_app

        account = ctx.account
        try:
            creds = credentials(account)
        except NoCredentialsError as exc:
            raise AuthExpiredError(str(exc)) from None
        meta = account.meta or {}
        callback = webhook_url(current_app.config)
        sent = get_provider(_provider_key(account)).send(
            creds,
            to=ctx.recipient_id,
            sender=account.account_id,
            messaging_service_sid=meta.get("messaging_service_sid") or None,
            body=str(payload.get("Body") or ""),
            media_urls=list(payload.get("MediaUrl") or []),
            status_callback=callback if callback.startswith("http") else None,
        )
        return sent.sid


def help_reply(conversation) -> OutboundReply:
    """The answer to HELP."""
    location = conversation.location
    custom = ((location.settings or {}).get(HELP_SETTING) if location is not None else None) or ""
    if custom.strip():
        return OutboundReply(text=custom.strip(), sender_type="system")
    org = conversation.organization.name if conversation.organization else ""
    who = " - ".join(v for v in (org, location.name if location else "") if v) or "This number"
    reach = [
        f"call {location.phone}" if location and location.phone else "",
        f"email {location.email}" if location and location.email else "",
    ]
    contact = " or ".join(v for v in reach if v)
    text = f"{who}: reply here to reach our team" + (f", or {contact}" if contact else "") + "."
    return OutboundReply(text=text + " Msg & data rates may apply. Reply STOP to opt out.", sender_type="system")


def _provider_key(account: SocialAccount) -> str:
    return str((account.meta or {}).get("provider") or "twilio")
