"""The SMTP client: send a reply from the inbox's own server (password or SASL XOAUTH2; implicit TLS or STARTTLS).

Server answers are sorted the way RFC 5321 §4.2.1 intends: 4xx and dropped connections are transient (retry),
5xx are permanent (the message is marked failed with the server's own words), and a refused sign-in means the
inbox needs reconnecting.
"""

from __future__ import annotations

import logging
import smtplib
import ssl

from chatpad.channels.errors import AuthExpiredError, PermanentSendError, TransientSendError

from .imap import decode_xoauth2_error, xoauth2_string
from .settings import MailSettings
from .transport import MailError, classify_os_error, mail_timeout, open_socket, resolve, ssl_context

log = logging.getLogger("chatpad.email.smtp")


class _PinnedSMTP(smtplib.SMTP):
    """SMTP connected to the addresses checked beforehand (transport.resolve); STARTTLS checks the host name."""

    def __init__(self, host: str, port: int, *, entries: list[tuple], timeout: float):
        self._entries = entries
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host, port, timeout):
        return open_socket(self._entries, timeout)


class _PinnedSMTP_SSL(smtplib.SMTP_SSL, _PinnedSMTP):  # noqa: N801 (smtplib's naming)
    """Implicit-TLS SMTP to the checked addresses: SMTP_SSL wraps the socket _PinnedSMTP opened."""

    def __init__(self, host: str, port: int, *, entries: list[tuple], timeout: float, context: ssl.SSLContext):
        self._entries = entries
        smtplib.SMTP_SSL.__init__(self, host, port, timeout=timeout, context=context)


def open_smtp(settings: MailSettings, secret: str, *, timeout: float | None = None) -> smtplib.SMTP:
    """A signed-in SMTP connection; MailError names the failing step (dns, connect, tls, auth)."""
    host, port, security = settings.smtp_host, settings.smtp_port, settings.smtp_security
    timeout = timeout or mail_timeout()
    entries = resolve(host, port, "SMTP")
    context = ssl_context()
    try:
        if security == "ssl":
            conn: smtplib.SMTP = _PinnedSMTP_SSL(host, port, entries=entries, timeout=timeout, context=context)
        else:
            conn = _PinnedSMTP(host, port, entries=entries, timeout=timeout)
    except smtplib.SMTPConnectError as exc:
        log.info("SMTP server %s:%s refused the session: %s %s", host, port, exc.smtp_code, _words(exc))
        raise MailError("connect", f"Could not connect to SMTP server {host}:{port}") from exc
    except (OSError, ssl.SSLError) as exc:
        raise classify_os_error(exc, "SMTP", host, port) from exc
    try:
        conn.ehlo()
        if security == "starttls":
            if not conn.has_extn("starttls"):
                raise MailError("tls", f"SMTP server {host}:{port} does not offer STARTTLS", transient=False)
            conn.starttls(context=context)
            conn.ehlo()
        _authenticate(conn, settings, secret)
    except MailError:
        _quit(conn)
        raise
    except smtplib.SMTPServerDisconnected as exc:
        _quit(conn)
        raise MailError("connect", f"Could not connect to SMTP server {host}:{port}: it closed the connection") from exc
    except (OSError, ssl.SSLError) as exc:
        _quit(conn)
        raise classify_os_error(exc, "SMTP", host, port) from exc
    return conn


def _authenticate(conn: smtplib.SMTP, settings: MailSettings, secret: str) -> None:
    user = settings.username
    if settings.auth == "oauth":
        state = {"sent": False, "error": None}

        def respond(challenge: bytes | None = None) -> str:
            # smtplib sends the first answer as the initial response; a 334 carrying base64 JSON is the error
            # (§D.3), to which the client answers with an empty line before the final 535.
            if not state["sent"]:
                state["sent"] = True
                return xoauth2_string(user, secret)
            state["error"] = decode_xoauth2_error(challenge)
            return ""

        try:
            conn.auth("XOAUTH2", respond, initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as exc:
            extra = f" ({state['error']})" if state["error"] else ""
            log.info("SMTP XOAUTH2 sign-in as %s refused: %s %s%s", user, exc.smtp_code, _words(exc), extra)
            raise MailError(
                "auth",
                f"SMTP sign-in with OAuth (XOAUTH2) as {user} was refused",
                server=_words(exc),
                transient=exc.smtp_code == 454,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError("auth", "SMTP server does not offer sign-in (AUTH) on this port", transient=False) from exc
        return
    try:
        conn.login(user, secret)
    except smtplib.SMTPAuthenticationError as exc:
        log.info("SMTP sign-in as %s refused: %s %s", user, exc.smtp_code, _words(exc))
        raise MailError(
            "auth",
            f"SMTP sign-in as {user} was refused: check the user name and password (an app password where the "
            "provider requires one)",
            server=_words(exc),
            transient=exc.smtp_code == 454,  # 454 4.7.0: temporary authentication failure
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError("auth", "SMTP server does not offer sign-in (AUTH) on this port", transient=False) from exc
    except smtplib.SMTPException as exc:
        log.info("SMTP sign-in as %s failed: %s", user, exc)
        raise MailError("auth", f"SMTP sign-in as {user} was refused", transient=False) from exc


def send_mime(settings: MailSettings, secret: str, raw: bytes, sender: str, recipients: list[str]) -> None:
    """Hand one message to the inbox's SMTP server. Raises the channel's send errors (see module doc)."""
    try:
        conn = open_smtp(settings, secret)
    except MailError as exc:
        if exc.step == "auth" and not exc.transient:
            raise AuthExpiredError(str(exc)) from exc
        if exc.transient:
            raise TransientSendError(str(exc)) from exc
        raise PermanentSendError(str(exc)) from exc
    try:
        conn.sendmail(sender, recipients, raw)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        reason = "; ".join(f"{rcpt}: {code} {_decode(msg)}" for rcpt, (code, msg) in exc.recipients.items())
        if all(400 <= code < 500 for code in codes):
            raise TransientSendError(f"SMTP server deferred the recipient: {reason}", code=codes[0]) from exc
        raise PermanentSendError(f"SMTP server refused the recipient: {reason}", code=codes[0]) from exc
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPResponseException) as exc:
        reason = f"{exc.smtp_code} {_words(exc)}"
        if 400 <= exc.smtp_code < 500:
            raise TransientSendError(f"SMTP server deferred the message: {reason}", code=exc.smtp_code) from exc
        raise PermanentSendError(f"SMTP server refused the message: {reason}", code=exc.smtp_code) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise TransientSendError(f"SMTP server closed the connection while sending: {exc}") from exc
    except (OSError, ssl.SSLError) as exc:
        raise TransientSendError(str(classify_os_error(exc, "SMTP", settings.smtp_host, settings.smtp_port))) from exc
    finally:
        _quit(conn)


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _words(exc: smtplib.SMTPResponseException) -> str:
    return _decode(exc.smtp_error).replace("\n", " ").strip()
