"""The sandbox mail server: the IMAP server and the SMTP server over one MailStore, each on its own thread.

`make run` starts it inside the sandbox process (python -m chatpad.sandbox) on SANDBOX_IMAP_PORT and
SANDBOX_SMTP_PORT, holding the 21 demo inboxes with the passwords the demo seeded (demo_data.mailbox_password).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import requests

from .imapd import serve_imap
from .smtpd import Received, SmtpState, SubmissionHandler, start_smtp
from .store import MailStore

log = logging.getLogger("chatpad.sandbox.mail")


def introspection_verifier(url: str, timeout: float = 5.0):
    """verify_token(user, token) -> the token's address, asking an RFC 7662 endpoint (the sandbox's own)."""

    def verify(user: str, token: str) -> str | None:
        if not token:
            return None
        try:
            response = requests.post(url, data={"token": token}, timeout=timeout)
            data = response.json()
        except (requests.RequestException, ValueError):
            log.warning("token introspection at %s failed", url)
            return None
        return (data.get("email") or "").lower() if data.get("active") else None

    return verify


def deliver_to_store(store: MailStore):
    """Final delivery: each recipient gets the message in its INBOX, with the trace fields an MTA adds; an XOAUTH2
    sender (a Google or Microsoft mailbox) also gets it in its Sent folder, as those providers do."""

    def deliver(received: Received) -> None:
        now = datetime.now(UTC)
        trace = (
            f"Return-Path: <{received.mail_from}>\r\n"
            f"Received: from submission by sandbox.chatpad.local with ESMTPSA; {format_datetime(now)}\r\n"
        ).encode()
        data = received.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for rcpt in received.rcpt_tos:
            store.append(rcpt.lower(), "INBOX", trace + data)
        if received.oauth and received.login:
            # Gmail and Exchange Online file what their SMTP servers send in the sender's Sent folder themselves
            # (so ChatPad appends no copy for those providers: MailSettings.should_append_sent); so does the sandbox.
            store.append(received.login.lower(), "Sent", data, flags={"\\Seen"})

    return deliver


class MailServers:
    """IMAP + SMTP on loopback; stop() ends both."""

    def __init__(self, store: MailStore, *, host: str, imap_port: int, smtp_port: int, introspect_url: str):
        self.store, self.host, self.imap_port, self.smtp_port = store, host, imap_port, smtp_port
        self.verify = introspection_verifier(introspect_url)
        self.smtp_state = SmtpState()
        self._loop = asyncio.new_event_loop()
        self._imap_server = None
        self._thread: threading.Thread | None = None
        self._smtp = None

    def start(self) -> MailServers:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._imap_server = self._loop.run_until_complete(
                    serve_imap(self.store, self.verify, self.host, self.imap_port)
                )
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="sandbox-imap", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        handler = SubmissionHandler(
            self.smtp_state, self.store.check_password, self.verify, deliver=deliver_to_store(self.store)
        )
        self._smtp = start_smtp(handler, self.host, self.smtp_port)
        log.info("sandbox mail: IMAP %s:%s, SMTP %s:%s", self.host, self.imap_port, self.host, self.smtp_port)
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
        if self._imap_server is not None:
            self._loop.call_soon_threadsafe(self._imap_server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)
