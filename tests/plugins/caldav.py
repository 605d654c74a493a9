"""A real CalDAV server for the booking tests: Radicale from PyPI (≥ 3.2.3 answers the free-busy REPORT; Debian's
3.1.8 does not), started privately on a free loopback port with its own users and storage, like Dovecot in
tests/plugins/mail.py."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from .mail import free_port, wait_port

USERS = {"ana": "ana-secret-pass", "ben": "ben-secret-pass"}


class Radicale:
    def __init__(self, url: str, root):
        self.url = url
        self.root = root

    def make_calendar(self, user: str, name: str | None = None) -> str:
        """A new calendar collection of `user`; its URL."""
        import caldav

        client = caldav.DAVClient(url=f"{self.url}/{user}/", username=user, password=USERS[user])
        cal_id = name or f"tours-{uuid.uuid4().hex[:8]}"
        return str(client.principal().make_calendar(name=cal_id, cal_id=cal_id).url)

    def add_event(self, calendar_url: str, user: str, start, end, summary: str = "Staff meeting") -> str:
        """An event a person put in the calendar directly (not through ChatPad)."""
        import caldav
        from icalendar import Calendar, Event

        uid = f"staff-{uuid.uuid4().hex}"
        cal, event = Calendar(), Event()
        cal.add("prodid", "-//staff calendar app//EN")
        cal.add("version", "2.0")
        for key, value in (("uid", uid), ("dtstamp", start), ("dtstart", start), ("dtend", end), ("summary", summary)):
            event.add(key, value)
        cal.add_component(event)
        client = caldav.DAVClient(url=calendar_url, username=user, password=USERS[user])
        client.calendar(url=calendar_url).save_event(cal.to_ical().decode())
        return uid

    def events(self, calendar_url: str, user: str) -> list:
        import caldav

        client = caldav.DAVClient(url=calendar_url, username=user, password=USERS[user])
        return list(client.calendar(url=calendar_url).events())


@pytest.fixture(scope="session")
def radicale(tmp_path_factory):
    """Radicale serving htpasswd users (USERS) on a free port, for the whole session."""
    root = tmp_path_factory.mktemp("radicale")
    (root / "users").write_text("".join(f"{u}:{p}\n" for u, p in USERS.items()))
    port = free_port()
    (root / "config").write_text(
        f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = htpasswd
htpasswd_filename = {root / "users"}
htpasswd_encryption = plain
# No pause after a 401: the caldav client's first request of each call goes without credentials to learn the scheme.
delay = 0
[storage]
filesystem_folder = {root / "collections"}
[rights]
type = owner_only
[logging]
level = warning
"""
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(root / "config")],
        stdout=(root / "radicale.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port)
        yield Radicale(f"http://127.0.0.1:{port}", root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
