"""Stage CPU: what one Messenger customer's message costs each pipeline stage, in the worker's own CPU time, SQL
statements, transactions and Redis commands — measured one stage at a time, in this process, so the figures hold
still on a busy machine (the end-to-end benchmarks swing ±15% here; these do not).

The setup is the real one: a scratch PostgreSQL database with the demo business, the sandbox's Meta and model
(latency 0) and the app under gunicorn. New customers write to five demo Pages; their webhooks are stored and wait
in the messages lane. Then, with nothing else running, this process takes the stages in turn as the threaded worker
would: the inbound events in batches of EVENTS_PER_JOB (jobs.inbound.process_events), the AI jobs (RQ's
Job.perform: context, model call, reply stored and sent from the Page), the receipts the sandbox posted back for
those replies (echoes and deliveries, RECEIPTS_PER_BATCH at a time), then a second message from each customer (a
returning customer: contact and conversation exist). No floor: the numbers are for comparing one commit with another
(docs/performance.md).
"""

from __future__ import annotations

import cProfile
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from redis import Redis
from sqlalchemy import event

from bench.common import (
    PYTHON,
    RESULTS,
    bench_env,
    flush_redis,
    free_port,
    redis_url,
    run,
    save,
    scratch_database,
    serve,
    sized,
)
from chatpad import demo_data as D

CUSTOMERS = sized(100, 3)
RETURNING_ROUNDS = sized(3, 1)  # the returning customer's figure is the median of these rounds
PAGES = [D.page_id(loc) for loc in D.LOCATIONS[:5]]


class Meter:
    """CPU time (all of this process's threads), SQL statements, transactions and Redis commands over a block."""

    def __init__(self, engine, redis: Redis) -> None:
        self.statements = 0
        self.transactions = 0
        self.redis = redis
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, *args) -> None:
        self.statements += 1

    def _commit(self, *args) -> None:
        self.transactions += 1

    def _redis_commands(self) -> int:
        return int(self.redis.info("stats")["total_commands_processed"])

    def measure(self, name: str, items: int, work) -> dict:
        profile = os.environ.get("STAGE_PROFILE")  # a folder: each stage's cProfile stats are written there
        profiler = cProfile.Profile(time.thread_time) if profile else None
        if profiler:
            profiler.enable()
        before = (time.process_time(), time.perf_counter(), self.statements, self.transactions, self._redis_commands())
        work()
        after = (time.process_time(), time.perf_counter(), self.statements, self.transactions, self._redis_commands())
        if profiler:
            profiler.disable()
            Path(profile).mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(Path(profile) / (name.replace(" ", "_").replace(":", "") + ".prof"))
        cpu, wall, stmts, txns, cmds = (b - a for a, b in zip(before, after, strict=True))
        result = {
            "items": items,
            "cpu_ms": 1000 * cpu / items,
            "wall_ms": 1000 * wall / items,
            "statements": stmts / items,
            "transactions": txns / items,
            "redis_commands": (cmds - 2) / items,  # less this meter's own two INFO calls
        }
        print(
            f"  {name:<28} {result['cpu_ms']:6.1f} ms CPU  {result['wall_ms']:6.1f} ms wall  "
            f"{result['statements']:5.1f} SQL  {result['transactions']:4.1f} commits  "
            f"{result['redis_commands']:5.1f} Redis commands  per message ({items})"
        )
        return result


def _write(sandbox: str, tag: str, i: int, text: str) -> None:
    response = requests.post(
        f"{sandbox}/sandbox-api/meta/simulate",
        json={"page": PAGES[i % len(PAGES)], "from": f"Stage Customer {tag}{i}", "text": text},
        timeout=60,
    )
    response.raise_for_status()


def _wait_for(redis: Redis, key: str, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while redis.llen(key) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {redis.llen(key)} of {count} events arrived in {key}")
        time.sleep(0.1)
    time.sleep(0.5)  # stragglers of the same kind (a delivery receipt batches several messages)


def main() -> dict:
    """Run the stages once and print each one's cost per customer message."""
    sandbox_port = free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    results: dict[str, list[dict]] = {}
    with scratch_database() as db_url:
        flush_redis()
        env = bench_env(
            db_url,
            redis_url(),
            SANDBOX_PORT=str(sandbox_port),
            AI_PROVIDER="openai",
            AI_BASE_URL=f"{sandbox}/openai/v1",
            AI_API_KEY="sk-bench",
            REPLY_DEBOUNCE_SECONDS="0",
        )
        run([PYTHON, "-m", "flask", "--app", "app", "chatpad", "demo"], env)
        sandbox_proc = subprocess.Popen(  # noqa: S603
            [PYTHON, "-m", "chatpad.sandbox", "--port", str(sandbox_port)], env=env, stdout=subprocess.DEVNULL
        )
        try:
            with serve("wsgi:app", env, workers=2, threads=8) as web:
                # The stages run in a process of their own: the app's configuration is read from its environment.
                out = RESULTS / "stage_cpu.inner.json"
                subprocess.run(  # noqa: S603
                    [PYTHON, "-m", "bench.stage_cpu", "--stages", sandbox, web, str(out)], env=env, check=True
                )
                results = json.loads(out.read_text())
                out.unlink()
        finally:
            sandbox_proc.terminate()
            sandbox_proc.wait(timeout=20)
    save("stage_cpu", results)
    return results


def _stages(sandbox: str, web: str) -> dict[str, list[dict]]:
    from chatpad.extensions import db
    from chatpad.queue import get_redis
    from jobs import get_app

    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{sandbox}/openai/", timeout=1)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise SystemExit("the sandbox did not come up") from None
            time.sleep(0.2)
    requests.patch(
        f"{sandbox}/sandbox-api/meta/settings",
        json={"webhook_urls": {"page": f"{web}/api/webhooks/facebook"}},
        timeout=10,
    ).raise_for_status()
    requests.post(f"{sandbox}/openai/_control", json={"latency": 0}, timeout=5).raise_for_status()

    app = get_app()
    with app.app_context():
        return _run_stages(sandbox, db.engine, get_redis())


def _run_stages(sandbox: str, engine, redis: Redis) -> dict[str, list[dict]]:
    from rq import Queue
    from rq.job import Job

    from chatpad.lanes import EVENTS_PER_JOB, PENDING_KEY, RECEIPTS_KEY, RECEIPTS_PER_BATCH, pop_pending
    from jobs.inbound import process_events

    meter = Meter(engine, redis)
    ai = Queue("ai", connection=redis)

    def inbound() -> None:
        ids = pop_pending(CUSTOMERS, lanes=(PENDING_KEY,))
        for start in range(0, len(ids), EVENTS_PER_JOB):
            process_events(ids[start : start + EVENTS_PER_JOB])

    def replies() -> None:
        for job_id in ai.get_job_ids():
            Job.fetch(job_id, connection=redis).perform()
        ai.empty()

    def receipts() -> None:
        while ids := pop_pending(RECEIPTS_PER_BATCH, lanes=(RECEIPTS_KEY,)):
            process_events(ids)

    results: dict[str, list[dict]] = {}
    print(f"Stage CPU ({CUSTOMERS} Messenger customers, one stage at a time, in one process)")
    rounds = [("new customer", "Any 3 bedroom homes?")] + [("returning customer", "And pets?")] * RETURNING_ROUNDS
    for round_name, text in rounds:
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda i, t=text: _write(sandbox, "s", i, t), range(CUSTOMERS)))
        _wait_for(redis, PENDING_KEY, CUSTOMERS)
        for stage, work in (("inbound", inbound), ("AI job", replies), ("receipts", receipts)):
            if stage == "receipts":
                _wait_for(redis, RECEIPTS_KEY, CUSTOMERS)
            name = f"{round_name}: {stage}"
            items = ai.count if stage == "AI job" else CUSTOMERS
            results.setdefault(name, []).append(meter.measure(name, items, work))
    print("  median CPU per message:")
    for name, runs in results.items():
        print(f"    {name:<30} {statistics.median(r['cpu_ms'] for r in runs):6.1f} ms")
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stages"]:
        Path(sys.argv[4]).write_text(json.dumps(_stages(sys.argv[2], sys.argv[3])))
    else:
        main()
