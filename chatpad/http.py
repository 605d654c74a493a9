"""Pooled HTTP sessions for the platform clients (Graph API, the AI endpoint) and the sandbox's webhook sender.

requests reads the proxy and CA-bundle variables of the environment on every call (`trust_env`): it walks all of
os.environ twice per request, in Python, holding the GIL (about a tenth of an AI job's cProfile, bench/stage_cpu.py).
The environment does not change while a worker runs, so `PooledSession` reads those settings once per origin
(scheme, host, port) and then reuses them: HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE behave exactly as with a
plain session.
"""

from __future__ import annotations

import email.utils
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.util.retry import Retry


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
