"""Slowing repeated failed sign-ins: counters in Redis per address and per client IP."""

from __future__ import annotations

from flask import current_app

from chatpad.queue import get_redis


def _keys(email: str, ip: str) -> list[str]:
    return [f"chatpad:login-fail:email:{email.lower()}", f"chatpad:login-fail:ip:{ip}"]


def seconds_locked(email: str, ip: str) -> int:
    """How long this address or IP must wait before trying again (0: may try now)."""
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    redis = get_redis()
    wait = 0
    for key in _keys(email, ip):
        count = int(redis.get(key) or 0)
        # Each address gets LOGIN_MAX_FAILURES tries; an IP (many addresses) gets four times as many.
        allowed = limit if ":email:" in key else limit * 4
        if count >= allowed:
            wait = max(wait, redis.ttl(key))
    return max(wait, 0)


def record_failure(email: str, ip: str) -> None:
    window = current_app.config["LOGIN_FAILURE_WINDOW"]
    redis = get_redis()
    for key in _keys(email, ip):
        # The window starts at the first failure (EXPIRE NX needs Redis 7; the embedded server is 6.2).
        if redis.incr(key) == 1:
            redis.expire(key, window)


def clear_failures(email: str) -> None:
    get_redis().delete(f"chatpad:login-fail:email:{email.lower()}")
