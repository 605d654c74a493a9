"""The durable inbound log: stored events are processed by the inbound job, and an operator can list and replay them."""

import json
import threading
import time
from datetime import timedelta

from sqlalchemy import select

from chatpad.models import Message, WebhookEvent, utcnow
from chatpad.queue import get_queue
from jobs.inbound import MAX_EVENT_ATTEMPTS


def _event(db, status="failed", mid="rp-1"):
    body = json.dumps({"account": "loop-1", "events": [{"kind": "message", "mid": mid, "text": "Hi", "sender": "c"}]})
    event = WebhookEvent(channel="loopback", body=body.encode(), status=status, attempts=5, error="boom")
    db.session.add(event)
    db.session.commit()
    return event


def test_replaying_a_failed_event_processes_it(app, db, make, workers):
    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1")
    event = _event(db)
    with app.app_context():
        runner = app.test_cli_runner()
        listing = runner.invoke(args=["chatpad", "events", "--status", "failed"])
        assert f"{event.id:>8}" in listing.output and "boom" in listing.output
        result = runner.invoke(args=["chatpad", "replay-event", str(event.id), "999999"])
    assert "Queued 1 event(s)" in result.output and "Not found: [999999]" in result.output
    workers.run("inbound")
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event.id).status == "processed"
    assert db.session.scalar(select(Message.content)) == "Hi"


def test_an_event_for_nobody_is_marked_ignored(app, db, workers):
    event = _event(db, status="pending", mid="nobody")
    with app.app_context():
        from chatpad.lanes import enqueue_events

        enqueue_events([event.id])
    workers.run("inbound")
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event.id).status == "ignored"


def test_an_unreadable_event_fails_with_the_reason(app, db, workers):
    event = WebhookEvent(channel="loopback", body=b"not json", status="pending")
    db.session.add(event)
    db.session.commit()
    with app.app_context():
        from chatpad.lanes import enqueue_events

        enqueue_events([event.id])
    workers.run("inbound")
    db.session.expire_all()
    failed = db.session.get(WebhookEvent, event.id)
    assert failed.status == "failed" and failed.error.startswith("unreadable payload: not JSON")


def _pending(db, bodies):
    events = [WebhookEvent(channel="loopback", body=json.dumps(b).encode(), status="pending") for b in bodies]
    db.session.add_all(events)
    db.session.commit()
    return [e.id for e in events]


def _message(mid, sender="c"):
    return {"account": "loop-1", "events": [{"kind": "message", "mid": mid, "text": f"Hi {mid}", "sender": sender}]}


def test_events_announced_together_are_processed_in_batches(app, db, make, workers):
    """What the dispatcher pops in one go becomes one job per EVENTS_PER_JOB events, and every event is stored."""
    from chatpad.lanes import EVENTS_PER_JOB, announce_many, dispatch_pending

    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1")
    ids = _pending(db, [_message(f"b-{i}", sender=f"c{i % 4}") for i in range(2 * EVENTS_PER_JOB + 1)])
    with app.app_context():
        announce_many(ids)
        assert dispatch_pending() == len(ids)
    assert workers.queued("inbound") == 3  # 8 + 8 + 1
    workers.run("inbound")
    db.session.expire_all()
    assert {db.session.get(WebhookEvent, i).status for i in ids} == {"processed"}
    stored = db.session.scalars(select(Message.content).order_by(Message.id)).all()
    assert stored == [f"Hi b-{i}" for i in range(len(ids))]  # in the order they were stored


def test_an_event_that_fails_in_a_batch_is_retried_alone(app, db, make, workers):
    """One bad event does not hold up the others in its job: they are stored, it waits for a retry of its own."""
    from chatpad.lanes import enqueue_events

    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1")
    first, bad, last = _pending(db, [_message("ok-1"), {"account": "loop-1"}, _message("ok-2")])
    with app.app_context():
        enqueue_events([first, bad, last])
    workers.run("inbound")
    db.session.expire_all()
    assert db.session.get(WebhookEvent, first).status == "processed"
    assert db.session.get(WebhookEvent, last).status == "processed"
    failed = db.session.get(WebhookEvent, bad)
    assert (failed.status, failed.attempts, failed.error) == ("pending", 1, "KeyError: 'events'")
    assert workers.scheduled("inbound") == 1  # its own process_event job, after the first backoff interval
    workers.run("inbound", fast_forward=True)  # its retries run out as a lone event's would
    db.session.expire_all()
    failed = db.session.get(WebhookEvent, bad)
    assert (failed.status, failed.attempts, failed.error) == ("failed", MAX_EVENT_ATTEMPTS, "KeyError: 'events'")


def test_the_sweeper_leaves_events_waiting_in_a_batch_alone(app, db, make, workers):
    """A stale pending event that sits in a queued batch job is in hand; once that job is gone, it is queued again."""
    from chatpad.lanes import enqueue_events
    from jobs.housekeeping import sweep

    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1")
    ids = _pending(db, [_message("s-1"), _message("s-2")])
    db.session.query(WebhookEvent).update({"received_at": utcnow() - timedelta(minutes=10)})
    db.session.commit()
    with app.app_context():
        enqueue_events(ids)
    assert sweep()["events"] == 0
    with app.app_context():
        get_queue("inbound").empty()
    assert sweep()["events"] == 2
    workers.run("inbound")
    db.session.expire_all()
    assert {db.session.get(WebhookEvent, i).status for i in ids} == {"processed"}


def _consume_until_processed(app, db, ids: list[int]) -> list[threading.Thread]:
    """Run a threaded inbound worker's consumers (one for messages, the receipts one) until these events are all
    processed or 20 s pass, then stop them; the stopped threads, for the caller to check."""
    from jobs.consumers import start_consumers

    stop = threading.Event()
    threads = start_consumers(app, stop, 1)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            db.session.expire_all()
            if {db.session.get(WebhookEvent, i).status for i in ids} == {"processed"}:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    return threads


def test_consumer_threads_take_announced_events_without_a_job_each(app, db, make, workers):
    """A threaded inbound worker's consumers pull what the webhook announced and process it directly: every event
    stored, in order, and no RQ job made for any of them."""
    from chatpad.lanes import announce_many

    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1")
    ids = _pending(db, [_message(f"c-{i}", sender="same-customer") for i in range(12)])
    with app.app_context():
        announce_many(ids)
    threads = _consume_until_processed(app, db, ids)
    assert {db.session.get(WebhookEvent, i).status for i in ids} == {"processed"}
    stored = db.session.scalars(select(Message.content).where(Message.direction == "inbound").order_by(Message.id))
    assert stored.all() == [f"Hi c-{i}" for i in range(12)]
    assert workers.queued("inbound") == 0 and not any(t.is_alive() for t in threads)


def test_receipts_are_taken_together_by_their_own_consumer(app, db, make, workers):
    """Receipts announced in their lane are processed by the receipts consumer in batches: twenty receipts that were
    waiting are finished by one statement (one processed_at), and the messages lane is served by its own threads."""
    from chatpad.lanes import announce_many

    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1")
    receipts = _pending(db, [_message(f"r-{i}", sender=f"customer-{i}") for i in range(20)])
    (message,) = _pending(db, [_message("urgent", sender="someone")])
    with app.app_context():
        announce_many([message], receipts)
    threads = _consume_until_processed(app, db, [*receipts, message])
    events = [db.session.get(WebhookEvent, i) for i in receipts]
    assert {e.status for e in events} == {"processed"} and len({e.processed_at for e in events}) == 1
    assert db.session.get(WebhookEvent, message).status == "processed"
    assert workers.queued("inbound") == 0 and not any(t.is_alive() for t in threads)


def test_the_sweeper_leaves_announced_events_to_the_consumers(app, db, make):
    """Events still in the announced list are on their way (a backlog, not a loss): the sweeper does not queue them."""
    from chatpad.lanes import announce_many
    from jobs.housekeeping import sweep

    biz = make.business()
    make.account(biz.agent, "loopback", biz.location, account_id="loop-1")
    waiting, lost = _pending(db, [_message("w-1"), _message("w-2")])
    db.session.query(WebhookEvent).update({"received_at": utcnow() - timedelta(minutes=10)})
    db.session.commit()
    with app.app_context():
        announce_many([], [waiting])  # in the receipts lane: waiting all the same
    assert sweep()["events"] == 1  # only the one no list or job holds
    with app.app_context():
        assert get_queue("inbound").job_ids == [f"event-{lost}"]
