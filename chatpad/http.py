"""Pooled HTTP sessions for the platform clients (Graph API, the AI endpoint) and the sandbox's webhook sender.

requests reads the proxy and CA-bundle variables of the environment on every call (`trust_env`): it walks all of
os.environ twice per request, in Python, holding the GIL (about a tenth of an AI job's cProfile, bench/stage_cpu.py).
The environment does not change while a worker runs, so `PooledSession` reads those settings once per origin
(scheme, host, port) and then reuses them: HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE behave exactly as with a
plain session.
"""

from __future__ import annotations

import email.utils
import json
import os
import uuid
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.util.retry import Retry
from werkzeug.routing import IntegerConverter


class PooledSession(requests.Session):
    """A requests.Session with a connection pool of a given size that reads the environment once per origin."""

    def __init__(self, pool_maxsize: int, max_retries: Retry | int = 0) -> None:
        super().__init__()
        self.trust_env = False  # the environment is merged below, from the cache (netrc is not consulted)
        self._environment: dict[tuple[str, str], tuple[dict[str, str], str | None]] = {}
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=max_retries)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict:
        """What requests.Session does with trust_env, from a per-origin cache of the environment. (A per-call
        proxies["no_proxy"] is read on an origin's first call only: none of ChatPad's callers passes one.)"""
        origin = urlsplit(url)[:2]
        settings = self._environment.get(origin)
        if settings is None:
            no_proxy = proxies.get("no_proxy") if proxies else None
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            settings = self._environment[origin] = (get_environ_proxies(url, no_proxy=no_proxy), bundle)
        env_proxies, bundle = settings
        proxies = dict(proxies or {})
        for scheme, proxy in env_proxies.items():
            proxies.setdefault(scheme, proxy)
        if (verify is True or verify is None) and bundle:
            verify = bundle
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- Reading what a client sent: one reader per kind of input, each refusing what it cannot take ---------------------
#
# Bad input is the client's mistake and answers 4xx, never 500 (GUIDE). These readers raise ValueError (or return
# None) for anything out of bounds, so a caller turns one exception into its 400/404/422: JSON nested deeper than
# any platform sends (json's recursion would otherwise end in RecursionError), a date outside the years this product
# can show (date(9999, 12, 31) + one day is an OverflowError), an integer beyond what the database stores (a 20-digit
# page number becomes an OFFSET PostgreSQL refuses), an id that is not a UUID.

MAX_JSON_DEPTH = 64  # Meta's deepest payloads are about 8 levels; the widget's 2
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)
MAX_INT = 2**31 - 1  # PostgreSQL integer; also far past any page, port or count a form takes


def loads_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads, refusing a document nested deeper than max_depth with ValueError (json.JSONDecodeError and
    UnicodeDecodeError are ValueErrors too)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ValueError(f"the JSON is nested more than {max_depth} levels deep") from None
    if json_depth(data) > max_depth:
        raise ValueError(f"the JSON is nested more than {max_depth} levels deep")
    return data


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def parse_uuid(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID; None when it is not one (a typed-in garbage id is simply not found)."""
    if isinstance(value, uuid.UUID):
        return value
    if value is None:
        return None
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, TypeError, AttributeError):
        return None


def parse_day(value: str) -> date:
    """A YYYY-MM-DD day between FIRST_DAY and LAST_DAY; ValueError otherwise."""
    day = date.fromisoformat(str(value).strip())
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{day.isoformat()} is outside {FIRST_DAY.year}-{LAST_DAY.year}")
    return day


def bounded_int(value: Any, *, low: int = 0, high: int = MAX_INT, default: int | None = None) -> int:
    """``value`` as an integer within [low, high]; ``default`` when it is empty; ValueError otherwise (digits only,
    at most 18 of them, so "1e9999" or a thousand digits never reach int())."""
    text = "" if value is None else str(value).strip()
    if not text:
        if default is None:
            raise ValueError("a number is required")
        return default
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > 18:
        raise ValueError(f"{text[:30]!r} is not a number")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{number} is not between {low} and {high}")
    return number


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, read through loads_json: request.get_json() (Flask-WTF reads a JSON body into any form) refuses a
    document nested too deep with Flask's 400 instead of a RecursionError's 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_json(s)


def _has_nul(values) -> bool:
    return any("\x00" in value for value in values)


def init_input_limits(app: Flask) -> None:
    """Install the app-wide input rules: the bounded JSON reader, and a 400 for a NUL character in any query
    argument or form field (PostgreSQL cannot store one in text, so every route that saved or searched it failed)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.json_provider_class = BoundedJSONProvider
    app.json = BoundedJSONProvider(app)

    @app.before_request
    def _refuse_nul() -> None:
        if _has_nul(request.args.keys()) or _has_nul(request.args.values()):
            abort(400, description="A query argument holds a NUL character.")
        if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            if _has_nul(request.form.keys()) or _has_nul(request.form.values()):
                abort(400, description="A form field holds a NUL character.")


MAX_BIGINT = 2**63 - 1


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` in a route: digits up to PostgreSQL's bigint (a larger id cannot exist: 404, not the database's
    'bigint out of range' 500)."""

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_BIGINT)
        super().__init__(map, *args, **kwargs)
