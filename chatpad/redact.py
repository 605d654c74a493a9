"""Keeping secrets out of logs.

The code never logs a token on purpose (tests/security/test_logs.py captures a whole realistic flow and greps it).
This is the second line: every log record made in the process passes through redact() before any handler sees it,
so a secret that slips into a message anyway (a URL with ?access_token= in a library's debug line or an exception,
an Authorization header, a database URL with its password, a configured secret) comes out as [redacted].

It is a LogRecord factory rather than a handler filter so it covers every handler, including ones added later
(gunicorn's access log, pytest's capture), and it runs only for records that pass the level check.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"

# Settings whose values are secrets (or contain one: URLs with a password).
SECRET_SETTINGS = (
    "SECRET_KEY",
    "TOKEN_ENCRYPTION_KEYS",
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "GOOGLE_CLIENT_SECRET",
    "MICROSOFT_CLIENT_SECRET",
    "AI_API_KEY",
)
URL_SETTINGS = ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "ALERT_SMTP_URL", "RATELIMIT_STORAGE_URI")

# Names of parameters and fields that hold secrets (the names, not secrets).
_SECRET_NAMES = "|".join(
    (
        "access_token", "refresh_token", "id_token", "input_token", "fb_exchange_token", "client_secret",
        "app_secret", "appsecret_proof", r"hub\.verify_token", "verify_token", "signed_request", "password",
        "passwd", "api_key", "apikey", "secret", "code", "token",
    )
)  # fmt: skip
_PATTERNS = [
    # query strings and form bodies: ?access_token=…&code=…
    (re.compile(rf"(?i)([?&;](?:{_SECRET_NAMES})=)[^&\s\"'#<>]+"), rf"\1{REDACTED}"),
    # JSON, dict reprs and key=value text: "access_token": "…", 'password': '…', client_secret=…
    (
        re.compile(rf"(?i)([\"']?\b(?:{_SECRET_NAMES})[\"']?\s*[:=]\s*[\"'])[^\"']+([\"'])"),
        rf"\1{REDACTED}\2",
    ),
    # Authorization headers, and bearer tokens wherever they are quoted
    (re.compile(r"(?i)(\bAuthorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1 {REDACTED}"),
    # credentials in URLs: postgresql://user:password@host, smtp://user:password@host
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    # An invitation link's one-time token (chatpad.users, issue 16 item 8), in request lines and URLs.
    (re.compile(r"(/invite/)[A-Za-z0-9_\-]{16,}"), rf"\1{REDACTED}"),
    # A password reset link's signed token (chatpad.auth.reset, issue 22).
    (re.compile(r"(/reset/)[A-Za-z0-9_\-.]{16,}"), rf"\1{REDACTED}"),
    # Fernet tokens (what encrypted columns hold): not secret alone, but no use in a log either
    (re.compile(r"gAAAAA[A-Za-z0-9_\-]{40,}=*"), REDACTED),
    # The platforms' token shapes, wherever they stand: Meta (EAA…), Google (ya29.…, refresh 1//…), JWTs (eyJ…)
    (re.compile(r"\bEAA[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bya29\.[A-Za-z0-9_\-.]{10,}"), REDACTED),
    (re.compile(r"(?<![\w/])1//[A-Za-z0-9_\-]{10,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"), REDACTED),
]
# SQLAlchemy's DEBUG "Row (…)" lines print result rows after type processing: encrypted columns come out decrypted.
# No pattern can know a token's value, so those lines lose their values whatever the level someone debugs at.
_ROW_LOGGERS = ("sqlalchemy.engine",)

_lock = threading.Lock()
_known: set[str] = set()
_known_pattern: re.Pattern | None = None
_installed = False


def register_secrets(values: Iterable[str | None]) -> None:
    """Redact these exact values wherever they appear (short values are ignored: they would mangle ordinary text)."""
    global _known_pattern
    with _lock:
        added = {v for v in values if v and len(v) >= 8} - _known
        if not added:
            return
        _known.update(added)
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def secrets_in_config(config: Mapping[str, Any]) -> list[str]:
    """The secret values an app's config holds (each key of TOKEN_ENCRYPTION_KEYS separately)."""
    found: list[str] = []
    for name in SECRET_SETTINGS:
        value = config.get(name)
        if not value:
            continue
        found.append(str(value))
        if "," in str(value):
            found.extend(part.strip() for part in str(value).split(","))
    for name in URL_SETTINGS:
        match = re.match(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:([^\s@/]+)@", str(config.get(name) or ""))
        if match:
            found.append(match.group(1))
    return found


def redact(text: str) -> str:
    """The text with every known secret and secret-looking value replaced by [redacted]."""
    if not text:
        return text
    pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    if (
        record.levelno <= logging.DEBUG
        and record.name.startswith(_ROW_LOGGERS)
        and isinstance(record.msg, str)
        and record.msg.startswith("Row")
    ):
        record.msg, record.args = f"Row {REDACTED} (result rows may hold decrypted secrets)", None
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is the logging module's to report, not ours
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        cleaned = redact(text)
        if cleaned != text:
            record.exc_text = cleaned


def install_log_redaction(config: Mapping[str, Any]) -> None:
    """Register the config's secrets and, once per process, put redaction in front of every log record."""
    global _installed
    register_secrets(secrets_in_config(config))
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
