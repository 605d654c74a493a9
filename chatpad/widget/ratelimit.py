"""Rate limits of the visitor API: per visitor, per widget and per client IP, counted in the app's Redis.

Built on the `limits` library (what Flask-Limiter uses underneath) rather than Flask-Limiter's decorators: the keys
are the widget and the visitor from the signed token, known only inside the view, and the limits are read from
config on each request. RATELIMIT_ENABLED off turns them off, as it does Flask-Limiter's.
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger("chatpad.widget.ratelimit")


class RateLimited(Exception):
    """Too many requests: answer 429 with Retry-After."""

    def __init__(self, scope: str, retry_after: int):
        super().__init__(scope)
        self.scope = scope
        self.retry_after = retry_after


def _limiter() -> SlidingWindowCounterRateLimiter:
    ext = current_app.extensions
    limiter = ext.get("chatpad.widget.limiter")
    if limiter is None:
        storage = storage_from_string(current_app.config["RATELIMIT_STORAGE_URI"], key_prefix="chatpad-widget")
        limiter = SlidingWindowCounterRateLimiter(storage)
        ext["chatpad.widget.limiter"] = limiter
    return limiter


def _items(setting: str) -> list[RateLimitItem]:
    value = current_app.config.get(setting)
    return parse_many(value) if value else []


def hit(setting: str, *identifiers: str) -> None:
    """Count one request against every limit in config[setting]; raise RateLimited when one is exceeded.

    Fails open when Redis is unreachable: the message is still validated and stored, and the outage is logged."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    items = _items(setting)
    if not items:
        return
    limiter = _limiter()
    try:
        for item in items:
            if not limiter.hit(item, setting, *identifiers):
                reset_at, _remaining = limiter.get_window_stats(item, setting, *identifiers)
                retry_after = max(1, math.ceil(reset_at - time.time()))
                raise RateLimited(setting, retry_after)
    except RateLimited:
        raise
    except Exception:  # Redis down: availability over strictness, loudly
        log.warning("widget rate limit %s could not be checked", setting, exc_info=True)
