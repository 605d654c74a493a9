"""Webhook acknowledgement: deliveries/s and p50/p99 latency of /api/webhooks/facebook with 2 gunicorn workers,
against the floor (bench/floor.py: HMAC check + one RQ enqueue) in the same run. Every event must be stored.

Goal (issue 3): ≥ 1.0× the floor while storing every event durably.
"""

from __future__ import annotations

import json
import secrets
import statistics
import time

from sqlalchemy import create_engine, text

from bench.common import bench_env, flush_redis, redis_url, save, scratch_database, serve, sized, wrk
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


def main(seconds: int = sized(8, 1), rounds: int = sized(3, 1), threads: int = 8) -> dict:
    """Alternate floor and ours `rounds` times (so background load hits both alike) and compare medians."""
    items = bodies()
    floor_runs, our_runs, stored, answered = [], [], 0, 0
    with scratch_database() as db_url:
        env = bench_env(db_url, redis_url(), META_APP_SECRET=APP_SECRET, META_APP_ID="1", META_VERIFY_TOKEN="x")
        engine = create_engine(db_url)
        with (
            serve("bench.floor:app", env, threads=threads) as floor_url,
            serve("wsgi:app", env, threads=threads) as url,
        ):
            floor_lua = lua_script("/floor/facebook", items)
            our_lua = lua_script("/api/webhooks/facebook", items)
            wrk(floor_url, floor_lua, seconds=sized(2, 1))  # warm up both
            wrk(url, our_lua, seconds=sized(2, 1))
            for _ in range(rounds):
                flush_redis()
                floor_runs.append(wrk(floor_url, floor_lua, seconds=seconds))
                with engine.begin() as conn:
                    before = conn.execute(text("SELECT count(*) FROM webhook_events")).scalar()
                run = wrk(url, our_lua, seconds=seconds)
                time.sleep(0.5)  # let in-flight requests finish before counting
                with engine.begin() as conn:
                    stored += conn.execute(text("SELECT count(*) FROM webhook_events")).scalar() - before
                answered += run["requests"] - run["errors"]
                our_runs.append(run)
        engine.dispose()

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    floor = {k: med(floor_runs, k) for k in ("rps", "p50", "p99")}
    ours = {k: med(our_runs, k) for k in ("rps", "p50", "p99")}
    errors = sum(r["errors"] for r in our_runs)
    result = {
        "server": f"gunicorn 2 workers x {threads} threads; wrk 2 threads, 32 connections, {rounds}x{seconds}s each",
        "floor": floor,
        "ours": ours,
        "ratio": ours["rps"] / floor["rps"],
        "stored": stored,
        "answered_200": answered,
        "non_2xx": errors,
    }
    print(f"webhook ack ({result['server']}; medians)")
    line = "  {:<26} {:7.0f} req/s  p50 {:6.2f} ms  p99 {:6.2f} ms"
    print(line.format("floor (HMAC + RQ enqueue):", floor["rps"], floor["p50"], floor["p99"]))
    print(line.format("/api/webhooks/facebook:", ours["rps"], ours["p50"], ours["p99"]))
    print(f"  ratio {result['ratio']:.2f}x (goal >= 1.0)")
    print(
        f"  durability: {stored} events stored for {answered} acknowledged (stored >= acknowledged), {errors} non-2xx"
    )
    save("webhook_ack", result)
    return result


if __name__ == "__main__":
    main()
