"""The database unreachable: the app, workers and scheduler reach PostgreSQL through a TCP proxy this test starts,
and cutting the proxy cuts them all off (new connections refused, pooled ones broken) — the machine's PostgreSQL is
never stopped. While it is down the webhook answers 503 so Meta retries; when it is back the same app processes,
never restarted, answer 200 and every message is answered."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import make_url

from chatpad.channels.meta import sign_body
from tests.plugins.reliability import TcpProxy, is_postgresql, wait_until

from .conftest import db_counts, duplicate_sends, queues_idle, sends_by_recipient, unanswered

pytestmark = pytest.mark.slow


@pytest.fixture
def db_proxy(database_url):
    if not is_postgresql(database_url):
        pytest.skip("the outage is staged on PostgreSQL (set DATABASE_URL)")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.up()
    proxy.url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        yield proxy
    finally:
        proxy.down()


def test_webhooks_answer_503_while_the_database_is_down_and_the_app_recovers_by_itself(
    app, db, forge, meta_sandbox, stack, db_proxy
):
    """Database down: webhooks get 503 with Retry-After and nothing is half stored; database back: Meta's retries
    are answered 200 by the same processes, and every customer who wrote during the outage gets their answer."""
    stack.env["DATABASE_URL"] = db_proxy.url
    url = stack.app()
    meta_sandbox._call(
        "PATCH",
        "settings",
        json={"settings": {"retry_delays": [1, 2, 3, 5, 8]}, "webhook_urls": {"page": f"{url}/api/webhooks/facebook"}},
    )
    stack.worker("worker", "inbound", "outbound", "default")
    stack.worker("ai", "ai")
    stack.scheduler()
    pids = {name: proc.pid for name, proc in stack.procs.items()}

    before = meta_sandbox.simulate(page=forge.page_id, sender="Before Outage", text="What are your hours?")
    wait_until(lambda: sends_by_recipient(meta_sandbox).get(before["psid"]), 30, stack.logs)

    db_proxy.down()
    during = [
        meta_sandbox.simulate(page=forge.page_id, sender=f"During Outage {i}", text="What are your hours?")
        for i in range(5)
    ]
    for sent in during:
        (delivery,) = sent["deliveries"]
        assert delivery["attempts"][0]["status"] == 503, delivery
    body = b'{"object": "page", "entry": []}'
    direct = requests.post(
        f"{url}/api/webhooks/facebook",
        data=body,
        headers={"Content-Type": "application/json", **sign_body(body, app.config["META_APP_SECRET"])},
        timeout=10,
    )
    assert direct.status_code == 503 and direct.headers.get("Retry-After")
    time.sleep(2)  # the outage lasts a while: Meta's first retries fail too
    db_proxy.up()

    psids = [before["psid"]] + [s["psid"] for s in during]

    def done():
        got = sends_by_recipient(meta_sandbox)
        return all(got.get(p) for p in psids) and not unanswered(db) and queues_idle(app)

    wait_until(done, 90, lambda: f"{db_counts(db)}\n{meta_sandbox.deliveries()}\n{stack.logs()}")
    deliveries = {d["id"]: d for d in meta_sandbox.deliveries()}
    for sent in during:
        final = deliveries[sent["deliveries"][0]["id"]]
        statuses = [a["status"] for a in final["attempts"]]
        assert final["state"] == "delivered" and statuses[0] == 503 and statuses[-1] == 200, statuses
    counts = db_counts(db)
    assert counts["inbound"] == len(psids) and counts["conversations"] == len(psids)
    assert duplicate_sends(meta_sandbox) == 0
    # The same processes, never restarted: they reconnected by themselves.
    assert {name: proc.pid for name, proc in stack.procs.items()} == pids
    assert all(proc.alive() for proc in stack.procs.values())
