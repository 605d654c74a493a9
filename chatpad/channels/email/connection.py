"""'Test connection': try an inbox's IMAP and SMTP settings step by step and say exactly what failed.

Shared by the Integrations screen and `flask chatpad connect-email`. Steps, in order, for each server: DNS lookup,
TCP connection, TLS (implicit or STARTTLS), sign-in, and for IMAP opening the folder that will be synced. The report
names the first failing step in a sentence an admin can act on, in generic words: never a server's greeting or a
socket's error text, so the form cannot be used to learn what listens on a port (chatpad.channels.email.transport).
Hosts on loopback, private, link-local or metadata addresses are refused before any connection unless
ALLOW_PRIVATE_HOSTS, and the whole test (both servers) ends within MAIL_TEST_TIMEOUT seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app, has_app_context

from .imap import ImapSession
from .settings import MailSettings, SettingsError
from .smtp import _quit, open_smtp
from .transport import MailError, expired, time_limit

log = logging.getLogger("chatpad.email.connection")

DEFAULT_TEST_TIMEOUT = 10.0

STEP_LABELS = {
    "settings": "Settings",
    "address": "Address",
    "dns": "DNS",
    "connect": "Connection",
    "tls": "TLS",
    "auth": "Authentication",
    "folder": "Folder",
    "protocol": "Protocol",
    "timeout": "Timeout",
}


@dataclass
class CheckStep:
    server: str  # IMAP | SMTP | settings
    step: str  # settings, dns, connect, tls, auth, folder, protocol, timeout, or ok
    ok: bool
    detail: str


@dataclass
class ConnectionReport:
    """ok when both servers accepted the inbox; otherwise failure names the step and says why."""

    ok: bool
    steps: list[CheckStep] = field(default_factory=list)
    folder_count: int | None = None  # messages in the synced folder, when IMAP worked

    @property
    def failure(self) -> CheckStep | None:
        return next((s for s in self.steps if not s.ok), None)

    @property
    def summary(self) -> str:
        failed = self.failure
        if failed is None:
            return "Connection OK: " + "; ".join(s.detail for s in self.steps)
        return f"{STEP_LABELS.get(failed.step, failed.step)} failed: {failed.detail}"

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "summary": self.summary,
            "failed_step": self.failure.step if self.failure else None,
            "steps": [s.__dict__ for s in self.steps],
        }


def test_connection(
    settings: MailSettings, secret: str, *, allow_insecure: bool = False, timeout: float | None = None
) -> ConnectionReport:
    """Check IMAP (sign in, open the folder) and SMTP (sign in) with these settings and this password or token, all
    within ``timeout`` seconds (default MAIL_TEST_TIMEOUT)."""
    if timeout is None:
        timeout = float(current_app.config.get("MAIL_TEST_TIMEOUT", DEFAULT_TEST_TIMEOUT)) if has_app_context() else 10
    with time_limit(timeout):
        report = _run_checks(settings, secret, allow_insecure=allow_insecure)
        failed = report.failure
        if failed is not None and failed.step in ("connect", "protocol", "timeout") and expired():
            failed.step, failed.detail = "timeout", f"{failed.server} did not finish within {timeout:g} seconds"
    return report


def _run_checks(settings: MailSettings, secret: str, *, allow_insecure: bool) -> ConnectionReport:
    report = ConnectionReport(ok=False)
    try:
        settings.validate(allow_insecure=allow_insecure)
    except SettingsError as exc:
        report.steps.append(CheckStep("settings", "settings", False, str(exc)))
        return report
    if not secret:
        report.steps.append(CheckStep("settings", "settings", False, "no password or access token was given"))
        return report

    try:
        with ImapSession(settings, secret) as imap:
            info = imap.select(settings.folder, readonly=True)
            report.folder_count = info["exists"]
            report.steps.append(
                CheckStep(
                    "IMAP",
                    "ok",
                    True,
                    f"IMAP {settings.imap_host}:{settings.imap_port} signed in as {settings.username}; "
                    f"folder {settings.folder!r} has {info['exists']} messages",
                )
            )
    except MailError as exc:
        report.steps.append(CheckStep("IMAP", exc.step, False, str(exc)))
        return report
    except Exception:  # noqa: BLE001 (whatever a server does, the form answers with a reason, never a 500)
        log.info("IMAP check of %s:%s failed", settings.imap_host, settings.imap_port, exc_info=True)
        report.steps.append(
            CheckStep("IMAP", "protocol", False, _unexpected("IMAP", settings.imap_host, settings.imap_port))
        )
        return report

    try:
        conn = open_smtp(settings, secret)
        _quit(conn)
        report.steps.append(
            CheckStep(
                "SMTP", "ok", True, f"SMTP {settings.smtp_host}:{settings.smtp_port} signed in as {settings.username}"
            )
        )
    except MailError as exc:
        report.steps.append(CheckStep("SMTP", exc.step, False, str(exc)))
        return report
    except Exception:  # noqa: BLE001
        log.info("SMTP check of %s:%s failed", settings.smtp_host, settings.smtp_port, exc_info=True)
        report.steps.append(
            CheckStep("SMTP", "protocol", False, _unexpected("SMTP", settings.smtp_host, settings.smtp_port))
        )
        return report
    report.ok = True
    return report


def _unexpected(label: str, host: str, port: int) -> str:
    return f"{label} server {host}:{port} did not answer as a {label} server"


# pytest would collect a module-level function named test_*; this one is not a test.
test_connection.__test__ = False  # type: ignore[attr-defined]
