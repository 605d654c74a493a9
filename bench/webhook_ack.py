"""Webhook acknowledgement: deliveries/s and p50/p99 latency of /api/webhooks/facebook with 2 gunicorn workers,
against the floor (bench/floor.py: HMAC check + one RQ enqueue) in the same run. Every event must be stored.

Goal (issue 3): ≥ 1.0× the floor while storing every event durably.
"""

from __future__ import annotations

import json
import secrets
import time

from sqlalchemy import create_engine, text

from bench.common import bench_env, flush_redis, redis_url, save, scratch_database, serve, wrk
from chatpad.channels.meta.signature import sign_body

APP_SECRET = "bench-app-secret-" + secrets.token_hex(4)
PAGE_ID = "100000000000001"


def bodies(n: int = 2000) -> list[tuple[bytes, dict]]:
    out = []
    now = int(time.time() * 1000)
    for i in range(n):
        body = json.dumps(
            {
                "object": "page",
                "entry": [
                    {
                        "id": PAGE_ID,
                        "time": now + i,
                        "messaging": [
                            {
                                "sender": {"id": f"{7000000000000000 + i % 50}"},
                                "recipient": {"id": PAGE_ID},
                                "timestamp": now + i,
                                "message": {"mid": f"m_bench_{i}_{secrets.token_hex(6)}", "text": f"Hello {i}"},
                            }
                        ],
                    }
                ],
            }
        ).encode()
        out.append((body, sign_body(body, APP_SECRET)))
    return out


def lua_script(path: str, items: list[tuple[bytes, dict]]) -> str:
    lines = ["local reqs = {}"]
    for body, headers in items:
        hdr = "".join(f'["{k}"]="{v}",' for k, v in headers.items())
        lines.append(
            f"reqs[#reqs+1] = wrk.format('POST', '{path}', {{{hdr}['Content-Type']='application/json'}}, "
            f"[=[{body.decode()}]=])"
        )
    lines += ["local i = 0", "request = function() i = (i % #reqs) + 1 return reqs[i] end"]
    return "\n".join(lines)


def main(seconds: int = 10) -> dict:
    items = bodies()
    with scratch_database() as db_url:
        env = bench_env(db_url, redis_url(), META_APP_SECRET=APP_SECRET, META_APP_ID="1", META_VERIFY_TOKEN="x")
        flush_redis()
        with serve("bench.floor:app", env) as url:
            wrk(url, lua_script("/floor/facebook", items[:50]), seconds=2)  # warm up
            floor = wrk(url, lua_script("/floor/facebook", items), seconds=seconds)
        flush_redis()
        with serve("wsgi:app", env) as url:
            wrk(url, lua_script("/api/webhooks/facebook", items[:50]), seconds=2)
            engine = create_engine(db_url)
            with engine.begin() as conn:
                before = conn.execute(text("SELECT count(*) FROM webhook_events")).scalar()
            ours = wrk(url, lua_script("/api/webhooks/facebook", items), seconds=seconds)
            with engine.begin() as conn:
                stored = conn.execute(text("SELECT count(*) FROM webhook_events")).scalar() - before
            engine.dispose()
    answered = ours["requests"] - ours["errors"]
    result = {
        "floor": {k: v for k, v in floor.items() if k != "raw"},
        "ours": {k: v for k, v in ours.items() if k != "raw"},
        "ratio": ours["rps"] / floor["rps"],
        "stored": stored,
        "answered_200": answered,
    }
    print("webhook ack (2 gunicorn workers, wrk 32 connections)")
    print(
        f"  floor (HMAC + RQ enqueue): {floor['rps']:8.0f} req/s  p50 {floor['p50']:.2f} ms  p99 {floor['p99']:.2f} ms"
    )
    print(f"  /api/webhooks/facebook:    {ours['rps']:8.0f} req/s  p50 {ours['p50']:.2f} ms  p99 {ours['p99']:.2f} ms")
    print(f"  ratio {result['ratio']:.2f}x (goal >= 1.0); stored {stored} of {answered} acknowledged (must be equal)")
    save("webhook_ack", result)
    return result


if __name__ == "__main__":
    main()
