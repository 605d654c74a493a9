"""An SMTP submission server on aiosmtpd: PLAIN/LOGIN with passwords, XOAUTH2 with bearer tokens.

Used two ways: by the sandbox (mail to a sandbox address lands in that mailbox, so a demo customer sees the reply)
and by the tests (it records every envelope and can be told to answer 4xx/5xx, to exercise retries and failures).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

log = logging.getLogger("chatpad.sandbox.smtp")


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None
    oauth: bool = False  # signed in with XOAUTH2 (a Google or Microsoft mailbox of the sandbox)


# The password slot of an XOAUTH2 sign-in's LoginPassword: it marks the session as OAuth (no password can be it).
OAUTH_SIGN_IN = b"\x00xoauth2"


@dataclass
class SmtpBehaviour:
    """What the server answers to DATA (and RCPT) instead of accepting: e.g. "451 4.3.0 Try again later"."""

    data_reply: str | None = None
    rcpt_reply: str | None = None
    times: int | None = None  # answer like this this many times, then accept again (None: until reset)


@dataclass
class SmtpState:
    received: list[Received] = field(default_factory=list)
    behaviour: SmtpBehaviour = field(default_factory=SmtpBehaviour)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, reply: str, *, times: int | None = 1, on: str = "data") -> None:
        with self.lock:
            self.behaviour = SmtpBehaviour(
                data_reply=reply if on == "data" else None, rcpt_reply=reply if on == "rcpt" else None, times=times
            )

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.behaviour = SmtpBehaviour()

    def _take(self, kind: str) -> str | None:
        with self.lock:
            reply = getattr(self.behaviour, f"{kind}_reply")
            if reply is None:
                return None
            if self.behaviour.times is not None:
                self.behaviour.times -= 1
                if self.behaviour.times <= 0:
                    self.behaviour = SmtpBehaviour()
            return reply


class SubmissionHandler:
    """aiosmtpd handler: checks credentials, records or delivers what it accepts."""

    def __init__(
        self,
        state: SmtpState,
        check_password: Callable[[str, str], bool],
        verify_token: Callable[[str, str], str | None],
        deliver: Callable[[Received], None] | None = None,
    ):
        self.state, self.check_password, self.verify_token, self.deliver = state, check_password, verify_token, deliver

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2 (platform-reference.md §D.3): on a bad token, a 334 with base64 JSON, then 535."""
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            response = await server.challenge_auth("")
            if not isinstance(response, bytes):
                return AuthResult(success=False, handled=True)
            blob = response
        fields = dict(part.split("=", 1) for part in blob.decode("utf-8", "replace").split("\x01") if "=" in part)
        user = fields.get("user", "").lower()
        token = fields.get("auth", "").removeprefix("Bearer ").strip()
        who = await asyncio.get_running_loop().run_in_executor(None, self.verify_token, user, token)
        if who == user and user:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), OAUTH_SIGN_IN))
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
        await server.challenge_auth(error)
        await server.push("535 5.7.8 Username and Password not accepted.")
        return AuthResult(success=False, handled=True)

    def authenticator(self, server, session: Session, envelope: Envelope, mechanism: str, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace").lower()
            if self.check_password(user, auth_data.password.decode("utf-8", "replace")):
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.state._take("rcpt")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        reply = self.state._take("data")
        if reply:
            return reply
        auth = session.auth_data if isinstance(session.auth_data, LoginPassword) else None
        login = auth.login.decode() if auth else None
        oauth = bool(auth and auth.password == OAUTH_SIGN_IN)
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content or b""), login, oauth)
        with self.state.lock:
            self.state.received.append(received)
        if self.deliver:
            self.deliver(received)
        return "250 2.0.0 OK: queued"


# RFC 4954 §4: an AUTH command line may be up to 12288 octets. aiosmtpd stops every command at 512 (and any line at
# 1001), which refused XOAUTH2 initial responses carrying a long bearer token (Microsoft's scopes make the sandbox's
# longer than 512; real Microsoft tokens are JWTs of 1,500+ characters) with "500 Command line too long".
AUTH_LINE_LIMIT = 12288


class LongAuthSMTP(SMTP):
    """aiosmtpd's SMTP server, taking AUTH lines as long as RFC 4954 allows."""

    line_length_limit = AUTH_LINE_LIMIT + 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit, {"AUTH": AUTH_LINE_LIMIT})


def start_smtp(
    handler: SubmissionHandler, host: str, port: int, *, tls_context=None, ssl_context=None, require_auth: bool = True
):
    """Start the server in its own thread (aiosmtpd's Controller); call .stop() on the result to end it."""
    import warnings

    from aiosmtpd.controller import Controller

    class LoopbackController(Controller):
        def factory(self):
            # aiosmtpd warns about AUTH without TLS on every connection; these servers listen on loopback only.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return LongAuthSMTP(self.handler, **self.SMTP_kwargs)

    controller = LoopbackController(
        handler,
        hostname=host,
        port=port,
        ssl_context=ssl_context,  # implicit TLS (465-style) when given
        server_hostname="sandbox.chatpad.local",
        authenticator=handler.authenticator,
        auth_required=require_auth,
        # Plain-text AUTH is allowed because these servers only listen on loopback.
        auth_require_tls=False,
        tls_context=tls_context,  # STARTTLS when given
    )
    controller.start()
    return controller
