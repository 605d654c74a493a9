"""The sandbox's Twilio: accounts and their credentials, numbers, Messaging Services, messages, opt-outs, media.

In memory, one lock. Seeded from chatpad.demo_data, so the demo's numbers and Auth Token are valid here exactly as
ChatPad stored them. api.py serves Twilio's REST API over it, webhooks.py posts the signed webhooks Twilio would
(inbound messages to a number's SmsUrl or its Messaging Service's inbound URL; status callbacks), control.py drives
it from tests and the simulator page.

Behaviour modelled on Twilio's (sms-whatsapp-reference.md §B): Basic auth with the Auth Token or an API key, error
bodies {"code", "message", "more_info", "status"}, 201 on a send with status "queued", then status callbacks (sent,
delivered; undelivered with 30003/30006 for the unreachable and landline test numbers below), Advanced Opt-Out:
STOP blocks the customer per number (per service in a pool) and confirms, later sends answer 400 with 21610, START
lifts it; HELP gets the default help text. Bodies over 1,600 characters are refused with 21617.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from chatpad import demo_data as D
from chatpad.channels.sms import keywords
from chatpad.sandbox.recording import Recorder

# Customer numbers that behave like Twilio's failure cases.
UNREACHABLE = "+15005550003"  # status callback undelivered, 30003
LANDLINE = "+15005550006"  # status callback undelivered, 30006
INVALID = "+15005550001"  # 400, 21211 at send time

OPT_OUT_CONFIRMATION = (
    "You have successfully been unsubscribed. You will not receive any more messages from this number. "
    "Reply START to resubscribe."
)
OPT_IN_CONFIRMATION = "You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."  # noqa: E501
HELP_TEXT = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
MAX_REQUESTS = 5000


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str
    status: str = "active"
    api_keys: dict[str, str] = field(default_factory=dict)  # SK… → secret


@dataclass
class Number:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    sms_url: str | None = None
    sms_method: str = "POST"
    status_callback: str | None = None
    mms: bool = True
    location_slug: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "phone_number": self.phone_number,
            "friendly_name": self.friendly_name,
            "sms_url": self.sms_url or "",
            "sms_method": self.sms_method,
            "status_callback": self.status_callback or "",
            "status_callback_method": "POST",
            "capabilities": {"voice": True, "sms": True, "mms": self.mms, "fax": False},
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{self.sid}.json",
        }


@dataclass
class Service:
    sid: str
    account_sid: str
    friendly_name: str
    inbound_request_url: str | None = None
    status_callback: str | None = None
    use_inbound_webhook_on_number: bool = False
    number_sids: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "friendly_name": self.friendly_name,
            "inbound_request_url": self.inbound_request_url,
            "inbound_method": "POST",
            "status_callback": self.status_callback,
            "use_inbound_webhook_on_number": self.use_inbound_webhook_on_number,
            "sticky_sender": True,
            "usecase": "mixed",
            "us_app_to_person_registered": True,
        }


@dataclass
class Message:
    sid: str
    account_sid: str
    direction: str  # inbound | outbound-api | outbound-reply
    from_: str
    to: str
    body: str
    status: str
    created_at: float
    media: list[dict[str, Any]] = field(default_factory=list)  # {"sid", "content_type", "url"}
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    error_code: int | None = None
    num_segments: int = 1
    automatic: str | None = None  # Twilio's own reply (opt-out confirmation, help text)

    def public(self) -> dict[str, Any]:
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(self.created_at))
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "from": self.from_,
            "to": self.to,
            "body": self.body,
            "status": self.status,
            "direction": self.direction,
            "messaging_service_sid": self.messaging_service_sid,
            "num_segments": str(0 if self.messaging_service_sid and self.status == "accepted" else self.num_segments),
            "num_media": str(len(self.media)),
            "date_created": stamp,
            "date_updated": stamp,
            "date_sent": None,
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": self.error_code,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}/Media.json"},
            # sandbox extras (not Twilio's): what the simulator page shows
            "media": [dict(m) for m in self.media],
            "automatic": self.automatic,
            "timestamp": int(self.created_at * 1000),
        }


@dataclass
class RequestRecord:
    id: int
    at: float
    method: str
    path: str
    form: dict[str, Any]
    auth_user: str | None
    status: int | None = None
    response: Any = None
    failure: str | None = None


@dataclass
class Delivery:
    id: int
    kind: str  # inbound | status
    url: str | None
    params: list[tuple[str, str]]
    signature: str | None
    created_at: float
    attempts: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"  # pending | delivered | failed | no_target
    generation: int = 0
    response_error: str | None = None  # Twilio's view of the answer (12300: not TwiML)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = dict(self.params)
        return data


FAILURE_KINDS = (
    "server_error",  # 500, code 20500
    "too_many_requests",  # 429, code 20429 with Retry-After
    "queue_full",  # 400, code 21611
    "invalid_to",  # 400, code 21211
    "auth",  # 401, code 20003
    "timeout",  # hang for `delay` seconds
    "media_unavailable",  # media downloads answer 503
)


@dataclass
class FailureRule:
    id: int
    kind: str
    count: int | None = 1
    path: str = "/Messages.json"
    method: str | None = "POST"
    delay: float = 0.0
    retry_after: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.path in path


DEFAULT_SETTINGS: dict[str, Any] = {
    "status_callbacks": True,  # post sent/delivered after a send
    "status_delay": 0.05,  # seconds between the send's answer and its first status callback
    "enforce_media_auth": True,  # media URLs need HTTP Basic auth ("Enforce HTTP Auth on Media URLs")
    "advanced_opt_out": True,  # STOP/START/HELP handled and confirmed by Twilio
    "webhook_timeout": 15.0,  # Twilio gives a webhook 15 s
}


class TwilioWorld(Recorder):
    """All of the sandbox's Twilio state. Public methods take the lock."""

    FAILURE_KINDS = FAILURE_KINDS
    FailureRule = FailureRule
    RequestRecord = RequestRecord

    def __init__(self, app_secret: str, webhook_base: str | None = None):
        self.lock = threading.RLock()
        self.app_secret = app_secret
        self.webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self._ids = itertools.count(1)
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, Account] = {}
            self.numbers: dict[str, Number] = {}
            self.services: dict[str, Service] = {}
            self.messages: dict[str, Message] = {}
            self.media: dict[str, tuple[str, bytes]] = {}  # ME… → (content type, bytes)
            self.opt_outs: set[tuple[str, str]] = set()  # (number or service sid, customer)
            self.requests: deque[RequestRecord] = deque(maxlen=MAX_REQUESTS)
            self.deliveries: deque[Delivery] = deque(maxlen=1000)
            self.failures: list[FailureRule] = []
            self.settings = dict(DEFAULT_SETTINGS)
            self.generation += 1
            self._seed()

    def _seed(self) -> None:
        account = Account(D.twilio_account_sid(), D.twilio_auth_token(self.app_secret), D.ORG_NAME)
        self.accounts[account.sid] = account
        service = Service(D.twilio_service_sid(), account.sid, D.TWILIO_SERVICE_NAME)
        self.services[service.sid] = service
        url = f"{self.webhook_base}/api/webhooks/sms" if self.webhook_base else None
        for loc in D.LOCATIONS:
            number = Number(
                D.sms_number_sid(loc),
                account.sid,
                D.sms_number(loc),
                f"{loc.name} texting line",
                sms_url=url,
                status_callback=url,
                location_slug=loc.slug,
            )
            self.numbers[number.sid] = number
            if D.sms_in_pool(loc):
                service.number_sids.append(number.sid)
        service.inbound_request_url = url
        service.status_callback = url

    # --- lookups ---

    def authenticate(self, username: str | None, password: str | None, account_sid: str) -> Account | None:
        """The account a Basic auth pair may act for: its own SID and Auth Token, or one of its API keys."""
        with self.lock:
            account = self.accounts.get(account_sid)
            if account is None or not username or password is None:
                return None
            if username == account.sid and secrets.compare_digest(password, account.auth_token):
                return account
            secret = account.api_keys.get(username)
            if secret is not None and secrets.compare_digest(password, secret):
                return account
            return None

    def number_by_phone(self, phone: str) -> Number | None:
        with self.lock:
            return next((n for n in self.numbers.values() if n.phone_number == phone), None)

    def number_for_location(self, ref: str) -> Number | None:
        """A number by its E.164 value, its community's name or slug (case-insensitive)."""
        lowered = ref.strip().lower()
        with self.lock:
            for number in self.numbers.values():
                if number.phone_number == ref.strip():
                    return number
            for loc in D.LOCATIONS:
                if lowered in (loc.slug, loc.name.lower(), loc.page_name.lower()):
                    return next((n for n in self.numbers.values() if n.location_slug == loc.slug), None)
            return None

    def service_of(self, number: Number) -> Service | None:
        with self.lock:
            return next((s for s in self.services.values() if number.sid in s.number_sids), None)

    def inbound_url(self, number: Number) -> str | None:
        """Where Twilio posts the number's inbound messages: its Messaging Service's URL, unless the service defers
        to the number's own SmsUrl."""
        service = self.service_of(number)
        if service is not None and not service.use_inbound_webhook_on_number:
            return service.inbound_request_url
        return number.sms_url

    def opt_out_scope(self, number: Number) -> str:
        """Advanced Opt-Out blocks per Messaging Service; a number alone blocks for itself."""
        service = self.service_of(number)
        return service.sid if service is not None else number.sid

    def opted_out(self, number: Number, customer: str) -> bool:
        with self.lock:
            return (self.opt_outs and (self.opt_out_scope(number), customer) in self.opt_outs) or False

    def apply_keyword(self, number: Number, customer: str, body: str) -> str | None:
        """Advanced Opt-Out: the automatic reply Twilio sends for a keyword (and the block it records), or None."""
        if not self.settings.get("advanced_opt_out"):
            return None
        keyword = keywords.classify(body)
        scope = (self.opt_out_scope(number), customer)
        with self.lock:
            if keyword == "out":
                self.opt_outs.add(scope)
                return OPT_OUT_CONFIRMATION
            if keyword == "in" and scope in self.opt_outs:
                self.opt_outs.discard(scope)
                return OPT_IN_CONFIRMATION
            if keyword == "help":
                return HELP_TEXT
        return None

    def thread(self, number: Number, customer: str, since_ms: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            rows = [
                m
                for m in self.messages.values()
                if {m.from_, m.to} == {number.phone_number, customer} and m.created_at * 1000 >= since_ms
            ]
        rows.sort(key=lambda m: m.created_at)
        return [m.public() | {"sender": "customer" if m.from_ == customer else "business"} for m in rows]

    # --- failures and the request log ---

    def store_media(self, content_type: str, data: bytes) -> str:
        media_sid = "ME" + hashlib.sha256(data + secrets.token_bytes(4)).hexdigest()[:32]
        with self.lock:
            self.media[media_sid] = (content_type, data)
        return media_sid
