"""What IMAP and SMTP connections share: TLS contexts, timeouts, the outbound-address check, and MailError saying
which step failed.

The servers are the tenant's to name, so every connection goes through chatpad.security.checked_addresses (no
loopback, private, link-local or metadata address unless ALLOW_PRIVATE_HOSTS) and connects to the address it checked.
What a failure says is generic on purpose ("could not connect", "TLS failed", "sign-in refused"): never the server's
greeting or a socket's own words, which would make "Test connection" a tool for finding out what listens where.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, has_app_context

from chatpad.security import OutboundAddressRefused, checked_addresses, connect_checked

log = logging.getLogger("chatpad.email.transport")

STEPS = ("address", "dns", "connect", "tls", "auth", "folder", "protocol", "timeout")


class MailError(Exception):
    """A mail server conversation failed at one step (dns, connect, tls, auth, folder, protocol, timeout).

    str() is a sentence for the admin: what failed, where, and the server's own words when it gave any."""

    def __init__(self, step: str, message: str, *, server: str | None = None, transient: bool | None = None):
        super().__init__(message)
        self.step = step
        self.message = message
        self.server = server
        # Worth retrying later? Auth and folder problems need a person; network trouble usually passes.
        self.transient = transient if transient is not None else step in ("connect", "timeout", "protocol")


def ssl_context() -> ssl.SSLContext:
    """A verifying TLS context; MAIL_TLS_CA_FILE adds a private CA (tests' self-signed Dovecot, in-house servers)."""
    context = ssl.create_default_context()
    if has_app_context():
        ca_file = current_app.config.get("MAIL_TLS_CA_FILE")
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
    return context


def mail_timeout() -> float:
    if has_app_context():
        return float(current_app.config.get("MAIL_TIMEOUT", 30))
    return 30.0


def resolve(host: str, port: int, label: str) -> list[tuple]:
    """Look the host up and check every address it has (chatpad.security.checked_addresses): the entries to connect
    to. A DNS failure is reported as one; a private or reserved address is refused before any connection."""
    try:
        return checked_addresses(host, port)
    except OutboundAddressRefused as exc:
        raise MailError("address", f"{label} server {exc}.", transient=False) from exc
    except socket.gaierror as exc:
        raise MailError("dns", f"{label} server {host} could not be found (DNS)") from exc
    except (UnicodeError, ValueError) as exc:
        raise MailError("dns", f"{label} server name {host!r} is not a valid host name", transient=False) from exc


# --- a bound on a whole conversation (Test connection) ------------------------------------------------------------

_limit = threading.local()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Bound everything this thread does with mail servers inside the block to ``seconds`` in all: each socket
    operation waits at most what is left, and a watchdog shuts every socket opened here when the time is up (a server
    that answers a byte at a time cannot stretch it). expired() says whether it ran out."""
    sockets: list[socket.socket] = []
    deadline = time.monotonic() + seconds

    def _expire() -> None:
        for sock in list(sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(seconds, _expire)
    timer.daemon = True
    _limit.sockets, _limit.deadline = sockets, deadline
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        _limit.sockets = _limit.deadline = None


def expired() -> bool:
    """True inside time_limit once its time is up."""
    deadline = getattr(_limit, "deadline", None)
    return deadline is not None and time.monotonic() >= deadline


def op_timeout(timeout: float) -> float:
    """timeout, or what is left of the current time_limit when that is less."""
    deadline = getattr(_limit, "deadline", None)
    if deadline is None:
        return timeout
    return max(0.05, min(timeout, deadline - time.monotonic()))


def open_socket(entries: list[tuple], timeout: float | None) -> socket.socket:
    """A TCP connection to one of the checked entries (resolve), watched by the current time_limit."""
    sock = connect_checked(entries, op_timeout(timeout) if timeout is not None else None)
    sockets = getattr(_limit, "sockets", None)
    if sockets is not None:
        sockets.append(sock)
    return sock


def classify_os_error(exc: BaseException, label: str, host: str, port: int) -> MailError:
    """A socket-level failure as the step it happened at, in generic words (the module doc says why)."""
    where = f"{label} server {host}:{port}"
    log.info("%s: %s: %s", where, exc.__class__.__name__, exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailError("tls", f"{where}: the TLS certificate is not trusted", transient=False)
    if isinstance(exc, ssl.SSLError):
        return MailError(
            "tls",
            f"{where}: the TLS handshake failed; check that the port's security is right (SSL, STARTTLS or none)",
            transient=False,
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return MailError("timeout", f"{where} did not answer in time")
    return MailError("connect", f"Could not connect to {where}")
