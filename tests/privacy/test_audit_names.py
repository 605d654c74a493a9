"""The audit log names locations and people, not their ids (issue 22)."""

from __future__ import annotations

from chatpad.audit import record_audit
from tests.conftest import csrf_from, login


def test_the_log_names_the_account_its_locations_and_people(app, db, client, make):
    biz = make.business("Names")
    biz.account.account_name = "Forge Lake Community"
    biz.location.name = "Forge at the Lake"
    clearview = make.location(biz.agent, "Clearview Estates")
    gone = make.location(biz.agent, "Sold Off Park")
    helper = make.user(biz.org, role="agent")
    helper.name = "Rosa Diaz"
    record_audit(
        "conversation.assign",
        organization_id=biz.org.id,
        user_id=biz.user.id,
        detail={"assigned_user_id": helper.id, "location_id": str(gone.id)},
    )
    db.session.commit()
    gone_id = str(gone.id)
    db.session.delete(gone)
    db.session.commit()
    login(client, biz.user.email)
    page = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/integrations/accounts/{biz.account.id}/location",
        data={"csrf_token": csrf_from(page), "location": str(clearview.id)},
    )
    assert response.status_code == 302

    log = client.get("/admin/audit/").get_data(as_text=True)
    assert "Account: Forge Lake Community (Facebook Page)" in log
    assert "&#34;from&#34;: &#34;Forge at the Lake&#34;" in log and "&#34;to&#34;: &#34;Clearview Estates&#34;" in log
    assert "&#34;assigned_user_id&#34;: &#34;Rosa Diaz (" in log
    assert f"deleted location ({gone_id})" in log
    for raw in (str(biz.location.id), str(clearview.id), str(biz.account.id)):
        assert raw not in log
    csv = client.get("/admin/audit/export/csv/").get_data(as_text=True)
    assert "Clearview Estates" in csv and "Account: Forge Lake Community (Facebook Page)" in csv
