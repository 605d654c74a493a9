"""Workers SIGKILLed at random moments while 100 customers write: every message stored once and answered, and no
more duplicate sends at Meta than there were kills.

The processes are the ones operators run — two `python -m jobs.worker inbound outbound default` (fork workers with
their dispatcher threads), one `python -m jobs.worker ai` (threaded) and `python -m jobs.scheduler` (the sweeper) —
and a kill takes the whole process group, work horse included, as a dying container would. Each killed worker is
started again at once, as a process manager would. The random delays come from a seed printed at the start:
CHATPAD_KILL_SEED=<seed> replays a run.
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
from sqlalchemy import select

from chatpad.models import Message
from tests.plugins.reliability import is_postgresql, wait_until

from .conftest import db_counts, duplicate_sends, queues_idle, sends_by_recipient, unanswered

pytestmark = pytest.mark.slow

CUSTOMERS = 100
MAX_KILLS = 10


def test_workers_killed_at_random_lose_nothing_and_send_twice_at_most_once_per_kill(
    app, db, database_url, forge, meta_sandbox, stack
):
    """100 customers write while workers are SIGKILLed at random points: all 100 messages are stored once, every
    customer is answered, and Meta receives at most one duplicate per kill."""
    if not is_postgresql(database_url):
        pytest.skip("several worker processes writing at once need PostgreSQL (set DATABASE_URL)")
    seed = int(os.environ.get("CHATPAD_KILL_SEED") or random.randrange(1_000_000))
    print(f"\nCHATPAD_KILL_SEED={seed}")
    rng = random.Random(seed)

    workers = [
        stack.worker("worker-0", "inbound", "outbound", "default"),
        stack.worker("worker-1", "inbound", "outbound", "default"),
        stack.worker("ai", "ai"),
    ]
    stack.scheduler()
    time.sleep(2)  # let them start: a kill before a worker has taken its first job tests nothing

    kills: list[tuple[float, str]] = []
    flowing = threading.Event()
    flowing.set()
    started = time.monotonic()

    def killer():
        while flowing.is_set() and len(kills) < MAX_KILLS:
            time.sleep(rng.uniform(0.2, 1.5))
            victim = rng.choice(workers)
            victim.restart()
            kills.append((round(time.monotonic() - started, 2), victim.name))

    thread = threading.Thread(target=killer, name="killer", daemon=True)
    thread.start()

    mids, psids = [], []
    for i in range(CUSTOMERS):
        sent = meta_sandbox.simulate(page=forge.page_id, sender=f"Customer {i:03d}", text="What are your office hours?")
        mids.append(sent["mid"])
        psids.append(sent["psid"])
        time.sleep(rng.uniform(0, 0.04))

    def everyone_answered():
        got = sends_by_recipient(meta_sandbox)
        return all(got.get(p) for p in psids)

    try:
        wait_until(everyone_answered, 180, lambda: f"kills {kills}\n{db_counts(db)}\n{stack.logs()}")
    finally:
        flowing.clear()
        thread.join(timeout=5)
    wait_until(lambda: not unanswered(db) and queues_idle(app), 60, lambda: f"{db_counts(db)}\n{stack.logs()}")
    print(f"kills: {kills}")

    db.session.expire_all()
    stored = db.session.scalars(select(Message.external_id).where(Message.direction == "inbound")).all()
    assert sorted(stored) == sorted(mids), "every customer message stored exactly once"
    assert len(set(psids)) == CUSTOMERS and not unanswered(db)
    duplicates = duplicate_sends(meta_sandbox)
    print(f"{len(kills)} kills, {duplicates} duplicate sends, {len(meta_sandbox.accepted())} sends accepted")
    assert duplicates <= len(kills)
