"""Only owners manage owners, and an organization always keeps an owner (issue 16 item 3).

An admin had saved POST /admin/users/edit/?id=<owner> with role=admin and a new password, then signed in as that
owner with it; an admin had also deleted an owner.
"""

import threading
import time

import pytest
from sqlalchemy import select, text

from chatpad.models import AuditLog, User
from chatpad.users import UserChangeRefused, check_user_change
from tests.conftest import csrf_from, login, own_browser
from tests.factories import PASSWORD

NEW_PASSWORD = "a-brand-new-password"
LOCK_WAITS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


def _edit(client, user: User, **overrides):
    page = client.get(f"/admin/users/edit/?id={user.id}").get_data(as_text=True)
    data = {
        "email": user.email,
        "name": user.name or "",
        "role": user.role,
        "active": "y",
        "csrf_token": csrf_from(page),
    }
    data.update(overrides)
    return client.post(f"/admin/users/edit/?id={user.id}", data=data, follow_redirects=True)


def _delete(client, user: User):
    page = client.get("/admin/users/").get_data(as_text=True)
    return client.post(
        "/admin/users/delete/", data={"id": str(user.id), "csrf_token": csrf_from(page)}, follow_redirects=True
    )


def _signs_in(app, email: str, password: str) -> bool:
    return login(own_browser(app), email, password).status_code == 302


def test_an_admin_cannot_take_over_an_owner(app, db, make):
    biz = make.business(role="owner")
    owner = biz.user
    admin = make.user(biz.org, role="admin")
    client = own_browser(app)
    login(client, admin.email)

    response = _edit(client, owner, role="admin", new_password=NEW_PASSWORD)

    assert response.status_code == 200
    assert "Only an owner can change or remove an owner." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, owner.id).role == "owner"
    assert _signs_in(app, owner.email, PASSWORD)  # the old password still works
    assert not _signs_in(app, owner.email, NEW_PASSWORD)  # the admin's does not


def test_an_admin_is_not_offered_the_owner_role_and_cannot_post_it(app, db, make):
    biz = make.business(role="owner")
    admin = make.user(biz.org, role="admin")
    agent = make.user(biz.org, role="agent")
    client = own_browser(app)
    login(client, admin.email)

    new_page = client.get("/admin/invitations/new/").get_data(as_text=True)
    assert 'value="owner"' not in new_page and 'value="admin"' in new_page
    assert 'value="owner"' not in client.get(f"/admin/users/edit/?id={agent.id}").get_data(as_text=True)

    response = _edit(client, agent, role="owner")
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, agent.id).role == "agent"


def test_an_admin_cannot_delete_an_owner(app, db, make):
    biz = make.business(role="owner")
    admin = make.user(biz.org, role="admin")
    client = own_browser(app)
    login(client, admin.email)

    response = _delete(client, biz.user)

    assert response.status_code == 200
    assert "Only an owner can change or remove an owner." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, biz.user.id) is not None
    assert not db.session.scalar(select(AuditLog.id).where(AuditLog.action == "users.delete"))


def test_an_owner_can_manage_another_owner(app, db, make):
    biz = make.business(role="owner")
    second = make.user(biz.org, role="owner")
    client = own_browser(app)
    login(client, biz.user.email)

    response = _edit(client, second, new_password=NEW_PASSWORD)
    assert response.status_code == 200 and "Only an owner" not in response.get_data(as_text=True)
    assert _signs_in(app, second.email, NEW_PASSWORD)

    _edit(client, second, role="admin")
    db.session.expire_all()
    assert db.session.get(User, second.id).role == "admin"

    promoted = make.user(biz.org, role="agent")
    _edit(client, promoted, role="owner")
    db.session.expire_all()
    assert db.session.get(User, promoted.id).role == "owner"

    _delete(client, promoted)
    db.session.expire_all()
    assert db.session.get(User, promoted.id) is None


def test_the_last_owner_can_never_be_demoted_deactivated_or_deleted(db, make):
    """Whoever tries, the operator's CLI (actor None, who counts as an owner) included; a deactivated owner does
    not count as the organization's owner."""
    biz = make.business(role="owner")
    make.user(biz.org, role="owner").active = False
    db.session.commit()
    owner = biz.user

    for change in ({"role": "admin"}, {"role": "agent"}, {"active": False}):
        for name, value in change.items():
            setattr(owner, name, value)
        with pytest.raises(UserChangeRefused, match="last owner"):
            check_user_change(None, owner)
        db.session.rollback()
    with pytest.raises(UserChangeRefused, match="last owner"):
        check_user_change(None, owner, deleting=True)
    db.session.rollback()

    make.user(biz.org, role="owner")  # with a second active owner, the first may go
    owner = db.session.get(User, owner.id)
    owner.role = "admin"
    check_user_change(None, owner)


def test_two_owners_demoting_each_other_at_once_leave_one_owner(app, db, make):
    """The check locks the organization's owners until the change commits: the second demotion waits for the first
    and then finds no other owner (no deadlock, no organization without an owner)."""
    biz = make.business(role="owner")
    first, second = biz.user, make.user(biz.org, role="owner")
    first_id, second_id = first.id, second.id

    # Session 1 (this thread): the first owner demotes the second, not committed yet.
    target = db.session.get(User, second_id)
    target.role = "admin"
    check_user_change(db.session.get(User, first_id), target)
    db.session.flush()

    outcome: dict[str, object] = {}

    def demote_first() -> None:
        with app.app_context():
            try:
                me = db.session.get(User, second_id)
                victim = db.session.get(User, first_id)
                victim.role = "admin"
                check_user_change(me, victim)
                db.session.commit()
                outcome["result"] = "saved"
            except UserChangeRefused as refused:
                outcome["result"] = str(refused)
                db.session.rollback()
            finally:
                db.session.remove()

    other = threading.Thread(target=demote_first)
    other.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until the second transaction is blocked on the owners' row lock
        with db.engine.connect() as conn:
            waiting = conn.scalar(LOCK_WAITS)
        if waiting:
            break
        time.sleep(0.05)
    assert waiting, "the second demotion should wait for the first"
    db.session.commit()
    other.join(10)

    assert "last owner" in str(outcome.get("result"))
    db.session.expire_all()
    assert db.session.get(User, first_id).role == "owner"
    assert db.session.get(User, second_id).role == "admin"


def test_an_admin_bulk_deleting_owners_with_others_deletes_only_the_others(app, db, make):
    biz = make.business(role="owner")
    admin = make.user(biz.org, role="admin")
    agent = make.user(biz.org, role="agent")
    client = own_browser(app)
    login(client, admin.email)
    page = client.get("/admin/users/").get_data(as_text=True)
    response = client.post(
        "/admin/users/action/",
        data={"action": "delete", "rowid": [str(biz.user.id), str(agent.id)], "csrf_token": csrf_from(page)},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Only an owner can change or remove an owner." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, biz.user.id) is not None
    assert db.session.get(User, agent.id) is None
