"""`python -m bench [name …]` (or `make bench`): run the benchmarks and print each figure beside its floor.

Needs PostgreSQL and Redis (DATABASE_URL / BENCH_REDIS_URL, default this machine's) and wrk for the HTTP ones.
Results are also written to bench/results/<name>.json. See docs/performance.md.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "webhook_ack": "bench.webhook_ack",
    "inbox": "bench.inbox",
    "ai_concurrency": "bench.ai_concurrency",
    "pipeline_e2e": "bench.pipeline_e2e",
    "email_sync": "bench.email_sync",
    "widget": "bench.widget",
    "connect_pages": "bench.connect_pages",
    "stage_cpu": "bench.stage_cpu",
    "streams": "bench.streams",
    "booking_slots": "bench.booking_slots",
    "retrieval": "bench.retrieval",
    "ai_eval": "bench.ai_eval",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        print(f"\n=== {name}")
        importlib.import_module(BENCHMARKS[name]).main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
