"""The web widget under load, through gunicorn (2 workers × 32 threads) on PostgreSQL and Redis:

- visitor messages: POST /api/widget/<key>/messages from many visitors at once — each one stored raw, ingested
  (contact, conversation, message) and its AI reply scheduled inside the request — messages/s and p50/p99;
- live delivery: with STREAMS visitors holding an open event stream on the stream process (gevent, wsgi:streams),
  the time from a reply's "sent" commit (the pipeline's send job) to the visitor's stream receiving it, p50/p99.

`python -m bench widget`. Results in bench/results/widget.json; numbers in docs/channels/widget.md.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin, urlsplit

import requests

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

ORIGIN = "https://bench.example.com"
VISITORS = sized(40, 3)
MESSAGES_EACH = sized(10, 2)
STREAMS = sized(50, 3)


def _seed(app) -> str:
    from chatpad.channels.widget.settings import new_widget_key
    from chatpad.extensions import db
    from chatpad.models import Agent, Location, Organization, SocialAccount

    with app.app_context():
        org = Organization(name="Bench")
        db.session.add(org)
        db.session.flush()
        agent = Agent(organization_id=org.id, name="Bench agent")
        db.session.add(agent)
        db.session.flush()
        location = Location(agent_id=agent.id, name="Bench Lake", timezone="America/Chicago", hours={})
        db.session.add(location)
        db.session.flush()
        key = new_widget_key()
        db.session.add(
            SocialAccount(
                agent_id=agent.id,
                location_id=location.id,
                channel="widget",
                account_id=key,
                account_name="Widget • bench.example.com",
                meta={"allowed_origins": [ORIGIN]},
            )
        )
        db.session.commit()
        return key


def _session(base: str, key: str) -> dict:
    response = requests.post(f"{base}/api/widget/{key}/session", json={}, headers={"Origin": ORIGIN}, timeout=10)
    response.raise_for_status()
    return response.json()


def _post_messages(base: str, key: str) -> tuple[list[float], float, int]:
    sessions = [_session(base, key) for _ in range(VISITORS)]

    def visitor(session: dict) -> list[float]:
        http = requests.Session()
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {session['token']}"}
        took = []
        for n in range(MESSAGES_EACH):
            start = time.perf_counter()
            response = http.post(
                f"{base}/api/widget/{key}/messages", json={"text": f"Question {n}?"}, headers=headers, timeout=30
            )
            took.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 201, response.text
        return took

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=VISITORS) as pool:
        latencies = [ms for chunk in pool.map(visitor, sessions) for ms in chunk]
    elapsed = time.perf_counter() - start
    return latencies, len(latencies) / elapsed, len(latencies)


class _Stream:
    """A minimal EventSource: records when each message event arrives."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=120)
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        conn.sock = self.sock
        conn.request("GET", f"{parts.path}?{parts.query}", headers={"Origin": ORIGIN})
        self.response = conn.getresponse()
        assert self.response.status == 200, self.response.status
        self.ready = threading.Event()
        self.arrivals: dict[str, float] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = None
        try:
            while True:
                line = self.response.readline()
                if not line:
                    return
                text = line.decode().rstrip("\r\n")
                if text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:") and event == "ready":
                    self.ready.set()
                elif text.startswith("data:") and event == "message":
                    data = json.loads(text[5:])
                    self.arrivals.setdefault(data["text"], time.perf_counter())
        except OSError:
            return

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _delivery(app, base: str, key: str) -> list[float]:
    from chatpad.extensions import db
    from chatpad.messages import OutboundReply
    from chatpad.models import Conversation
    from chatpad.pipeline import queue_reply
    from chatpad.pipeline.replies import send_messages

    visitors = []
    for n in range(STREAMS):
        session = _session(base, key)
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {session['token']}"}
        posted = requests.post(
            f"{base}/api/widget/{key}/messages", json={"text": f"Stream {n}"}, headers=headers, timeout=30
        ).json()
        visitors.append((session, posted["conversation"]["id"]))
    # The stream URL points at the stream process (another port here).
    streams = [_Stream(urljoin(base, session["stream_url"])) for session, _ in visitors]
    for stream in streams:
        assert stream.ready.wait(30), "a stream never became ready"
    sent_at: dict[str, float] = {}
    with app.app_context():
        for n, (_, conversation_id) in enumerate(visitors):
            conversation = db.session.get(Conversation, uuid.UUID(conversation_id))
            text = f"Reply {n}"
            rows = queue_reply(conversation, OutboundReply(text, sender_type="human"))
            send_messages([r.id for r in rows])  # the send job's work, here: commit "sent", publish
            sent_at[text] = time.perf_counter()
            time.sleep(0.02)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(f"Reply {n}" not in s.arrivals for n, s in enumerate(streams)):
        time.sleep(0.05)
    latencies = [
        (s.arrivals[f"Reply {n}"] - sent_at[f"Reply {n}"]) * 1000
        for n, s in enumerate(streams)
        if f"Reply {n}" in s.arrivals
    ]
    for stream in streams:
        stream.close()
    return latencies


def main() -> dict:
    flush_redis()
    with scratch_database() as db_url:
        app = local_app(db_url)
        key = _seed(app)
        # The AI's jobs wait (not measured here); short heartbeats let closed streams end before gunicorn stops.
        streams_port = free_port()
        env = bench_env(
            db_url,
            redis_url(),
            REPLY_DEBOUNCE_SECONDS="60",
            WIDGET_HEARTBEAT_SECONDS="2",
            STREAMS_PORT=str(streams_port),
            STREAMS_MAX_PER_IP=str(STREAMS),
        )
        with (
            serve("wsgi:app", env, workers=2, threads=32) as base,
            serve("wsgi:streams", env, port=streams_port),
        ):
            post_ms, per_second, total = _post_messages(base, key)
            delivery_ms = _delivery(app, base, key)
    result = {
        "server": "gunicorn 2 workers x 32 threads, PostgreSQL, Redis",
        "messages": {"visitors": VISITORS, "total": total, "per_second": per_second, **summary(post_ms)},
        "delivery": {"streams": STREAMS, "received": len(delivery_ms), **summary(delivery_ms)},
    }
    m, d = result["messages"], result["delivery"]
    print(f"widget ({result['server']})")
    print(
        f"  visitor messages: {m['per_second']:7.0f} msg/s from {VISITORS} visitors at once;"
        f" p50 {m['p50']:.1f} ms  p99 {m['p99']:.1f} ms (stored, ingested, reply scheduled)"
    )
    print(
        f"  live delivery, {STREAMS} open streams: {d['received']}/{STREAMS} received;"
        f" p50 {d['p50']:.1f} ms  p99 {d['p99']:.1f} ms from 'sent' commit to the visitor's stream"
    )
    save("widget", result)
    return result


if __name__ == "__main__":
    main()
