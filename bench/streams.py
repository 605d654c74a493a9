"""Streams beside webhooks and pages: the webhook ack rate and the admin's p95 with 0 and with 200 visitor event
streams open, each beside its floor measured in the same run and phase.

The processes as production and `make run` run them: gunicorn 2 workers x 8 threads serving wsgi:app (pages,
webhooks), the stream process (gunicorn's gevent worker serving wsgi:streams) holding the streams, and the floor
app (bench/floor.py) under the same gunicorn settings as wsgi:app:

- webhook acks: signed Meta webhook POSTs (each stored in webhook_events and enqueued) from 8 client threads for a few
  seconds, acks/s; floor: POST /floor/facebook (HMAC check + one RQ enqueue, nothing stored);
- admin p95: a signed-in owner's inbox page (/admin/inbox/), one request at a time; floor: GET /floor/page (a
  Jinja template rendered by a bare Flask app: what any page costs through gunicorn);
- with the 200 streams open (from 10 client addresses, 20 each: the default per-IP limit), the same four again,
  and what the streams hold: Redis connections and PostgreSQL connections of the whole stack.

Three rounds, 0 and 200 streams alternated (the machine is shared), medians reported.

Streams are opened at the URL the product gives a visitor (POST /session's stream_url). On the code before the
stream process, that was the web process itself: its 16 threads could hold 16 streams, and the 17th request waited.

`python -m bench streams`. Results: bench/results/streams.json; figures in docs/performance.md.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

import requests
from redis import Redis
from sqlalchemy import create_engine, text

from bench.common import (
    bench_env,
    flush_redis,
    free_port,
    local_app,
    redis_url,
    save,
    scratch_database,
    serve,
    sized,
    summary,
)
from bench.webhook_ack import APP_SECRET, PAGE_ID, bodies

ORIGIN = "https://bench.example.com"
STREAMS = sized(200, 6)
ADDRESSES = [f"127.0.1.{n}" for n in range(1, 11)]
EMAIL, PASSWORD = "owner@bench.example.com", "bench password 123"  # noqa: S105 (a scratch database's user)
ACK_SECONDS = sized(5, 1)
ACK_THREADS = 8
PAGE_REQUESTS = sized(60, 5)
ROUNDS = sized(3, 1)


def _seed(app) -> str:
    """An organization with an owner, a Facebook Page (the webhooks' recipient) and a web widget; returns its key."""
    from chatpad.channels.widget.settings import new_widget_key
    from chatpad.extensions import db
    from chatpad.models import Agent, Location, Organization, SocialAccount, User

    with app.app_context():
        org = Organization(name="Bench")
        db.session.add(org)
        db.session.flush()
        user = User(organization_id=org.id, email=EMAIL, role="owner", name="Bench Owner")
        user.set_password(PASSWORD)
        agent = Agent(organization_id=org.id, name="Bench agent")
        db.session.add_all([user, agent])
        db.session.flush()
        location = Location(agent_id=agent.id, name="Bench Lake", timezone="America/Chicago", hours={})
        db.session.add(location)
        db.session.flush()
        key = new_widget_key()
        db.session.add_all(
            [
                SocialAccount(
                    agent_id=agent.id,
                    location_id=location.id,
                    channel="facebook",
                    account_id=PAGE_ID,
                    account_name="Bench Page",
                    access_token="bench-page-token-" + secrets.token_hex(4),
                ),
                SocialAccount(
                    agent_id=agent.id,
                    location_id=location.id,
                    channel="widget",
                    account_id=key,
                    account_name="Widget • bench.example.com",
                    meta={"allowed_origins": [ORIGIN]},
                ),
            ]
        )
        db.session.commit()
        return key


def _ack_rate(url: str, path: str, items: list[tuple[bytes, dict]]) -> dict:
    """Signed webhook POSTs from ACK_THREADS threads for ACK_SECONDS: acks/s, and any non-200."""
    counts = {"ok": 0, "other": 0}
    lock = threading.Lock()
    stop = time.monotonic() + ACK_SECONDS
    cursor = iter(range(10**9))

    def client() -> None:
        http = requests.Session()
        while time.monotonic() < stop:
            body, headers = items[next(cursor) % len(items)]
            answer = http.post(url + path, data=body, headers={"Content-Type": "application/json", **headers})
            with lock:
                counts["ok" if answer.status_code == 200 else "other"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(ACK_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": counts["ok"] / (time.monotonic() - started), "non_200": counts["other"]}


def _page_p95(session: requests.Session, url: str) -> dict:
    took = []
    for _ in range(PAGE_REQUESTS):
        start = time.perf_counter()
        answer = session.get(url, timeout=60)
        took.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (url, answer.status_code)
    return summary(took)


def _signed_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(f"{base}/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    assert answer.ok and "/login" not in answer.url, "could not sign in"
    return session


class _RawStream:
    """A visitor's EventSource on its own socket, from one of ADDRESSES."""

    def __init__(self, url: str, source: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60, source_address=(source, 0))
        self.sock.sendall(
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nOrigin: {ORIGIN}\r\n\r\n".encode()
        )
        self.received = b""

    def wait_ready(self, deadline: float) -> bool:
        while b"event: ready" not in self.received:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            if not chunk:
                return False
            self.received += chunk
        return self.received.startswith(b"HTTP/1.1 200")

    def close(self) -> None:
        self.sock.close()


def _open_streams(base: str, key: str) -> list[_RawStream]:
    streams = []
    for n in range(STREAMS):
        source = ADDRESSES[n % len(ADDRESSES)]
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
        conn.request("POST", f"/api/widget/{key}/session", body=b"{}", headers={"Origin": ORIGIN})
        session = json.loads(conn.getresponse().read())
        conn.close()
        streams.append(_RawStream(session["stream_url"], source))
    deadline = time.monotonic() + 120
    ready = sum(s.wait_ready(deadline) for s in streams)
    if ready != STREAMS:
        raise SystemExit(f"only {ready} of {STREAMS} streams opened")
    return streams


def _connections(engine, db_name: str) -> dict:
    """PostgreSQL connections of the whole stack by state (a stream holding one mid-transaction would show as
    "idle in transaction"), and Redis clients."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity WHERE datname = :d GROUP BY 1"),
            {"d": db_name},
        ).all()
    states = {state: int(n) for state, n in rows}
    return {
        "postgresql": sum(states.values()),
        "postgresql_idle_in_transaction": states.get("idle in transaction", 0),
        "redis": len(Redis.from_url(redis_url()).client_list()),
    }


def _wait_streams_gone(timeout: float = 60) -> None:
    """Closed streams end at their next heartbeat; wait until no lease is left, so the next round starts clean."""
    redis = Redis.from_url(redis_url())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(redis.zcard(k) for k in redis.scan_iter("chatpad:streams:ip:*")):
            return
        time.sleep(0.5)
    raise SystemExit("closed streams still hold their slots")


def _phase(urls: dict, items, admin: requests.Session) -> dict:
    """The four measurements, floor and ours alternated."""
    return {
        "floor_ack": _ack_rate(urls["floor"], "/floor/facebook", items),
        "ack": _ack_rate(urls["web"], "/api/webhooks/facebook", items),
        "floor_page": _page_p95(requests.Session(), urls["floor"] + "/floor/page"),
        "admin_page": _page_p95(admin, urls["web"] + "/admin/inbox/"),
    }


def main() -> dict:
    items = bodies(sized(4000, 50))
    flush_redis()
    with scratch_database() as db_url:
        app = local_app(db_url)
        key = _seed(app)
        streams_port = free_port()
        env = bench_env(
            db_url,
            redis_url(),
            META_APP_SECRET=APP_SECRET,
            META_APP_ID="1",
            META_VERIFY_TOKEN="x",
            STREAMS_PORT=str(streams_port),
            RATELIMIT_ENABLED="false",
            WIDGET_HEARTBEAT_SECONDS="2",  # closed streams end within 2 s, between rounds
        )
        engine = create_engine(db_url)
        db_name = urlsplit(db_url).path.lstrip("/")
        with (
            serve("bench.floor:app", env, threads=8) as floor,
            serve("wsgi:app", env, threads=8) as web,
            serve("wsgi:streams", env, port=streams_port),
        ):
            urls = {"floor": floor, "web": web}
            admin = _signed_in(web)
            _ack_rate(floor, "/floor/facebook", items[:200])  # warm up
            _ack_rate(web, "/api/webhooks/facebook", items[:200])
            _page_p95(admin, web + "/admin/inbox/")
            idle = _connections(engine, db_name)
            without, with_streams = [], []
            for _ in range(ROUNDS):  # alternated, so the machine's other load hits both alike
                without.append(_phase(urls, items, admin))
                streams = _open_streams(web, key)
                held = _connections(engine, db_name)
                try:
                    with_streams.append(_phase(urls, items, admin))
                    still = _connections(engine, db_name)
                finally:
                    for stream in streams:
                        stream.close()
                _wait_streams_gone()
        engine.dispose()

    def row(phases: list[dict]) -> dict:
        def med(name: str, key: str) -> float:
            return statistics.median(p[name][key] for p in phases)

        return {
            "ack_rps": med("ack", "rps"),
            "floor_ack_rps": med("floor_ack", "rps"),
            "ack_ratio": statistics.median(p["ack"]["rps"] / p["floor_ack"]["rps"] for p in phases),
            "ack_non_200": sum(p["ack"]["non_200"] for p in phases),
            "admin_p95_ms": med("admin_page", "p95"),
            "floor_page_p95_ms": med("floor_page", "p95"),
            "admin_p50_ms": med("admin_page", "p50"),
            "rounds": [
                {
                    "ack_rps": p["ack"]["rps"],
                    "floor_ack_rps": p["floor_ack"]["rps"],
                    "admin_p95_ms": p["admin_page"]["p95"],
                }
                for p in phases
            ],
        }

    result = {
        "server": "wsgi:app gunicorn 2 workers x 8 threads; wsgi:streams gevent 1 worker; floor app 2 x 8",
        "rounds": ROUNDS,
        "streams": STREAMS,
        "without_streams": row(without),
        "with_streams": row(with_streams),
        "connections": {"before": idle, "streams_open": held, "after_load_with_streams": still},
    }
    print(f"streams beside webhooks and pages ({result['server']}; medians of {ROUNDS} alternated rounds)")
    for label, r in (("0 streams", result["without_streams"]), (f"{STREAMS} streams", result["with_streams"])):
        print(
            f"  {label:>11}: webhook acks {r['ack_rps']:6.0f}/s (floor {r['floor_ack_rps']:6.0f}/s, "
            f"{r['ack_ratio']:.2f}x, {r['ack_non_200']} non-200); admin inbox p95 {r['admin_p95_ms']:6.1f} ms "
            f"(floor page p95 {r['floor_page_p95_ms']:5.1f} ms)"
        )
    c = result["connections"]
    print(
        f"  connections: Redis {c['before']['redis']} -> {c['streams_open']['redis']} with {STREAMS} streams open; "
        f"PostgreSQL {c['before']['postgresql']} -> {c['streams_open']['postgresql']} "
        f"(after load {c['after_load_with_streams']['postgresql']}; idle in transaction: "
        f"{c['streams_open']['postgresql_idle_in_transaction']})"
    )
    save("streams", result)
    return result


if __name__ == "__main__":
    main()
