"""Hosts a tenant types are not a way into our network (issue 16 item 5).

"Test connection" on the IMAP/SMTP form (and the sync and the sender behind it) connects only to public addresses
unless ALLOW_PRIVATE_HOSTS is on; it never echoes what a port answered, it ends within MAIL_TEST_TIMEOUT whatever the
server does, and it is rate limited per person and organization. Real listening sockets stand in for the inner
services: the tests check that nothing reached them.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from chatpad.channels.email.connection import test_connection as check_connection
from chatpad.channels.email.settings import MailSettings
from chatpad.security import OutboundAddressRefused, checked_addresses, guard_session
from tests.conftest import csrf_from


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts and answers each with ``greeting``, sent
    ``drip`` bytes at a time every ``pause`` seconds (forever when ``forever``)."""

    def __init__(self, greeting: bytes = b"", *, drip: int = 0, pause: float = 0.2, forever: bool = False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.greeting, self.drip, self.pause, self.forever = greeting, drip, pause, forever
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            if not self.drip:
                conn.sendall(self.greeting)
                self._stop.wait(30)
                return
            while not self._stop.is_set():
                for i in range(0, len(self.greeting), self.drip):
                    conn.sendall(self.greeting[i : i + self.drip])
                    if self._stop.wait(self.pause):
                        return
                if not self.forever:
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    made: list[Listener] = []

    def factory(*args, **kwargs) -> Listener:
        made.append(Listener(*args, **kwargs))
        return made[-1]

    yield factory
    for item in made:
        item.close()


@pytest.fixture
def production_hosts(app, monkeypatch):
    """The app as production runs it: private hosts refused."""
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_HOSTS", False)
    return app


def _settings(host: str, port: int, **kw) -> MailSettings:
    base = dict(
        address="office@example.com",
        imap_host=host,
        imap_port=port,
        imap_security="ssl",
        smtp_host=host,
        smtp_port=port,
        smtp_security="ssl",
    )
    base.update(kw)
    return MailSettings(**base)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "169.254.169.254", "::1", "fd00:ec2::254", "0.0.0.0"],  # noqa: S104
)
def test_inner_addresses_are_refused_before_connecting(production_hosts, host):
    """Loopback, private, link-local, metadata, unspecified: refused, by name (localhost) as by number."""
    with production_hosts.app_context():
        with pytest.raises(OutboundAddressRefused):
            checked_addresses(host, 993)


def test_a_public_address_is_allowed(production_hosts):
    with production_hosts.app_context():
        [entry] = checked_addresses("93.184.215.14", 993)
    assert entry[4][0] == "93.184.215.14"


def test_connection_test_to_loopback_connects_nothing(production_hosts, listener):
    """With private hosts refused, Test connection to a listening loopback port says why and never connects."""
    inner = listener(b"* OK inner service ready\r\n")
    with production_hosts.app_context():
        report = check_connection(_settings("127.0.0.1", inner.port), "secret")
        by_name = check_connection(_settings("localhost", inner.port), "secret")
    assert report.failure.step == "address" and by_name.failure.step == "address"
    assert report.summary == (
        "Address failed: IMAP server 127.0.0.1 is on a private, loopback or reserved network address; "
        "ChatPad only connects to public servers."
    )
    time.sleep(0.3)  # the listener's accept loop wakes up every 0.2 s
    assert inner.accepted == 0


def test_the_form_refuses_a_metadata_address(production_hosts, admin_client):
    """The IMAP/SMTP form with the cloud metadata address: a clear refusal on the page, nothing connected."""
    client, biz = admin_client()
    url = f"/admin/integrations/email/imap?agent={biz.agent.id}"
    form = {
        "address": "office@example.com",
        "imap_host": "169.254.169.254",
        "imap_port": "80",
        "imap_security": "ssl",
        "smtp_host": "smtp.example.com",
        "smtp_port": "465",
        "smtp_security": "ssl",
        "password": "secret",
        "folder": "INBOX",
        "backfill_days": "7",
        "action": "test",
    }
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": csrf_from(page), **form})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "169.254.169.254 is on a private, loopback or reserved network address" in html


def test_the_server_greeting_is_never_shown(app, listener):
    """Whatever a port answers, the report says only that it is not an IMAP server, never its words."""
    service = listener(b"SSH-2.0-OpenSSH_9.6 secret-build-42\r\n")
    with app.app_context():
        report = check_connection(_settings("127.0.0.1", service.port, imap_security="none"), "secret")
    assert report.failure.step == "protocol"
    assert "OpenSSH" not in report.summary and "secret-build" not in report.summary
    assert report.summary == f"Protocol failed: IMAP server 127.0.0.1:{service.port} did not answer as an IMAP server"


def test_a_server_that_drips_cannot_hold_the_test(app, listener):
    """A server answering a byte at a time, forever, is cut off when the test's time is up (per-socket timeouts
    alone would wait on it for ever: every byte resets them)."""
    slow = listener(b"* OK " + b"x" * 200, drip=1, pause=0.1, forever=True)
    with app.app_context():
        report = check_connection(_settings("127.0.0.1", slow.port, imap_security="none"), "secret", timeout=1.5)
    assert report.failure.step == "timeout"
    assert report.summary == "Timeout failed: IMAP did not finish within 1.5 seconds"


def test_connection_tests_are_rate_limited(admin_client, app, monkeypatch, listener):
    """Past the per-person limit, Test connection answers 429 and connects nowhere."""
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
    monkeypatch.setitem(app.config, "MAIL_TEST_RATE_LIMIT_USER", "2 per 7 minutes")
    target = listener(b"")
    client, biz = admin_client()
    url = f"/admin/integrations/email/imap?agent={biz.agent.id}"
    form = {
        "address": "office@example.com",
        "imap_host": "127.0.0.1",
        "imap_port": "1",  # nothing listens: each test fails fast
        "imap_security": "ssl",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(target.port),
        "smtp_security": "ssl",
        "password": "secret",
        "folder": "INBOX",
        "backfill_days": "7",
        "action": "test",
    }
    token = csrf_from(client.get(url).get_data(as_text=True))
    codes = [client.post(url, data={"csrf_token": token, **form}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.post(url, data={"csrf_token": token, **form, "imap_port": str(target.port)})
    assert refused.status_code == 429 and "Too many connection tests" in refused.get_data(as_text=True)
    time.sleep(0.3)
    assert target.accepted == 0


def test_a_calendar_url_on_an_inner_address_is_refused(production_hosts, listener):
    """Tenant URLs fetched over HTTP (CalDAV) go through the same check: no request reaches an inner address."""
    inner = listener(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    with production_hosts.app_context():
        session = guard_session(requests.Session())
    with pytest.raises(OutboundAddressRefused):
        session.get(f"http://localhost:{inner.port}/calendars/", timeout=2)
    time.sleep(0.3)
    assert inner.accepted == 0
    allowed = guard_session(requests.Session(), allow_private=True)
    assert allowed.get(f"http://127.0.0.1:{inner.port}/", timeout=2).text == "ok"


def test_a_caldav_calendar_on_an_inner_address_is_refused(production_hosts, listener):
    """A CalDAV calendar URL naming this machine: a clear, permanent calendar error, and no request sent."""
    from datetime import UTC, datetime, timedelta

    from chatpad.booking.providers import CalendarError
    from chatpad.booking.providers.caldav import CalDAVClient
    from chatpad.booking.spec import Credentials

    inner = listener(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    creds = Credentials("caldav", "tours", f"http://localhost:{inner.port}/tours/", "secret", timeout=2)
    start = datetime.now(UTC)
    with production_hosts.app_context(), pytest.raises(CalendarError) as refused:
        CalDAVClient().busy(creds, start, start + timedelta(days=1))
    assert "private, loopback or reserved network address" in str(refused.value)
    assert not refused.value.transient
    time.sleep(0.3)
    assert inner.accepted == 0


def test_finding_calendars_on_an_inner_address_is_refused(production_hosts, listener):
    """The CalDAV form's discovery (Integrations → Calendars) goes through the same check."""
    from chatpad.booking.providers import CalendarError
    from chatpad.booking.providers.caldav import discover

    inner = listener(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    with production_hosts.app_context(), pytest.raises(CalendarError) as refused:
        discover(f"http://127.0.0.1:{inner.port}/", "tours", "secret", timeout=2)
    assert "private, loopback or reserved network address" in str(refused.value)
    time.sleep(0.3)
    assert inner.accepted == 0


def test_a_name_that_changes_its_answer_cannot_rebind_to_this_machine(production_hosts, listener, monkeypatch):
    """DNS rebinding: a name that answers a public address when checked and 127.0.0.1 a moment later. The name is
    resolved once and the connection goes to the checked address, so the loopback service is never reached. (The
    resolver is the one stand-in: a DNS server that changes its answer.)"""
    inner = listener(b"* OK inner service ready\r\n")
    real_getaddrinfo = socket.getaddrinfo
    answers = {"count": 0}

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example.com":
            return real_getaddrinfo(host, port, *args, **kwargs)
        answers["count"] += 1
        address = "93.184.215.14" if answers["count"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with production_hosts.app_context():
        report = check_connection(_settings("rebind.example.com", inner.port), "x", timeout=1.5)
    assert not report.ok and answers["count"] == 1
    time.sleep(0.3)
    assert inner.accepted == 0
