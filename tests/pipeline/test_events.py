"""The durable inbound log: stored events are processed by the inbound job, and an operator can list and replay them."""

import json

from sqlalchemy import select

from chatpad.models import Message, WebhookEvent


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
        from chatpad.pipeline.dispatch import enqueue_events

        enqueue_events([event.id])
    workers.run("inbound")
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event.id).status == "ignored"


def test_an_unreadable_event_fails_with_the_reason(app, db, workers):
    event = WebhookEvent(channel="loopback", body=b"not json", status="pending")
    db.session.add(event)
    db.session.commit()
    with app.app_context():
        from chatpad.pipeline.dispatch import enqueue_events

        enqueue_events([event.id])
    workers.run("inbound")
    db.session.expire_all()
    failed = db.session.get(WebhookEvent, event.id)
    assert failed.status == "failed" and failed.error.startswith("unreadable payload: not JSON")
