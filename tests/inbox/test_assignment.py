"""Assignment: by hand (the colleague is told), shown and filtered in the list, and automatic for handoffs: round robin
among the location's members on duty (online, or within its office hours)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from chatpad.models import Conversation, Notification, utcnow
from chatpad.pipeline import take_over
from chatpad.team import assign_handoff, set_locations
from tests.conftest import login
from tests.inbox.test_inbox_list import names_in_order

ALWAYS_OPEN = {"weekly": {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
ALWAYS_CLOSED = {"weekly": {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}


@pytest.fixture
def forge(make, inbox_make):
    """Forge at the Lake with two on-site managers, Mia and Max; Pine Ridge with Pete."""
    biz = make.business("MHP")
    biz.location.name = "Forge at the Lake"
    biz.location.hours = ALWAYS_CLOSED
    biz.pine = make.location(biz.agent, "Pine Ridge")
    biz.pine_page = make.account(biz.agent, "facebook", biz.pine)
    people = {}
    for key, name, where in (("mia", "Mia", biz.location), ("max", "Max", biz.location), ("pete", "Pete", biz.pine)):
        user = make.user(biz.org, email=f"{key}@mhp.example.com", role="agent")
        user.name = name
        set_locations(user, [where.id])
        people[key] = user
    make.db.session.commit()
    biz.mia, biz.max, biz.pete = people["mia"], people["max"], people["pete"]

    def waiting(account=None, name="Jane Doe"):
        conv = inbox_make.conversation(account or biz.account, inbox_make.contact(biz.org, name))
        inbox_make.message(conv, "Can I talk to a person?")
        return conv

    biz.waiting = waiting
    return biz


def _online(db, *users, ago=timedelta(minutes=1)):
    for user in users:
        user.last_seen_at = utcnow() - ago
    db.session.commit()


def _assignee(db, conv) -> int | None:
    db.session.expire_all()
    return db.session.get(Conversation, conv.id).assigned_user_id


def test_handoffs_go_round_robin_to_the_members_online(db, forge):
    """Mia and Max are online: handoffs alternate between them; each is told in their own bell."""
    _online(db, forge.mia, forge.max)
    convs = [forge.waiting(name=f"Customer {n}") for n in range(4)]
    for conv in convs:
        take_over(db.session.get(Conversation, conv.id), reason="The customer asked for a person")
    assigned = [_assignee(db, c) for c in convs]
    assert set(assigned[:2]) == {forge.mia.id, forge.max.id} and assigned[2:] == assigned[:2]
    told = db.session.scalars(
        select(Notification).where(Notification.kind == "assigned", Notification.user_id == assigned[0])
    ).all()
    assert told and told[0].title == "You were assigned the conversation with Customer 0"
    assert "is waiting for a person: The customer asked for a person" in told[0].body
    # The assignee is not told twice; Pine Ridge's manager hears of none of it; the owner hears of the handoff.
    handoffs = {n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "handoff"))}
    assert forge.pete.id not in handoffs and forge.user.id in handoffs
    first = db.session.scalars(
        select(Notification).where(Notification.conversation_id == convs[0].id, Notification.user_id == assigned[0])
    ).all()
    assert [n.kind for n in first] == ["assigned"]


def test_only_whoever_is_online_when_someone_is(db, forge):
    _online(db, forge.max)
    _online(db, forge.mia, ago=timedelta(hours=3))  # seen this morning: not online
    forge.location.hours = ALWAYS_OPEN
    db.session.commit()
    for _ in range(2):
        conv = forge.waiting()
        take_over(db.session.get(Conversation, conv.id), reason="Asked for a person")
        assert _assignee(db, conv) == forge.max.id


def test_nobody_online_within_office_hours_rotates_among_all_members(db, forge):
    forge.location.hours = ALWAYS_OPEN
    db.session.commit()
    got = []
    for _ in range(2):
        conv = forge.waiting()
        assert assign_handoff(db.session.get(Conversation, conv.id)) is not None
        db.session.commit()
        got.append(_assignee(db, conv))
    assert set(got) == {forge.mia.id, forge.max.id}


def test_nobody_on_duty_leaves_it_to_the_team(db, forge):
    """Outside office hours and nobody online: unassigned, and everyone who may see it is told."""
    conv = forge.waiting()
    take_over(db.session.get(Conversation, conv.id), reason="Asked for a person")
    assert _assignee(db, conv) is None
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "handoff")))
    assert told == {forge.user.id, forge.mia.id, forge.max.id}


def test_an_assigned_conversation_keeps_its_assignee_and_inactive_people_are_skipped(db, forge):
    _online(db, forge.mia, forge.max)
    forge.max.active = False
    db.session.commit()
    conv = forge.waiting()
    take_over(db.session.get(Conversation, conv.id), reason="Asked")
    assert _assignee(db, conv) == forge.mia.id
    again = db.session.get(Conversation, conv.id)
    again.assigned_user_id = forge.user.id
    db.session.commit()
    take_over(again, reason="Asked again")
    assert _assignee(db, conv) == forge.user.id


def test_the_list_shows_and_filters_by_assignee(client, db, forge):
    a = forge.waiting(name="Ana Assigned")
    b = forge.waiting(name="Una Unassigned")
    c = forge.waiting(name="Ole Owners")
    a.assigned_user_id = forge.mia.id
    c.assigned_user_id = forge.user.id
    db.session.commit()
    login(client, forge.user.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert "&#128100; Mia" in html and "Unassigned" in html and "&#128100; You" in html
    assert names_in_order(client.get("/admin/inbox/?assignee=none").get_data(as_text=True)) == [b.contact.name]
    assert names_in_order(client.get(f"/admin/inbox/?assignee={forge.mia.id}").get_data(as_text=True)) == [
        "Ana Assigned"
    ]
    mine = client.get("/admin/inbox/?assignee=me").get_data(as_text=True)
    assert names_in_order(mine) == ["Ole Owners"] and 'value="me" selected' in mine
    assert "Ignored a filter" in client.get("/admin/inbox/?assignee=bob").get_data(as_text=True)
    # The filter offers the colleagues: Pete (Pine Ridge) too for the owner, but not to Forge's manager.
    assert ">Pete<" in html


def test_a_manager_filters_among_their_own_colleagues(client, db, forge):
    login(client, forge.mia.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert ">Max<" in html and ">Pete<" not in html


def test_using_the_inbox_marks_a_person_online(client, db, forge):
    assert forge.mia.last_seen_at is None
    login(client, forge.mia.email)
    client.get("/admin/inbox/")
    db.session.expire_all()
    from chatpad.models import User

    seen = db.session.get(User, forge.mia.id).last_seen_at
    assert seen is not None and utcnow() - seen < timedelta(minutes=1)
