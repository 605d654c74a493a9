"""People limited to locations: an on-site manager sees only their communities' conversations, contacts,
notifications and analytics, tested the way tenancy is (tests/admin/test_tenancy.py): another location's ids answer
404, whatever URL they are typed into, and nothing of theirs is listed, counted, searched, suggested or exported.

One business, MHP, with two communities, "Forge at the Lake" and "Pine Ridge", each with its Facebook Page, and a
General inbox of no location. Mia manages Forge only.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from chatpad.models import Attachment, Conversation, Notification, User, utcnow
from chatpad.team import set_locations
from tests.conftest import csrf_from, login
from tests.inbox.test_conversation import Person


@pytest.fixture
def mhp(make, inbox_make):
    biz = make.business("MHP Communities")
    biz.location.name = "Forge at the Lake"
    biz.account.account_name = "Forge at the Lake Page"
    biz.pine = make.location(biz.agent, "Pine Ridge")
    biz.pine_page = make.account(biz.agent, "facebook", biz.pine, account_name="Pine Ridge Page")
    biz.general = make.account(biz.agent, "email", None, account_id="info@mhp.test", account_name="info@mhp.test")
    make.db.session.commit()
    now = utcnow()
    biz.walker_forge = inbox_make.contact(biz.org, "Walker Reyes")
    biz.forge_conv = inbox_make.conversation(biz.account, biz.walker_forge)
    inbox_make.message(biz.forge_conv, "Is lot 9 still open?", at=now - timedelta(minutes=30))
    biz.walker_pine = inbox_make.contact(biz.org, "Walker Reyes")
    biz.pine_conv = inbox_make.conversation(biz.pine_page, biz.walker_pine)
    inbox_make.message(biz.pine_conv, "Pinecone question about gate codes", at=now - timedelta(minutes=20))
    biz.general_conv = inbox_make.conversation(biz.general, inbox_make.contact(biz.org, "Gina General"))
    inbox_make.message(biz.general_conv, "Generalist question about billing", at=now - timedelta(minutes=10))
    biz.mia = make.user(biz.org, email="mia@mhp.example.com", role="agent")
    biz.mia.name = "Mia Manager"
    set_locations(biz.mia, [biz.location.id])
    make.db.session.commit()
    return biz


def _csrf(client) -> str:
    return csrf_from(client.get("/admin/inbox/notifications/").get_data(as_text=True))


# Every inbox URL that takes a conversation id, GET or POST: another location's conversation is a 404 in each.
CONVERSATION_URLS = [
    ("GET", "/admin/inbox/c/{id}"),
    ("GET", "/admin/inbox/c/{id}/thread"),
    ("GET", "/admin/inbox/events?conversation={id}"),
    ("POST", "/admin/inbox/c/{id}/reply"),
    ("POST", "/admin/inbox/c/{id}/note"),
    ("POST", "/admin/inbox/c/{id}/take-over"),
    ("POST", "/admin/inbox/c/{id}/hand-back"),
    ("POST", "/admin/inbox/c/{id}/resolve"),
    ("POST", "/admin/inbox/c/{id}/reopen"),
    ("POST", "/admin/inbox/c/{id}/assign"),
    ("POST", "/admin/inbox/c/{id}/merge"),
]


@pytest.mark.parametrize(("method", "url"), CONVERSATION_URLS, ids=[u for _, u in CONVERSATION_URLS])
def test_another_locations_conversation_answers_404(client, db, mhp, method, url):
    login(client, mhp.mia.email)
    token = _csrf(client)
    for theirs in (mhp.pine_conv, mhp.general_conv):
        target = url.format(id=theirs.id)
        if method == "GET":
            response = client.get(target)
        else:
            response = client.post(target, data={"csrf_token": token, "text": "x", "body": "x", "user": ""})
        assert response.status_code == 404, (target, theirs.channel)
    # Their own community's conversation opens.
    assert client.get(f"/admin/inbox/c/{mhp.forge_conv.id}").status_code == 200
    db.session.expire_all()
    pine = db.session.get(Conversation, mhp.pine_conv.id)
    assert pine.status == "open" and not pine.human_takeover


def test_the_list_counts_and_searches_only_their_locations(client, db, mhp, inbox_make):
    """The list, its filters, the waiting count and search know nothing of Pine Ridge or the General inbox."""
    inbox_make.conversation(mhp.pine_page, status="waiting")
    login(client, mhp.mia.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert "Is lot 9 still open?" in html
    assert "Pinecone" not in html and "Generalist" not in html
    assert "Pine Ridge" not in html and "info@mhp.test" not in html and "General (no location)" not in html
    assert "waiting on a human" not in html  # Pine Ridge's waiting conversation is not theirs to count
    for q in ("pinecone", "generalist", "Gina"):
        found = client.get("/admin/inbox/", query_string={"q": q}).get_data(as_text=True)
        assert "No conversations match" in found, q
    # A filter on another location shows nothing rather than that location's conversations.
    html = client.get("/admin/inbox/", query_string={"location": str(mhp.pine.id)}).get_data(as_text=True)
    assert "Pinecone" not in html and "No conversations match" in html
    html = client.get("/admin/inbox/", query_string={"account": str(mhp.pine_page.id)}).get_data(as_text=True)
    assert "Pinecone" not in html


def test_the_owner_still_sees_every_location(client, mhp):
    login(client, mhp.user.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert "Is lot 9 still open?" in html and "Pinecone" in html and "Generalist" in html


def test_the_customers_history_and_suggestions_stay_in_their_locations(client, db, mhp, inbox_make):
    """Walker wrote at both communities; merged, his Pine Ridge thread still never shows to Forge's manager, and
    the other Walker is not suggested to them, nor can be merged by id."""
    login(client, mhp.mia.email)
    html = client.get(f"/admin/inbox/c/{mhp.forge_conv.id}").get_data(as_text=True)
    assert "(same name)" not in html  # the only other Walker is at Pine Ridge
    token = csrf_from(html)
    response = client.post(
        f"/admin/inbox/c/{mhp.forge_conv.id}/merge", data={"csrf_token": token, "other": str(mhp.walker_pine.id)}
    )
    assert response.status_code == 404
    # The owner merges them; Mia still sees only Forge's side of his history.
    from chatpad.contacts import merge_contacts

    merge_contacts(mhp.walker_forge, mhp.walker_pine)
    db.session.commit()
    html = client.get(f"/admin/inbox/c/{mhp.forge_conv.id}").get_data(as_text=True)
    assert "Is lot 9 still open?" in html and "Pinecone" not in html
    assert "Pine Ridge Page" not in html


def test_a_suggestions_places_name_only_the_viewers_locations(client, db, mhp, inbox_make):
    """A third Walker wrote on both Pages: Forge's manager is told he wrote at Forge, and nothing of Pine Ridge."""
    third = inbox_make.contact(mhp.org, "Walker Reyes")
    inbox_make.identity(third, mhp.account, "psid-walker-3")
    inbox_make.identity(third, mhp.pine_page, "psid-walker-3b")
    inbox_make.message(inbox_make.conversation(mhp.account, third), "Lot 9 again")
    login(client, mhp.mia.email)
    html = client.get(f"/admin/inbox/c/{mhp.forge_conv.id}").get_data(as_text=True)
    places = re.findall(r'<small class="text-muted merge-place">([^<]+)</small>', html)
    assert places == ["Facebook · Forge at the Lake Page · Forge at the Lake"]
    assert "Pine Ridge" not in html


def test_attachments_of_another_location_are_404(client, db, app, mhp, inbox_make):
    from pathlib import Path

    folder = Path(app.config["ATTACHMENT_DIR"]) / "loc"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gate.pdf").write_bytes(b"%PDF-1.4 gate")
    message = inbox_make.message(mhp.pine_conv, "See attached")
    row = Attachment(message_id=message.id, filename="gate.pdf", content_type="application/pdf", size=13,
                     storage_key="loc/gate.pdf")  # fmt: skip
    db.session.add(row)
    db.session.commit()
    login(client, mhp.mia.email)
    assert client.get(f"/admin/inbox/attachments/{row.id}").status_code == 404
    owner = Person(app, mhp.user.email)
    assert owner.get(f"/admin/inbox/attachments/{row.id}").status_code == 200


def test_handoffs_notify_only_the_people_of_that_location(db, mhp, make):
    """A handoff at Pine Ridge rings the owner's bell and Pine Ridge's manager's, never Forge's manager's."""
    from chatpad.pipeline import take_over

    pete = make.user(mhp.org, email="pete@mhp.example.com", role="agent")
    set_locations(pete, [mhp.pine.id])
    db.session.commit()
    take_over(db.session.get(Conversation, mhp.pine_conv.id), reason="The customer asked for a person")
    # (Pete hears of it as the handoff, or as its assignee when he is on duty: chatpad.team.)
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.conversation_id == mhp.pine_conv.id)))
    assert told == {mhp.user.id, pete.id}
    take_over(db.session.get(Conversation, mhp.general_conv.id), reason="Billing")
    told = set(
        db.session.scalars(select(Notification.user_id).where(Notification.conversation_id == mhp.general_conv.id))
    )
    assert told == {mhp.user.id}  # the General inbox belongs to no community: its managers are not told


def test_their_notification_about_another_location_cannot_be_opened(client, db, mhp):
    """A notice left from before Mia was limited (about Pine Ridge) is neither listed nor opened by id."""
    old = Notification(organization_id=mhp.org.id, user_id=mhp.mia.id, kind="handoff",
                       title="Pine customer waiting", conversation_id=mhp.pine_conv.id)  # fmt: skip
    db.session.add(old)
    db.session.commit()
    login(client, mhp.mia.email)
    html = client.get("/admin/inbox/notifications/").get_data(as_text=True)
    assert "Pine customer waiting" not in html
    assert 'id="notification-count"' not in html
    response = client.post(f"/admin/inbox/notifications/{old.id}/open", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 404


def test_assignment_offers_only_colleagues_who_can_open_it(client, db, mhp, make):
    pete = make.user(mhp.org, email="pete@mhp.example.com", role="agent")
    set_locations(pete, [mhp.pine.id])
    db.session.commit()
    login(client, mhp.user.email)
    html = client.get(f"/admin/inbox/c/{mhp.forge_conv.id}").get_data(as_text=True)
    assert "Mia Manager" in html and "pete@mhp.example.com" not in html
    response = client.post(
        f"/admin/inbox/c/{mhp.forge_conv.id}/assign", data={"csrf_token": csrf_from(html), "user": str(pete.id)}
    )
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Conversation, mhp.forge_conv.id).assigned_user_id is None


def test_analytics_and_home_count_only_their_locations(client, db, mhp):
    """An on-site manager opens analytics for their communities; an agent of the whole business does not."""
    login(client, mhp.mia.email)
    home = client.get("/admin/").get_data(as_text=True)
    assert re.search(r"1 location\b", home)
    response = client.get("/admin/analytics/?days=7")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Forge at the Lake" in html and "Pine Ridge" not in html and "General (no location)" not in html
    rows = client.get("/admin/analytics/export.csv?days=7").get_data(as_text=True)
    assert "total,All channels,1," in rows and "Pine Ridge" not in rows


def test_a_location_that_is_deleted_leaves_its_manager_with_nothing(client, db, mhp):
    """Limited is a flag, not the rows: when Mia's only community goes, she sees nothing, never everything."""
    from chatpad.models import Location

    db.session.delete(db.session.get(Location, mhp.location.id))
    db.session.commit()
    login(client, mhp.mia.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert "Pinecone" not in html and "Generalist" not in html


def test_create_user_with_locations_from_the_command_line(app, db, mhp, monkeypatch):
    monkeypatch.setenv("CHATPAD_PASSWORD", "a long enough password")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "chatpad",
            "create-user",
            "Pat@MHP.example.com",
            "--org",
            "MHP Communities",
            "--role",
            "agent",
            "--location",
            "Forge at the Lake",
            "--location",
            "pine ridge",
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "limited to Forge at the Lake, Pine Ridge" in result.output
    pat = db.session.scalar(select(User).where(User.email == "pat@mhp.example.com"))
    assert pat.limited_to_locations and pat.location_ids == {mhp.location.id, mhp.pine.id}

    for args, said in (
        (["--role", "agent", "--location", "Nowhere"], "has no location named 'Nowhere'"),
        (["--role", "admin", "--location", "Pine Ridge"], "Only agents can be limited to locations"),
    ):
        result = runner.invoke(args=["chatpad", "create-user", f"x{uuid.uuid4().hex[:6]}@mhp.example.com",
                                     "--org", "MHP Communities", *args])  # fmt: skip
        assert result.exit_code != 0 and said in result.output, result.output


def test_an_admin_limits_an_agent_in_the_users_form(client, db, mhp, make):
    """Setup → Users: pick the agent's locations; their own organization's only; an admin cannot be limited."""
    login(client, mhp.user.email)
    page = client.get(f"/admin/users/edit/?id={mhp.mia.id}").get_data(as_text=True)
    assert "Limited to locations" in page and "Pine Ridge" in page
    token = csrf_from(page)
    form = {"csrf_token": token, "email": mhp.mia.email, "name": "Mia Manager", "role": "agent",
            "active": "y", "locations": [str(mhp.location.id), str(mhp.pine.id)]}  # fmt: skip
    response = client.post(f"/admin/users/edit/?id={mhp.mia.id}", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, mhp.mia.id).location_ids == {mhp.location.id, mhp.pine.id}
    listing = client.get("/admin/users/").get_data(as_text=True)
    assert "Agent · Forge at the Lake, Pine Ridge" in listing

    rival = make.business("Rival")
    response = client.post(f"/admin/users/edit/?id={mhp.mia.id}", data={**form, "locations": [str(rival.location.id)]})
    assert "Not a valid choice" in response.get_data(as_text=True)
    response = client.post(f"/admin/users/edit/?id={mhp.mia.id}", data={**form, "role": "admin"})
    assert "Only agents can be limited to locations" in response.get_data(as_text=True)
    response = client.post(f"/admin/users/edit/?id={mhp.mia.id}", data={**form, "locations": []})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, mhp.mia.id).location_ids is None
