"""Retention: an organization's old conversations are deleted by the scheduler's daily job, in batches, audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from chatpad.models import AnonymousActivity, Attachment, AuditLog, Contact, Conversation, Message, Organization, utcnow
from chatpad.privacy import apply_retention, run_retention
from chatpad.queue import get_queue
from jobs.scheduler import PERIODIC_JOBS
from tests.conftest import csrf_from, login
from tests.plugins.privacy import add_conversation, write_file


def old_and_new(app, db, make, *, old: int = 5, new: int = 2, retention_days: int | None = 30):
    biz = make.business()
    biz.org.retention_days = retention_days
    contact = Contact(organization_id=biz.org.id, name="Pat Customer")
    db.session.add(contact)
    db.session.flush()
    old_ids, files = [], []
    for n in range(old):
        conv = add_conversation(
            db, biz.account, contact, external_id=f"old-{n}", texts=["Hi", "Hello"], days_ago=40 + n
        )
        key, path, digest = write_file(app, f"old file {n}".encode())
        db.session.add(
            Attachment(message_id=conv.messages[0].id, filename=f"{n}.txt", storage_key=key, sha256=digest, size=10)
        )
        old_ids.append(conv.id)
        files.append(path)
    new_ids = [
        add_conversation(db, biz.account, contact, external_id=f"new-{n}", texts=["Still here?"], days_ago=5).id
        for n in range(new)
    ]
    db.session.commit()
    return biz, contact, old_ids, new_ids, files


def test_old_conversations_go_in_batches_with_their_files(app, db, make):
    """Conversations idle past the period are deleted (five of them, two per batch); recent ones and the contact
    stay; the files go; a count of what went stays for analytics."""
    biz, contact, old_ids, new_ids, files = old_and_new(app, db, make)
    result = apply_retention(biz.org, batch_size=2)
    assert result.deleted.conversations == 5 and result.deleted.messages == 10 and result.deleted.attachments == 5
    assert result.more is False
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Conversation.id)).where(Conversation.id.in_(old_ids))) == 0
    assert db.session.scalar(select(func.count(Conversation.id)).where(Conversation.id.in_(new_ids))) == 2
    assert db.session.get(Contact, contact.id) is not None
    assert not any(p.exists() for p in files)
    counted = db.session.scalar(
        select(func.sum(AnonymousActivity.messages)).where(AnonymousActivity.reason == "retention")
    )
    assert counted == 10


def test_each_run_is_audited_with_counts(app, db, make):
    """The audit log holds one entry per organization and run, saying what the run deleted."""
    biz, *_ = old_and_new(app, db, make, old=3, new=0)
    run_retention()
    run_retention()
    runs = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "privacy.retention_run").order_by(AuditLog.id)
    ).all()
    assert [r.detail["conversations"] for r in runs] == [3, 0]
    assert all(r.organization_id == biz.org.id and r.detail["retention_days"] == 30 for r in runs)
    assert runs[0].detail["finished"] is True


def test_organizations_without_a_period_keep_everything(app, db, make):
    """No retention period: nothing is deleted, and no audit noise."""
    biz, contact, old_ids, new_ids, files = old_and_new(app, db, make, retention_days=None)
    assert run_retention() == []
    assert db.session.scalar(select(func.count(Conversation.id))) == 7
    assert all(p.exists() for p in files)
    assert db.session.scalars(select(AuditLog).where(AuditLog.action == "privacy.retention_run")).first() is None


def test_one_organizations_period_never_touches_another(app, db, make):
    """Organization A keeps 30 days; B keeps everything; B's equally old conversations stay."""
    a = old_and_new(app, db, make, old=2, new=0)
    b = old_and_new(app, db, make, old=2, new=0, retention_days=None)
    run_retention()
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Conversation.id)).where(Conversation.id.in_(a[2]))) == 0
    assert db.session.scalar(select(func.count(Conversation.id)).where(Conversation.id.in_(b[2]))) == 2


def test_the_scheduler_runs_it_and_a_run_out_of_time_continues(app, db, make, workers, monkeypatch):
    """The daily job is registered with the scheduler; a run whose time budget runs out queues a follow-up, and the
    follow-ups finish the work (each deletes at least one batch, so none can loop without progress)."""
    assert ("jobs.privacy.run_retention", "default", 24 * 3600) in PERIODIC_JOBS
    assert ("jobs.privacy.sweep", "default", 600) in PERIODIC_JOBS
    biz, contact, old_ids, *_ = old_and_new(app, db, make, old=3, new=0)
    monkeypatch.setitem(app.config, "RETENTION_RUN_SECONDS", 0)
    monkeypatch.setitem(app.config, "RETENTION_BATCH_SIZE", 1)
    get_queue("default").enqueue("jobs.privacy.run_retention")
    workers.run("default")
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Conversation.id)).where(Conversation.id.in_(old_ids))) == 0
    runs = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "privacy.retention_run").order_by(AuditLog.id)
    ).all()
    assert [(r.detail["conversations"], r.detail["finished"]) for r in runs] == [(1, False), (1, False), (1, True)]


def test_admin_sets_the_period(app, db, client, make):
    """The Retention page saves the period (audited), shows what is due, and refuses nonsense."""
    biz, *_ = old_and_new(app, db, make, old=2, new=1, retention_days=None)
    login(client, biz.user.email)
    page = client.get("/admin/retention/").get_data(as_text=True)
    assert "Now: conversations are kept until someone deletes them." in page
    bad = client.post("/admin/retention/", data={"csrf_token": csrf_from(page), "retention_days": "0"})
    assert bad.status_code == 400 and "Number must be between 1 and 3650" in bad.get_data(as_text=True)
    saved = client.post("/admin/retention/", data={"csrf_token": csrf_from(page), "retention_days": "30"})
    assert saved.status_code == 303
    page = client.get("/admin/retention/").get_data(as_text=True)
    assert "deleted 30 days after their last message" in page and "2 conversations are past that" in page
    db.session.expire_all()
    assert db.session.get(Organization, biz.org.id).retention_days == 30
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "privacy.retention_changed")).one()
    assert entry.detail == {"from": None, "to": 30} and entry.user_id == biz.user.id
    client.post("/admin/retention/", data={"csrf_token": csrf_from(page), "retention_days": ""})
    db.session.expire_all()
    assert db.session.get(Organization, biz.org.id).retention_days is None


def test_recent_messages_keep_an_old_conversation(app, db, make):
    """A conversation started long ago that is still active is kept: the period counts from the last message."""
    biz, contact, old_ids, *_ = old_and_new(app, db, make, old=1, new=0)
    conversation = db.session.get(Conversation, old_ids[0])
    db.session.add(
        Message(
            conversation_id=conversation.id,
            channel="facebook",
            direction="inbound",
            sender_type="contact",
            content="Back again",
            created_at=utcnow() - timedelta(days=1),
        )
    )
    conversation.last_message_at = utcnow() - timedelta(days=1)
    db.session.commit()
    assert apply_retention(biz.org).deleted.conversations == 0
