"""Labels and bulk actions (issue 21): tick rows, then resolve, assign or label them together, in one POST with the
CSRF token; every id is held to the person's organization and locations, so another location's conversation in the
set is left alone."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from chatpad.models import Conversation, ConversationLabel, Notification
from tests.conftest import csrf_from, login
from tests.inbox.test_locations import mhp  # noqa: F401 (fixture)


def _bulk(client, ids, **data):
    token = csrf_from(client.get("/admin/inbox/").get_data(as_text=True))
    return client.post(
        "/admin/inbox/bulk",
        data={"csrf_token": token, "ids": [str(i) for i in ids], **data},
        follow_redirects=True,
    )


def _status(db, conversation) -> str:
    db.session.expire_all()
    return db.session.get(Conversation, conversation.id).status


def test_a_bulk_resolve_resolves_the_ticked_conversations(client, db, mhp):  # noqa: F811
    login(client, mhp.user.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert html.count('class="bulk-tick"') == 3 and 'id="bulk-form"' in html
    response = _bulk(client, [mhp.forge_conv.id, mhp.pine_conv.id], action="resolve")
    assert "Resolved 2 conversations." in response.get_data(as_text=True)
    assert _status(db, mhp.forge_conv) == _status(db, mhp.pine_conv) == "resolved"
    assert _status(db, mhp.general_conv) != "resolved"


def test_another_locations_id_in_the_bulk_set_is_not_touched(client, db, mhp):  # noqa: F811
    before = {c.id: c.status for c in (mhp.pine_conv, mhp.general_conv)}
    login(client, mhp.mia.email)
    ids = [mhp.forge_conv.id, mhp.pine_conv.id, mhp.general_conv.id, uuid.uuid4(), "not-an-id"]
    response = _bulk(client, ids, action="resolve")
    assert "Resolved 1 conversation. 3 conversations left alone" in response.get_data(as_text=True)
    assert _status(db, mhp.forge_conv) == "resolved"
    assert {c.id: _status(db, c) for c in (mhp.pine_conv, mhp.general_conv)} == before
    # Labels and assignment hold to the same scope.
    _bulk(client, [mhp.forge_conv.id, mhp.pine_conv.id], action="label", label="Gate code")
    assert set(db.session.scalars(select(ConversationLabel.conversation_id))) == {mhp.forge_conv.id}


def test_a_bulk_post_without_the_csrf_token_is_refused(client, db, mhp):  # noqa: F811
    login(client, mhp.user.email)
    response = client.post("/admin/inbox/bulk", data={"ids": [str(mhp.forge_conv.id)], "action": "resolve"})
    assert response.status_code == 400 and _status(db, mhp.forge_conv) != "resolved"


def test_bulk_assign_notifies_and_skips_whom_the_person_cannot_see(client, db, mhp):  # noqa: F811
    login(client, mhp.user.email)
    response = _bulk(client, [mhp.forge_conv.id, mhp.pine_conv.id], action="assign", user=str(mhp.mia.id))
    assert "Assigned 1 conversation to Mia Manager. 1 conversation left alone" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Conversation, mhp.forge_conv.id).assigned_user_id == mhp.mia.id
    assert db.session.get(Conversation, mhp.pine_conv.id).assigned_user_id is None
    notes = db.session.scalars(select(Notification).where(Notification.user_id == mhp.mia.id)).all()
    assert [n.conversation_id for n in notes] == [mhp.forge_conv.id]


def test_labels_filter_the_list_and_come_off_again(client, db, mhp):  # noqa: F811
    login(client, mhp.user.email)
    _bulk(client, [mhp.forge_conv.id, mhp.general_conv.id], action="label", label="  Move-In  ")
    listing = client.get("/admin/inbox/", query_string={"label": "move-in"}).get_data(as_text=True)
    assert listing.count('class="bulk-tick"') == 2 and str(mhp.pine_conv.id) not in listing
    assert '<option value="move-in" selected>move-in</option>' in listing
    page = client.get(f"/admin/inbox/c/{mhp.forge_conv.id}").get_data(as_text=True)
    assert 'aria-label="Remove label move-in"' in page
    client.post(f"/admin/inbox/c/{mhp.forge_conv.id}/labels", data={"csrf_token": csrf_from(page), "remove": "move-in"})
    listing = client.get("/admin/inbox/", query_string={"label": "move-in"}).get_data(as_text=True)
    assert listing.count('class="bulk-tick"') == 1 and str(mhp.general_conv.id) in listing
