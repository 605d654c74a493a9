"""The recovery mechanisms the fault tests rely on, one at a time and fast (in-process burst workers): an echo
confirming a send whose worker died, and the sweeper moving delayed jobs no scheduler moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from chatpad.channels import get_channel
from chatpad.messages import OutboundReply
from chatpad.models import Conversation, Message
from chatpad.pipeline import queue_reply
from chatpad.pipeline.replies import clear_reply_pending, latest_inbound, send_context
from chatpad.queue import get_queue


def test_an_echo_confirms_a_send_whose_worker_died_after_meta_took_it(app, db, forge, meta_sandbox, workers):
    """A worker killed between Meta accepting a message and recording it leaves the message 'sending'; Meta's echo
    (tagged with the message id) records it as sent, so the sweeper never sends it a second time."""
    from jobs.housekeeping import sweep

    meta_sandbox.simulate(page=forge.page_id, text="Is the pool open?")
    workers.run("inbound")
    conversation = db.session.scalar(select(Conversation))
    with app.app_context():
        get_queue("ai").empty()
        clear_reply_pending(conversation.id)
    (row,) = queue_reply(conversation, OutboundReply("Yes, until 9 pm.", sender_type="human"), user=forge.user)
    with app.app_context():
        get_queue("outbound").empty()
    # What the send job does up to the platform's answer, and then the worker dies: claimed, sent, never recorded.
    row.status, row.sent_at = "sending", datetime.now(UTC) - timedelta(hours=1)
    db.session.commit()
    ctx = send_context(conversation, "human", latest_inbound(conversation))
    ctx.extra["message_id"] = row.id
    mid = get_channel("facebook").send(row.meta["payload"], ctx)

    meta_sandbox.wait_for(lambda: sum(d["state"] == "delivered" for d in meta_sandbox.deliveries()) >= 3)
    workers.run("inbound")
    db.session.expire_all()
    message = db.session.get(Message, row.id)
    assert message.status in ("sent", "delivered") and message.external_id == mid
    sweep()  # the claim is an hour old: without the echo the sweeper would release it and send it again
    workers.run("outbound", "inbound", fast_forward=True)
    assert len(meta_sandbox.accepted()) == 1


def test_the_sweeper_moves_delayed_jobs_no_scheduler_moved(app, db, workers):
    """A retry whose time came while no RQ scheduler was alive (its lock died with a worker) is put on its queue by
    the sweeper once it is overdue."""
    from jobs.housekeeping import sweep

    with app.app_context():
        queue = get_queue("default")
        job = queue.enqueue_at(datetime.now(UTC) - timedelta(minutes=1), "jobs.housekeeping.heartbeat")
        assert job.id in ScheduledJobRegistry(queue=queue).get_job_ids()
    assert sweep()["overdue"] == 1
    with app.app_context():
        assert job.id in get_queue("default").job_ids
        assert job.id not in ScheduledJobRegistry(queue=queue).get_job_ids()
    assert sweep()["overdue"] == 0


def test_a_job_lost_in_a_killed_workers_hands_is_queued_again(app, db, workers):
    """A worker killed just after taking a job from the queue (RQ moves it to an intermediate list, then marks it
    started) leaves it 'queued' but in no queue; the sweeper sees through that and queues the event again."""
    from chatpad.lanes import enqueue_events
    from chatpad.models import WebhookEvent
    from chatpad.queue import get_redis
    from jobs.housekeeping import sweep
    from jobs.inbound import process_event  # noqa: F401 (the job the queue names)

    event = WebhookEvent(
        channel="loopback",
        body=b'{"account": "nobody", "events": []}',
        received_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    db.session.add(event)
    db.session.commit()
    with app.app_context():
        assert enqueue_events([event.id]) == 1
        queue = get_queue("inbound")
        get_redis().lmove(queue.key, queue.intermediate_queue_key, "RIGHT", "LEFT")  # taken, then the kill
        assert queue.count == 0
    assert sweep()["events"] == 1
    with app.app_context():
        assert get_queue("inbound").count == 1
    workers.run("inbound")
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event.id).status == "ignored"
