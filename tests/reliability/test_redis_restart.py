"""Redis killed and started again (empty: no persistence) in the middle of a burst of webhooks. The app, the
workers and the scheduler are the real processes, all on a private redis-server of this test's own; the machine's
shared Redis is never touched.

While Redis is down the webhook still answers 200 (the event is in the database); once it is back, the dispatchers
and the sweeper put everything Redis forgot — announced ids, queued jobs, scheduled retries — back on the queues.
"""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from tests.plugins.reliability import is_postgresql, wait_until

from .conftest import db_counts, duplicate_sends, queues_idle, sends_by_recipient, unanswered

pytestmark = pytest.mark.slow

CUSTOMERS = 40
OUTAGE_SECONDS = 5


def test_every_event_is_processed_after_redis_comes_back(
    app, db, database_url, private_redis, forge, meta_sandbox, stack
):
    """A burst of 40 customers with Redis down for five seconds in the middle: every webhook is acknowledged on its
    first delivery, and once Redis is back every message is stored and answered, none twice."""
    if not is_postgresql(database_url):
        pytest.skip("several processes writing at once need PostgreSQL (set DATABASE_URL)")
    stack.env["REDIS_URL"] = private_redis.url
    url = stack.app()
    meta_sandbox._call("PATCH", "settings", json={"webhook_urls": {"page": f"{url}/api/webhooks/facebook"}})
    stack.worker("worker-0", "inbound", "outbound", "default")
    stack.worker("worker-1", "inbound", "outbound", "default")
    stack.worker("ai", "ai")
    stack.scheduler()
    redis = Redis.from_url(private_redis.url)
    # Everything is up and working before the burst: the outage hits running processes.
    first = meta_sandbox.simulate(page=forge.page_id, sender="Early Bird", text="What are your hours?")
    wait_until(lambda: sends_by_recipient(meta_sandbox).get(first["psid"]), 60, stack.logs)

    results: list[dict] = []
    redis_down = threading.Event()

    def burst():
        for i in range(CUSTOMERS):
            sent = meta_sandbox.simulate(page=forge.page_id, sender=f"Burst {i:02d}", text="What are your hours?")
            results.append({**sent, "redis_down": redis_down.is_set()})
            time.sleep(0.1)

    sender = threading.Thread(target=burst, name="burst")
    sender.start()
    wait_until(lambda: len(results) >= 12, 60, "the burst did not start")
    private_redis.kill()
    redis_down.set()
    time.sleep(OUTAGE_SECONDS)  # longer than redis-py's own reconnection retries
    redis_down.clear()
    private_redis.start()
    sender.join(timeout=120)

    assert len(results) == CUSTOMERS
    during = [r for r in results if r["redis_down"]]
    assert len(during) >= 5, "the outage should cover part of the burst"
    for r in results:
        (delivery,) = r["deliveries"]
        assert delivery["attempts"][0]["status"] == 200, delivery  # acknowledged the first time, Redis or not

    psids = [first["psid"]] + [r["psid"] for r in results]

    def done():
        got = sends_by_recipient(meta_sandbox)
        return all(got.get(p) for p in psids) and not unanswered(db) and queues_idle(app, redis)

    wait_until(done, 120, lambda: f"{db_counts(db)}\n{stack.logs()}")
    counts = db_counts(db)
    assert counts["inbound"] == CUSTOMERS + 1
    assert set(counts["events"]) <= {"processed", "ignored"}, counts["events"]
    assert duplicate_sends(meta_sandbox) == 0
    assert all(proc.alive() for proc in stack.procs.values()), "every process rode out the outage"
