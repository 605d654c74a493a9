"""Twilio Programmable Messaging: its webhooks, its REST API and its error codes.

Inbound:  https://www.twilio.com/docs/messaging/guides/webhook-request (form-encoded; parameters may be added)
Signing:  X-Twilio-Signature, checked with the official `twilio` helper's RequestValidator over the URL Twilio called
          and the sorted parameters (tests/channels/test_sms.py runs it against the helper's own test vectors).
Answer:   an empty TwiML <Response/> as text/xml (anything else is error 12300 on Twilio's side).
Sending:  POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, HTTP Basic auth (201 on success).
Reports:  status callbacks carry MessageStatus (queued, sent, delivered, undelivered, failed…) and ErrorCode.
Errors:   {"code": 21211, "message": …, "more_info": …, "status": 400}; https://www.twilio.com/docs/api/errors
Base URLs come from config (TWILIO_API_URL, TWILIO_MESSAGING_URL): the sandbox's in development and tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin

import requests
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from chatpad.channels.errors import (
    AnomalousPayloadError,
    AuthExpiredError,
    PermanentSendError,
    RecipientOptedOutError,
    SendError,
    TransientSendError,
)
from chatpad.channels.phone import maybe_e164
from chatpad.channels.sms import keywords
from chatpad.http import PooledSession
from chatpad.messages import InboundEvent, MessageMedia, MessageMetadata, UnifiedMessage

from . import Credentials, NumberInfo, ProviderError, SentMessage, SmsProvider, WebhookKey

log = logging.getLogger("chatpad.channels.sms.twilio")

API_VERSION = "2010-04-01"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response />'
MAX_MEDIA_BYTES = 20 * 1024 * 1024  # what ChatPad keeps of one inbound file (MMS carriers cap far lower)

# MessageStatus → ChatPad's delivery status (None: nothing to record; "sent" is what an accepted send already is).
STATUS_MAP = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
    "partially_delivered": "delivered",
}

# Error codes worth a sentence of their own (https://www.twilio.com/docs/api/errors); the rest say their number.
ERROR_REASONS = {
    20003: "Twilio refused the account's credentials",
    20429: "Too many requests to Twilio at once",
    21211: "The customer's number is not a valid phone number",
    21408: "The account is not allowed to text this country (Geo Permissions)",
    21606: "This number cannot send SMS (it is not SMS-capable or not the account's)",
    21608: "A trial account can only text verified numbers",
    21610: "The customer texted STOP to this number: carriers forbid texting them until they text START",
    21611: "The number's queue is full: Twilio queues at most 10 hours of messages",
    21612: "Twilio cannot route a message from this number to the customer's carrier",
    21614: "The customer's number is not a mobile number",
    21617: "The message is longer than 1,600 characters",
    21635: "The customer's number is a landline",
    30001: "Twilio's queue for this number overflowed",
    30002: "The Twilio account is suspended",
    30003: "The customer's phone is unreachable (off or out of coverage)",
    30004: "The message was blocked (the customer may have blocked this number)",
    30005: "The customer's number is unknown to their carrier",
    30006: "The customer's number is a landline or its carrier cannot take SMS",
    30007: "The carrier filtered the message (it looked like spam)",
    30008: "The carrier could not deliver the message (unknown error)",
    30034: "The number is not registered for US A2P 10DLC messaging",
    63016: "Outside the WhatsApp 24-hour window: only a template may be sent",
}
TRANSIENT_CODES = {20429, 21611, 30001, 30008}
AUTH_CODES = {20003, 20005, 30002}
OPT_OUT_CODE = 21610


def error_reason(code: Any, message: str | None = None) -> str:
    """The admin's sentence for a Twilio error code."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        return message or "Twilio reported an error"
    reason = ERROR_REASONS.get(number) or (message.strip() if message and message.strip() else "Twilio error")
    return f"{reason} (Twilio error {number})"


def _form(body: bytes) -> dict[str, list[str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise AnomalousPayloadError("the body is not UTF-8") from None
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, max_num_fields=500):
        params.setdefault(name, []).append(value)
    return params


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


class _MultiDict(dict):
    """What RequestValidator reads: every value of a repeated parameter (getall)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


class TwilioProvider(SmsProvider):
    """Twilio's SMS and MMS (WhatsApp through Twilio is not handled here: WhatsApp is its own channel)."""

    key = "twilio"
    label = "Twilio"
    ack_content_type = "text/xml"
    ack_body = EMPTY_TWIML

    # --- webhooks ---

    def claims(self, body: bytes, headers: Mapping[str, str] | None = None) -> bool:
        if headers is not None and _header(headers, SIGNATURE_HEADER) is not None:
            return True
        return body.startswith(b"ToCountry=") or b"AccountSid=AC" in body

    def webhook_key(self, body: bytes) -> WebhookKey | None:
        params = _form(body)
        account_sid = _one(params, "AccountSid")
        if not account_sid:
            return None
        ours = _one(params, "From") if _is_status(params) else _one(params, "To")
        return WebhookKey(account_sid, maybe_e164(ours))

    def verify(self, body: bytes, headers: Mapping[str, str], urls: list[str], secrets: list[str]) -> bool:
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            return False
        algorithm = get_signature_algorithm(_header(headers, SIGNATURE_SETTINGS_HEADER))
        params = _MultiDict(_form(body))
        for secret in secrets:
            validator = RequestValidator(secret)
            if any(validator.validate(url, params, signature, algorithm) for url in urls):
                return True
        return False

    def validate(self, body: bytes) -> None:
        params = _form(body)
        if not _one(params, "AccountSid").startswith("AC"):
            raise AnomalousPayloadError("no AccountSid")
        if not (_one(params, "MessageSid") or _one(params, "SmsSid")):
            raise AnomalousPayloadError("no MessageSid")
        if not _one(params, "From") or not _one(params, "To"):
            raise AnomalousPayloadError("no From or To")

    def is_receipt(self, body: bytes) -> bool:
        try:
            return _is_status(_form(body))
        except AnomalousPayloadError:
            return False

    def parse(self, body: bytes) -> list[InboundEvent]:
        params = _form(body)
        self.validate(body)
        now = datetime.now(UTC)
        sid = _one(params, "MessageSid") or _one(params, "SmsSid")
        sender, recipient = _one(params, "From"), _one(params, "To")
        if sender.startswith("whatsapp:") or recipient.startswith("whatsapp:"):
            return [
                InboundEvent(
                    kind="unsupported",
                    channel="sms",
                    account_id=maybe_e164(recipient) or recipient,
                    sender_id=None,
                    timestamp=now,
                    data={"type": "twilio_whatsapp", "sid": sid},
                )
            ]
        if _is_status(params):
            return [self._status(params, sid, now)]
        return [self._message(params, sid, now)]

    def _message(self, params: dict[str, list[str]], sid: str, now: datetime) -> InboundEvent:
        ours = maybe_e164(_one(params, "To")) or _one(params, "To")
        customer = maybe_e164(_one(params, "From")) or _one(params, "From")
        text = _one(params, "Body")
        media = []
        try:
            count = min(int(_one(params, "NumMedia") or 0), 10)
        except ValueError:
            count = 0
        for index in range(count):  # every MediaUrlN, not only MediaUrl0 (Chatwoot #11295)
            url = _one(params, f"MediaUrl{index}")
            if not url:
                continue
            mime = _one(params, f"MediaContentType{index}") or None
            media.append(
                MessageMedia(type=_media_type(mime), url=url, mime_type=mime, extra={"download": True, "index": index})
            )
        extra: dict[str, Any] = {"provider": "twilio"}
        for name, key in (("MessagingServiceSid", "messaging_service_sid"), ("NumSegments", "num_segments")):
            if _one(params, name):
                extra[key] = _one(params, name)
        place = ", ".join(v for v in (_one(params, "FromCity"), _one(params, "FromState")) if v)
        if place:
            extra["from_place"] = place
        data: dict[str, Any] = {"verified_phone": customer}
        keyword = keywords.classify(text)
        if keyword:
            data["keyword"] = keyword
        return InboundEvent(
            kind="message",
            channel="sms",
            account_id=ours,
            sender_id=customer,
            timestamp=now,
            message=UnifiedMessage(
                channel="sms",
                channel_account_id=ours,
                direction="inbound",
                content=text,
                created_at=now,
                media=media,
                metadata=MessageMetadata(external_id=sid, thread_id=customer, sender_id=customer, extra=extra),
            ),
            data=data,
        )

    def _status(self, params: dict[str, list[str]], sid: str, now: datetime) -> InboundEvent:
        platform_status = (_one(params, "MessageStatus") or _one(params, "SmsStatus")).lower()
        code = _one(params, "ErrorCode") or None
        data: dict[str, Any] = {"status": STATUS_MAP.get(platform_status), "platform_status": platform_status}
        if code and code != "0":
            data["error_code"] = code
            data["error"] = error_reason(code, _one(params, "ErrorMessage"))
            data["opted_out"] = str(code) == str(OPT_OUT_CODE)
        return InboundEvent(
            kind="status",
            channel="sms",
            account_id=maybe_e164(_one(params, "From")) or _one(params, "From"),
            sender_id=maybe_e164(_one(params, "To")) or _one(params, "To"),
            timestamp=now,
            target_external_id=sid,
            data=data,
        )

    # --- REST ---

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
        form: list[tuple[str, str]] = [("To", to), ("Body", body)]
        if messaging_service_sid:
            form.append(("MessagingServiceSid", messaging_service_sid))
        if sender:
            form.append(("From", sender))  # with a Messaging Service too: the pool number the customer wrote to
        form += [("MediaUrl", url) for url in media_urls[:10]]
        if status_callback:
            form.append(("StatusCallback", status_callback))
        answer = _client().request(
            "POST", f"/{API_VERSION}/Accounts/{credentials.account_sid}/Messages.json", credentials, data=form
        )
        segments = answer.get("num_segments")
        return SentMessage(
            sid=str(answer.get("sid") or ""),
            status=str(answer.get("status") or "queued"),
            segments=int(segments) if str(segments or "").isdigit() and int(segments) > 0 else None,
        )

    def check(self, credentials: Credentials) -> dict[str, Any]:
        client = _client()
        token_only = Credentials(credentials.account_sid, credentials.auth_token)
        account = _connect_call(client, "GET", f"/{API_VERSION}/Accounts/{credentials.account_sid}.json", token_only)
        if credentials.api_key_sid:
            _connect_call(client, "GET", f"/{API_VERSION}/Accounts/{credentials.account_sid}.json", credentials)
        if account.get("status") not in (None, "active"):
            raise ProviderError(
                f"The Twilio account is {account.get('status')}, so it cannot send messages.",
                "Reactivate it in Twilio's console, then connect again.",
            )
        return {"sid": account.get("sid"), "friendly_name": account.get("friendly_name"), "type": account.get("type")}

    def list_numbers(self, credentials: Credentials) -> list[NumberInfo]:
        client = _client()
        numbers: list[NumberInfo] = []
        path: str | None = f"/{API_VERSION}/Accounts/{credentials.account_sid}/IncomingPhoneNumbers.json?PageSize=100"
        pages = 0
        while path and pages < 50:
            page = _connect_call(client, "GET", path, credentials)
            pages += 1
            for raw in page.get("incoming_phone_numbers") or []:
                caps = raw.get("capabilities") or {}
                e164 = maybe_e164(raw.get("phone_number"))
                if not e164:
                    continue
                numbers.append(
                    NumberInfo(
                        sid=str(raw.get("sid")),
                        phone_number=e164,
                        friendly_name=str(raw.get("friendly_name") or e164),
                        sms=bool(caps.get("sms", caps.get("SMS", True))),
                        mms=bool(caps.get("mms", caps.get("MMS", False))),
                        sms_url=raw.get("sms_url") or None,
                        status_callback=raw.get("status_callback") or None,
                        inbound_url=raw.get("sms_url") or None,
                    )
                )
            path = page.get("next_page_uri") or None
        by_sid = {n.sid: n for n in numbers}
        for service in _services(client, credentials):
            for number_sid in service["numbers"]:
                number = by_sid.get(number_sid)
                if number is None:
                    continue
                number.messaging_service_sid = service["sid"]
                number.messaging_service_name = service["name"]
                if not service["defers_to_number"]:
                    number.inbound_url = service["inbound_url"]
        return numbers

    def configure(self, credentials: Credentials, number: NumberInfo, *, webhook_url: str) -> NumberInfo:
        client = _client()
        path = f"/{API_VERSION}/Accounts/{credentials.account_sid}/IncomingPhoneNumbers/{number.sid}.json"
        _connect_call(
            client,
            "POST",
            path,
            credentials,
            data={
                "SmsUrl": webhook_url,
                "SmsMethod": "POST",
                "StatusCallback": webhook_url,
                "StatusCallbackMethod": "POST",
            },
        )
        if number.messaging_service_sid:
            # A number in a Messaging Service takes its inbound messages from the service's URL (unless the service
            # defers to each number's own): point the service at ChatPad too, and its delivery reports.
            _connect_call(
                client,
                "POST",
                f"{_messaging_base()}/v1/Services/{number.messaging_service_sid}",
                credentials,
                data={"InboundRequestUrl": webhook_url, "InboundMethod": "POST", "StatusCallback": webhook_url},
            )
        raw = _connect_call(client, "GET", path, credentials)
        fresh = NumberInfo(
            sid=number.sid,
            phone_number=number.phone_number,
            friendly_name=str(raw.get("friendly_name") or number.friendly_name),
            sms=number.sms,
            mms=number.mms,
            sms_url=raw.get("sms_url") or None,
            status_callback=raw.get("status_callback") or None,
            messaging_service_sid=number.messaging_service_sid,
            messaging_service_name=number.messaging_service_name,
            inbound_url=raw.get("sms_url") or None,
        )
        if number.messaging_service_sid:
            service = _connect_call(
                client, "GET", f"{_messaging_base()}/v1/Services/{number.messaging_service_sid}", credentials
            )
            if not service.get("use_inbound_webhook_on_number"):
                fresh.inbound_url = service.get("inbound_request_url") or None
        return fresh

    def release(self, credentials: Credentials, number: NumberInfo, *, webhook_url: str) -> None:
        """Clear the number's SmsUrl when it still points at ChatPad (the Messaging Service is left alone: its other
        numbers may still be connected)."""
        client = _client()
        path = f"/{API_VERSION}/Accounts/{credentials.account_sid}/IncomingPhoneNumbers/{number.sid}.json"
        raw = _connect_call(client, "GET", path, credentials)
        if (raw.get("sms_url") or "") == webhook_url:
            _connect_call(client, "POST", path, credentials, data={"SmsUrl": "", "StatusCallback": ""})

    def download(self, credentials: Credentials, url: str) -> tuple[bytes, str]:
        return _client().download(url, credentials)


def _is_status(params: Mapping[str, list[str]]) -> bool:
    status = (_one(params, "MessageStatus") or _one(params, "SmsStatus")).lower()
    return bool(status) and status not in ("received", "receiving")


def _media_type(mime: str | None) -> str:
    head = (mime or "").split("/", 1)[0].lower()
    return head if head in ("image", "video", "audio") else "file"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _services(client: _Client, credentials: Credentials) -> list[dict[str, Any]]:
    """The account's Messaging Services with the number sids in each pool."""
    services = []
    url: str | None = f"{_messaging_base()}/v1/Services?PageSize=100"
    while url and len(services) < 1000:
        page = _connect_call(client, "GET", url, credentials)
        for raw in page.get("services") or []:
            numbers: list[str] = []
            numbers_url: str | None = f"{_messaging_base()}/v1/Services/{raw.get('sid')}/PhoneNumbers?PageSize=100"
            while numbers_url:
                listing = _connect_call(client, "GET", numbers_url, credentials)
                numbers += [str(n.get("sid")) for n in listing.get("phone_numbers") or []]
                numbers_url = (listing.get("meta") or {}).get("next_page_url") or None
            services.append(
                {
                    "sid": str(raw.get("sid")),
                    "name": str(raw.get("friendly_name") or raw.get("sid")),
                    "inbound_url": raw.get("inbound_request_url") or None,
                    "defers_to_number": bool(raw.get("use_inbound_webhook_on_number")),
                    "numbers": numbers,
                }
            )
        url = (page.get("meta") or {}).get("next_page_url") or None
    return services


# --- HTTP ------------------------------------------------------------------------------------------------------


def _config() -> Mapping[str, Any]:
    from flask import current_app

    return current_app.config


def _messaging_base() -> str:
    return str(_config()["TWILIO_MESSAGING_URL"]).rstrip("/")


class _Client:
    """Calls to Twilio's REST API: one pooled session, a timeout on every call, Basic auth in the header (never in
    the URL), errors classified by Twilio's code."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = PooledSession(64)
        self.session.headers["User-Agent"] = "ChatPad/1.0"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else urljoin(self.base_url + "/", path.lstrip("/"))

    def request(self, method: str, path: str, credentials: Credentials, *, data: Any = None) -> dict[str, Any]:
        """The decoded JSON answer of a 2xx; otherwise the classified SendError."""
        try:
            response = self.session.request(
                method, self.url(path), data=data, auth=credentials.rest_auth(), timeout=self.timeout
            )
        except requests.Timeout:
            raise TransientSendError(f"Twilio did not answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise TransientSendError(f"Could not reach Twilio: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok and isinstance(body, dict):
            return body
        error = classify(response.status_code, body if isinstance(body, dict) else None, response.headers)
        log.warning(
            "twilio %s %s -> HTTP %s code=%s (%s)",
            method,
            _path_only(path),
            response.status_code,
            error.code,
            type(error).__name__,
        )
        raise error

    def download(self, url: str, credentials: Credentials) -> tuple[bytes, str]:
        """GET a media URL with the account's credentials (Twilio may enforce HTTP auth on media), following its
        redirect to the file (requests drops the Authorization header when the host changes)."""
        try:
            response = self.session.get(url, auth=credentials.rest_auth(), timeout=self.timeout, stream=True)
        except requests.Timeout:
            raise TransientSendError(f"Twilio's media did not answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise TransientSendError(f"Could not reach Twilio's media: {type(exc).__name__}") from None
        with response:
            if response.status_code in (401, 403):
                raise AuthExpiredError("Twilio refused the account's credentials for a media file")
            if response.status_code == 404:
                raise PermanentSendError("The media file is no longer on Twilio (it was deleted)")
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientSendError(f"Twilio's media answered HTTP {response.status_code}")
            if not response.ok:
                raise PermanentSendError(f"Twilio's media answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_MEDIA_BYTES:
                    raise PermanentSendError(f"The media file is larger than {MAX_MEDIA_BYTES // 1024 // 1024} MB")
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
            return b"".join(chunks), content_type


def _path_only(path: str) -> str:
    return path.split("?", 1)[0]


def classify(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None) -> SendError:
    """A Twilio error answer as the channel layer's SendError, by Twilio's code (RFC 9457 bodies too)."""
    body = body or {}
    code = body.get("code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    message = str(body.get("message") or body.get("detail") or body.get("title") or f"HTTP {status}")
    reason = error_reason(code, message) if code is not None else f"Twilio answered HTTP {status}: {message}"
    retry_after = None
    if headers and headers.get("Retry-After"):
        try:
            retry_after = max(0.0, float(headers["Retry-After"]))
        except ValueError:
            retry_after = None
    if code == OPT_OUT_CODE:
        return RecipientOptedOutError(reason, code=code)
    if code in AUTH_CODES or status == 401:
        return AuthExpiredError(reason, code=code)
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        return TransientSendError(reason, retry_after=retry_after, code=code)
    return PermanentSendError(reason, code=code)


def _connect_call(client: _Client, method: str, path: str, credentials: Credentials, **kw) -> dict[str, Any]:
    """A REST call made while connecting: failures become ProviderError in the admin's words."""
    try:
        return client.request(method, path, credentials, **kw)
    except AuthExpiredError as exc:
        raise ProviderError(
            "Twilio refused these credentials.",
            "Copy the Account SID and Auth Token (and the API key, if you use one) again from Twilio's console.",
            code=exc.code,
            status=401,
        ) from None
    except TransientSendError as exc:
        raise ProviderError(f"Twilio could not be reached: {exc.reason}.", "Try again in a minute.") from None
    except SendError as exc:
        raise ProviderError(
            f"Twilio refused the request: {exc.reason}.", "Check the account in Twilio's console.", code=exc.code
        ) from None


_clients: dict[tuple, _Client] = {}
_lock = threading.Lock()


def _client() -> _Client:
    config = _config()
    key = (config["TWILIO_API_URL"], float(config.get("PLATFORM_HTTP_TIMEOUT", 10)))
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.setdefault(key, _Client(*key))
    return client
