"""The same webhook delivered ten times — one after another, and all at once — into the live app, processed by real
worker processes: one stored message, and one reply at Meta (counted at the sandbox's Send API log)."""

from __future__ import annotations

import pytest

from tests.plugins.reliability import wait_until

from .conftest import db_counts, queues_idle, sends_by_recipient

pytestmark = pytest.mark.slow


def _settled(app, db, meta_sandbox, psid) -> bool:
    """The reply went out, its echo and delivery came back and were processed, and nothing is left to run."""
    if not sends_by_recipient(meta_sandbox).get(psid):
        return False
    deliveries = meta_sandbox.deliveries()
    if any(d["state"] not in ("delivered", "failed") for d in deliveries):
        return False
    counts = db_counts(db)
    return not counts["events"].get("pending") and queues_idle(app)


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
def test_ten_deliveries_of_one_webhook_make_one_message_and_one_reply(app, db, forge, meta_sandbox, stack, concurrent):
    """Meta redelivering a message ten times (in a row, or ten at once to two workers) stores it once and answers
    the customer once."""
    for i in range(2):
        stack.worker(f"worker-{i}", "inbound", "ai", "outbound", "default")
    sent = meta_sandbox.simulate(
        page=forge.page_id, text="Do you allow pets?", duplicates=10, concurrent=concurrent, wait=True
    )
    assert [d["state"] for d in sent["deliveries"]] == ["delivered"] * 10
    psid = sent["psid"]
    wait_until(lambda: _settled(app, db, meta_sandbox, psid), 60, stack.logs)

    counts = db_counts(db)
    assert counts["inbound"] == 1 and counts["conversations"] == 1
    # One AI answer (it may be split into parts); Meta accepted each part exactly once.
    parts = sum(counts["replies"].values())
    assert parts >= 1 and counts["replies"].get("delivered", 0) + counts["replies"].get("sent", 0) == parts
    assert sends_by_recipient(meta_sandbox)[psid] == parts
    thread = meta_sandbox.thread(forge.page_id, psid)["messages"]
    assert [m["sender"] for m in thread].count("customer") == 1
    assert [m["sender"] for m in thread].count("page") == parts
