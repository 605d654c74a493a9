"""What IMAP and SMTP connections share: TLS contexts, timeouts, and MailError saying which step failed."""

from __future__ import annotations

import socket
import ssl

from flask import current_app, has_app_context

STEPS = ("dns", "connect", "tls", "auth", "folder", "protocol", "timeout")


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


def resolve(host: str, port: int, label: str) -> None:
    """Look the host up first, so a DNS failure is reported as one (not as a vague connection error)."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MailError("dns", f"{label} server {host} could not be found (DNS: {exc.strerror or exc})") from exc
    except UnicodeError as exc:
        raise MailError("dns", f"{label} server name {host!r} is not a valid host name") from exc


def classify_os_error(exc: BaseException, label: str, host: str, port: int) -> MailError:
    """A socket-level failure as the step it happened at."""
    where = f"{label} server {host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailError("tls", f"{where}: TLS certificate not trusted ({exc.verify_message})", transient=False)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        hint = ""
        if reason in ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "RECORD_LAYER_FAILURE"):
            hint = " — is this port plain text or STARTTLS rather than implicit TLS (SSL)?"
        return MailError("tls", f"{where}: TLS handshake failed ({reason}){hint}", transient=False)
    if isinstance(exc, TimeoutError | socket.timeout):
        return MailError("timeout", f"{where} did not answer in time")
    if isinstance(exc, ConnectionRefusedError):
        return MailError("connect", f"{where} refused the connection (nothing listening on that port?)")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError):
        return MailError("connect", f"{where} closed the connection unexpectedly")
    return MailError("connect", f"{where}: {exc.__class__.__name__}: {exc}")
