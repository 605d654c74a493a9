"""The audit log page (read-only, one organization's entries) and the privacy sweep's purge of old raw deliveries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from chatpad.audit import record_audit
from chatpad.models import AuditLog, WebhookEvent, utcnow
from chatpad.queue import get_queue
from tests.conftest import csrf_from, login


def test_the_audit_log_shows_only_this_organization_and_cannot_be_changed(app, db, client, make):
    """Admins read their organization's entries (newest first, with details) and nothing else; there is no way to
    create, edit or delete one."""
    mine, theirs = make.business("Mine"), make.business("Theirs")
    record_audit("privacy.export", organization_id=mine.org.id, user_id=mine.user.id, detail={"messages": 12})
    record_audit("privacy.erase", organization_id=theirs.org.id, user_id=theirs.user.id, detail={"messages": 99})
    db.session.commit()
    login(client, mine.user.email)
    page = client.get("/admin/audit/").get_data(as_text=True)
    assert "privacy.export" in page and mine.user.email in page and "&#34;messages&#34;: 12" in page
    assert "privacy.erase" not in page and theirs.user.email not in page
    assert "/admin/audit/new/" not in page and "/admin/audit/edit/" not in page and "Delete Record" not in page
    theirs_id = db.session.scalar(select(AuditLog.id).where(AuditLog.organization_id == theirs.org.id))
    assert client.get(f"/admin/audit/details/?id={theirs_id}").status_code in (302, 404)
    before = db.session.scalar(select(func.count(AuditLog.id)))
    token = csrf_from(client.get("/admin/customer-data/").get_data(as_text=True))
    client.post("/admin/audit/delete/", data={"id": theirs_id, "csrf_token": token})
    client.post("/admin/audit/new/", data={"action": "forged", "csrf_token": token})
    # Nothing was added or removed.
    assert db.session.scalar(select(func.count(AuditLog.id))) == before
    csv = client.get("/admin/audit/export/csv/").get_data(as_text=True)
    assert "privacy.export" in csv and "privacy.erase" not in csv


def test_the_sweep_purges_old_raw_deliveries(app, db, workers):
    """Raw webhook bodies older than WEBHOOK_EVENT_RETENTION_DAYS go; recent ones and unprocessed ones stay."""
    old = utcnow() - timedelta(days=31)
    rows = {
        "old": WebhookEvent(channel="facebook", body=b"{}", status="processed", received_at=old),
        "old_failed": WebhookEvent(channel="facebook", body=b"{}", status="failed", received_at=old),
        "old_pending": WebhookEvent(channel="facebook", body=b"{}", status="pending", received_at=old),
        "recent": WebhookEvent(channel="facebook", body=b"{}", status="processed", received_at=utcnow()),
    }
    db.session.add_all(rows.values())
    db.session.commit()
    ids = {name: row.id for name, row in rows.items()}
    get_queue("default").enqueue("jobs.privacy.sweep")
    workers.run("default")
    db.session.expire_all()
    left = set(db.session.scalars(select(WebhookEvent.id)))
    assert left == {ids["old_pending"], ids["recent"]}
