"""The IMAP client: sign in (password or SASL XOAUTH2), read a folder by UID, append to Sent.

Built on IMAPClient (which wraps the standard library's imaplib). Every socket has a timeout, and every failure
becomes a MailError naming the step (DNS, TLS, authentication, folder), so the admin reads what actually went wrong.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
from collections.abc import Iterator
from datetime import UTC, date, datetime

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.imapclient import SENT
from imapclient.tls import IMAP4_TLS, wrap_socket

from .settings import MailSettings
from .transport import MailError, classify_os_error, mail_timeout, open_socket, resolve, ssl_context

log = logging.getLogger("chatpad.email.imap")

SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "[Gmail]/Sent Mail", "INBOX.Sent", "Gesendet")


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response before base64 (platform-reference.md §D.3)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def decode_xoauth2_error(challenge: bytes | str | None) -> str | None:
    """Google and Dovecot answer a bad token with base64 JSON ({"status":"401","schemes":…}) before the NO."""
    if not challenge:
        return None
    try:
        raw = challenge if isinstance(challenge, bytes) else challenge.encode()
        try:
            data = json.loads(raw)
        except ValueError:
            data = json.loads(base64.b64decode(raw))
        return f"status {data.get('status')}" + (f", scope {data['scope']}" if data.get("scope") else "")
    except (ValueError, TypeError):
        return None


class _PinnedIMAP4(IMAP4WithTimeout):
    """Plain/STARTTLS IMAP connected to the checked address (transport.resolve), the host name kept for TLS."""

    def __init__(self, host: str, port: int, timeout: float | None, entries: list[tuple]):
        self._entries = entries
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None):
        return open_socket(self._entries, timeout if timeout is not None else self._timeout)


class _PinnedIMAP4_TLS(IMAP4_TLS):  # noqa: N801 (imaplib's naming)
    """Implicit-TLS IMAP connected to the checked address; the certificate is checked against the host name."""

    def __init__(self, host: str, port: int, context, timeout: float | None, entries: list[tuple]):
        self._entries = entries
        super().__init__(host, port, context, timeout)

    def _create_socket(self, timeout: float | None = None):
        sock = open_socket(self._entries, timeout if timeout is not None else self._timeout)
        return wrap_socket(sock, self.ssl_context, self.host)


class _PinnedIMAPClient(IMAPClient):
    """IMAPClient that connects to addresses checked beforehand instead of resolving the name itself."""

    def __init__(self, host: str, *, entries: list[tuple], **kwargs):
        self._entries = entries
        super().__init__(host, **kwargs)

    def _create_IMAP4(self):  # noqa: N802 (IMAPClient's name)
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _PinnedIMAP4_TLS(self.host, self.port, self.ssl_context, timeout, self._entries)
        return _PinnedIMAP4(self.host, self.port, timeout, self._entries)


class ImapSession:
    """One signed-in IMAP connection. Use as a context manager; it logs out (or drops the socket) on exit."""

    def __init__(self, settings: MailSettings, secret: str, *, timeout: float | None = None):
        self.settings = settings
        self.label = "IMAP"
        self.client = self._connect(settings, secret, timeout or mail_timeout())

    # --- connecting ---

    def _connect(self, settings: MailSettings, secret: str, timeout: float) -> IMAPClient:
        host, port, security = settings.imap_host, settings.imap_port, settings.imap_security
        entries = resolve(host, port, self.label)
        context = ssl_context()
        try:
            client = _PinnedIMAPClient(
                host, entries=entries, port=port, ssl=security == "ssl", ssl_context=context, timeout=timeout
            )
        except (OSError, ssl.SSLError, EOFError) as exc:
            raise classify_os_error(exc, self.label, host, port) from exc
        except imap_errors.IMAPClientError as exc:
            # Never the greeting itself: what a port answers is not for the form to tell (transport module doc).
            log.info("IMAP server %s:%s greeting refused: %s", host, port, exc)
            raise MailError("protocol", f"IMAP server {host}:{port} did not answer as an IMAP server") from exc
        client.normalise_times = False
        try:
            if security == "starttls":
                try:
                    client.starttls(context)
                except imap_errors.IMAPClientError as exc:
                    raise MailError(
                        "tls", f"IMAP server {host}:{port} does not offer STARTTLS", transient=False
                    ) from exc
            self._authenticate(client, settings, secret)
        except MailError:
            _drop(client)
            raise
        except (OSError, ssl.SSLError, EOFError) as exc:
            _drop(client)
            raise classify_os_error(exc, self.label, host, port) from exc
        return client

    def _authenticate(self, client: IMAPClient, settings: MailSettings, secret: str) -> None:
        user = settings.username
        if settings.auth == "oauth":
            errors: list[str] = []

            def respond(challenge: bytes) -> str:
                # First call: the initial response. A second call means the server sent its JSON error as a
                # challenge; the protocol wants an empty line back, then the command fails (§D.3).
                if not respond.sent:  # type: ignore[attr-defined]
                    respond.sent = True  # type: ignore[attr-defined]
                    return xoauth2_string(user, secret)
                errors.append(decode_xoauth2_error(challenge) or "")
                return ""

            respond.sent = False  # type: ignore[attr-defined]
            try:
                client._imap.authenticate("XOAUTH2", respond)
            except imap_errors.IMAPClientError as exc:
                detail = _server_words(exc)
                extra = f" ({errors[0]})" if errors and errors[0] else ""
                log.info("IMAP XOAUTH2 sign-in as %s refused: %s%s", user, detail, extra)
                raise MailError(
                    "auth", f"IMAP sign-in with OAuth (XOAUTH2) as {user} was refused", server=detail + extra
                ) from exc
            return
        try:
            client.login(user, secret)
        except imap_errors.LoginError as exc:
            detail = _server_words(exc)
            log.info("IMAP sign-in as %s refused: %s", user, detail)
            raise MailError(
                "auth",
                f"IMAP sign-in as {user} was refused: check the user name and password (an app password where the "
                "provider requires one)",
                server=detail,
            ) from exc

    # --- reading ---

    def select(self, folder: str, *, readonly: bool = True) -> dict[str, int]:
        """Open a folder; {"uidvalidity", "uidnext", "exists"}. MailError("folder") when it does not exist."""
        try:
            info = self.client.select_folder(folder, readonly=readonly)
        except imap_errors.IMAPClientError as exc:
            raise MailError(
                "folder", f"IMAP folder {folder!r} could not be opened: {_server_words(exc)}", transient=False
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise classify_os_error(exc, self.label, self.settings.imap_host, self.settings.imap_port) from exc
        return {
            "uidvalidity": int(info.get(b"UIDVALIDITY", 0)),
            "uidnext": int(info.get(b"UIDNEXT", 0) or 0),
            "exists": int(info.get(b"EXISTS", 0)),
        }

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above last_uid. "n:*" always includes the highest UID, even when it is below n (RFC 3501 §6.4.8)."""
        uids = self._search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in uids if uid > last_uid)

    def uids_since(self, day: date) -> list[int]:
        """UIDs of messages whose internal date is on or after day (the backfill window)."""
        return sorted(self._search(["SINCE", day]))

    def _search(self, criteria) -> list[int]:
        try:
            return [int(uid) for uid in self.client.search(criteria)]
        except imap_errors.IMAPClientError as exc:
            raise MailError("protocol", f"IMAP search failed: {_server_words(exc)}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise classify_os_error(exc, self.label, self.settings.imap_host, self.settings.imap_port) from exc

    def fetch(self, uids: list[int], batch: int = 200) -> Iterator[tuple[int, bytes, datetime | None]]:
        """(uid, raw RFC 822 bytes, internal date) for each UID, in batches; BODY.PEEK leaves \\Seen alone."""
        for start in range(0, len(uids), batch):
            chunk = uids[start : start + batch]
            try:
                data = self.client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE", "RFC822.SIZE"])
            except imap_errors.IMAPClientError as exc:
                raise MailError("protocol", f"IMAP fetch failed: {_server_words(exc)}") from exc
            except (OSError, ssl.SSLError) as exc:
                raise classify_os_error(exc, self.label, self.settings.imap_host, self.settings.imap_port) from exc
            for uid in chunk:
                item = data.get(uid)
                if not item:
                    continue  # expunged between SEARCH and FETCH
                raw = item.get(b"BODY[]") or b""
                internal = item.get(b"INTERNALDATE")
                if isinstance(internal, datetime) and internal.tzinfo is None:
                    internal = internal.replace(tzinfo=UTC)
                yield uid, raw, internal

    # --- writing ---

    def sent_folder(self) -> str:
        """The Sent folder: the configured one, else the one marked \\Sent (RFC 6154), else a usual name."""
        if self.settings.sent_folder:
            return self.settings.sent_folder
        try:
            special = self.client.find_special_folder(SENT)
        except imap_errors.IMAPClientError:
            special = None
        if special:
            return special
        for name in SENT_NAMES:
            try:
                if self.client.folder_exists(name):
                    return name
            except imap_errors.IMAPClientError:
                break
        return "Sent"

    def append(self, folder: str, raw: bytes, *, seen: bool = True, when: datetime | None = None) -> None:
        """Add a message to a folder (our reply to Sent, so the business sees it in its own mail client)."""
        flags = (b"\\Seen",) if seen else ()
        try:
            self.client.append(folder, raw, flags=flags, msg_time=when or datetime.now(UTC))
        except imap_errors.IMAPClientError as exc:
            raise MailError("folder", f"Could not add the reply to {folder!r}: {_server_words(exc)}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise classify_os_error(exc, self.label, self.settings.imap_host, self.settings.imap_port) from exc

    # --- closing ---

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # the server may already be gone; the socket is closed either way
            _drop(self.client)

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _drop(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:
        log.debug("closing a dead IMAP socket", exc_info=True)


def _server_words(exc: BaseException) -> str:
    """The server's text from an imaplib error (which often arrives as the repr of bytes: b'[…] text')."""
    text = str(exc).strip()
    if len(text) >= 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        text = text[2:-1]
    return text.replace("\\r\\n", " ").strip() or exc.__class__.__name__
