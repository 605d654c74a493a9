"""Webhooks the sandbox's Twilio posts: inbound messages and status callbacks, form-encoded and signed.

X-Twilio-Signature is computed with the official helper (twilio.request_validator.RequestValidator.compute_signature)
over the exact URL posted to and the parameters, keyed with the account's Auth Token, as Twilio does. Twilio does not
retry a failed message webhook (it logs error 11200), so neither does the sandbox; it records what happened, and
whether the answer was TwiML (anything else is Twilio's error 12300, even with a 200). A <Message> in the TwiML is
sent to the customer, as Twilio would.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from html import unescape

import requests
from twilio.request_validator import RequestValidator

from chatpad.http import PooledSession

from .world import Delivery, Message, Number, TwilioWorld, sid

log = logging.getLogger("chatpad.sandbox.twilio")

TWIML_TYPES = ("text/xml", "application/xml", "text/html")
_MESSAGE = re.compile(r"<Message[^>]*>(.*?)</Message>", re.S)


class TwilioDispatcher:
    def __init__(self, world: TwilioWorld):
        self.world = world
        self.session = PooledSession(32)
        self.pool = ThreadPoolExecutor(8, thread_name_prefix="sandbox-twilio")

    def sign(self, account_sid: str, url: str, params: list[tuple[str, str]]) -> str:
        account = self.world.accounts[account_sid]
        values: dict[str, list[str]] = {}
        for name, value in params:
            values.setdefault(name, []).append(value)

        class _Params(dict):
            def getall(self, name):
                return self[name]

        return RequestValidator(account.auth_token).compute_signature(url, _Params(values))

    def submit(
        self, kind: str, account_sid: str, url: str | None, params: list[tuple[str, str]], *, wait: bool, delay=0.0
    ) -> Delivery:
        world = self.world
        with world.lock:
            delivery = Delivery(
                id=next(world._ids),
                kind=kind,
                url=url,
                params=params,
                signature=self.sign(account_sid, url, params) if url else None,
                created_at=time.time(),
                generation=world.generation,
            )
            world.deliveries.append(delivery)
        if not url:
            delivery.state = "no_target"
            return delivery
        if wait:
            self._attempt(delivery)
        else:
            self.pool.submit(self._later, delivery, delay)
        return delivery

    def _later(self, delivery: Delivery, delay: float) -> None:
        if delay:
            time.sleep(delay)
        try:
            self._attempt(delivery)
        except Exception:  # never kill the pool thread
            log.exception("twilio webhook %s crashed", delivery.id)

    def _attempt(self, delivery: Delivery) -> None:
        world = self.world
        if delivery.generation != world.generation:
            return
        started = time.time()
        headers = {"X-Twilio-Signature": delivery.signature or "", "I-Twilio-Idempotency-Token": sid("")[:36]}
        try:
            response = self.session.post(
                delivery.url, data=delivery.params, headers=headers, timeout=float(world.settings["webhook_timeout"])
            )
            status: int | None = response.status_code
            error = None if 200 <= response.status_code < 300 else f"HTTP {status} (Twilio error 11200)"
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            text = response.text
        except requests.RequestException as exc:
            status, error, content_type, text = None, f"{type(exc).__name__} (Twilio error 11200)", "", ""
        with world.lock:
            delivery.attempts.append({"at": started, "url": delivery.url, "status": status, "error": error})
            delivery.state = "delivered" if error is None else "failed"
            if error is None and delivery.kind == "inbound" and content_type not in TWIML_TYPES:
                delivery.response_error = f"12300: Invalid Content-Type {content_type or '(none)'}"
        if error is None and delivery.kind == "inbound" and content_type in TWIML_TYPES:
            self._twiml_replies(delivery, text)

    def _twiml_replies(self, delivery: Delivery, twiml: str) -> None:
        """<Message> verbs in the answer go to the customer as replies, as Twilio sends them."""
        params = dict(delivery.params)
        for body in _MESSAGE.findall(twiml or ""):
            number = self.world.number_by_phone(params.get("To", ""))
            if number is None:
                continue
            message = Message(
                sid=sid("SM"),
                account_sid=number.account_sid,
                direction="outbound-reply",
                from_=number.phone_number,
                to=params.get("From", ""),
                body=unescape(body.strip()),
                status="delivered",
                created_at=time.time(),
            )
            with self.world.lock:
                self.world.messages[message.sid] = message

    # --- status callbacks of an outbound message ---

    def status_callbacks(self, message: Message, number: Number | None) -> None:
        """sent, then delivered (or undelivered with the test numbers' error), to the message's StatusCallback or its
        Messaging Service's."""
        world = self.world
        if not world.settings.get("status_callbacks"):
            return
        url = message.status_callback
        if not url and message.messaging_service_sid:
            service = world.services.get(message.messaging_service_sid)
            url = service.status_callback if service else None
        if not url:
            return
        from .world import LANDLINE, UNREACHABLE

        final, code = "delivered", None
        if message.to == UNREACHABLE:
            final, code = "undelivered", "30003"
        elif message.to == LANDLINE:
            final, code = "undelivered", "30006"
        delay = float(world.settings.get("status_delay") or 0)
        for index, status in enumerate(("sent", final)):
            params = [
                ("SmsSid", message.sid),
                ("SmsStatus", status),
                ("MessageStatus", status),
                ("To", message.to),
                ("MessageSid", message.sid),
                ("AccountSid", message.account_sid),
                ("From", message.from_),
                ("ApiVersion", "2010-04-01"),
            ]
            if message.messaging_service_sid:
                params.insert(2, ("MessagingServiceSid", message.messaging_service_sid))
            if code and status == final:
                params.insert(0, ("ErrorCode", code))
            self.pool.submit(
                self._status, message, status, code if status == final else None, url, params, delay * (index + 1)
            )

    def _status(self, message, status, code, url, params, delay) -> None:
        time.sleep(delay)
        with self.world.lock:
            message.status = status
            if code:
                message.error_code = int(code)
        self._later(self.submit_now(message.account_sid, url, params), 0)

    def submit_now(self, account_sid: str, url: str, params: list[tuple[str, str]]) -> Delivery:
        world = self.world
        with world.lock:
            delivery = Delivery(
                id=next(world._ids),
                kind="status",
                url=url,
                params=params,
                signature=self.sign(account_sid, url, params),
                created_at=time.time(),
                generation=world.generation,
            )
            world.deliveries.append(delivery)
        return delivery
