"""People join by invitation, so adding someone can't tell an admin which addresses have accounts (issue 16 item 8).

Creating a user with an address another organization uses answered "Already exists.": any admin could learn which
addresses have ChatPad accounts. Addresses stay unique across ChatPad (one sign-in form, no organization to pick),
so the admin now invites an address, is told "Invitation sent" whatever it is, and only the mail to that address
says whether it can join.
"""

import re

from sqlalchemy import select

from chatpad.models import Invitation, User
from chatpad.redact import redact
from tests.conftest import csrf_from, login, own_browser

LINK = re.compile(rb"https?://[^\s]+/invite/([A-Za-z0-9_\-]+)")


def _invite(browser, email: str, role: str = "agent", name: str = ""):
    page = browser.get("/admin/invitations/new/").get_data(as_text=True)
    data = {"email": email, "name": name, "role": role, "csrf_token": csrf_from(page)}
    return browser.post("/admin/invitations/new/", data=data, follow_redirects=True)


def _flashes(response) -> list[str]:
    return re.findall(
        r'class="alert[^"]*"[^>]*>\s*(?:<button[^>]*>.*?</button>)?\s*([^<]+?)\s*<',
        response.get_data(as_text=True),
        re.S,
    )


def _admin_of_a_business(app, make):
    biz = make.business()
    browser = own_browser(app)
    login(browser, biz.user.email)
    return biz, browser


def test_an_address_of_another_organization_gets_the_same_answer_as_any_other(app, db, make, workers, alert_smtp):
    biz, browser = _admin_of_a_business(app, make)
    stranger = make.user(make.org("Rival Parks"), email="taken@rival.example", role="owner")

    fresh = _invite(browser, "newcomer@example.com")
    taken = _invite(browser, stranger.email)

    assert fresh.status_code == taken.status_code == 200
    said_fresh = [m.replace("newcomer@example.com", "X") for m in _flashes(fresh)]
    said_taken = [m.replace(stranger.email, "X") for m in _flashes(taken)]
    assert said_fresh == said_taken and "Invitation sent to X." in said_fresh
    assert "already" not in taken.get_data(as_text=True).lower()
    listing = browser.get("/admin/invitations/").get_data(as_text=True)
    assert "newcomer@example.com" in listing and stranger.email in listing
    rows = db.session.scalars(select(Invitation).where(Invitation.organization_id == biz.org.id)).all()
    assert len(rows) == 2

    workers.run("mail")
    mails = {m["to"][0]: m["data"] for m in alert_smtp.messages}
    assert LINK.search(mails["newcomer@example.com"])
    assert not LINK.search(mails[stranger.email])  # only the mailbox is told, and it gets no way in
    assert b"already has a ChatPad account" in mails[stranger.email]
    db.session.expire_all()
    assert [r.status for r in db.session.scalars(select(Invitation).order_by(Invitation.id))] == ["sent", "sent"]
    assert db.session.get(User, stranger.id).organization_id != biz.org.id


def test_the_old_create_form_no_longer_answers_already_exists(app, db, make, alert_smtp):
    """The Users form's own Create is gone (people join by invitation): posting to it says nothing about the
    address and creates no one."""
    biz, browser = _admin_of_a_business(app, make)
    stranger = make.user(make.org(), email="someone@rival.example")
    token = csrf_from(browser.get("/admin/users/").get_data(as_text=True))
    response = browser.post(
        "/admin/users/new/",
        data={
            "email": stranger.email,
            "role": "agent",
            "active": "y",
            "new_password": "long-enough-pw",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert "Already exists" not in response.get_data(as_text=True)
    assert 'href="/admin/invitations/new/"' in browser.get("/admin/users/").get_data(as_text=True)
    assert (
        db.session.scalar(select(User.id).where(User.organization_id == biz.org.id, User.email == stranger.email))
        is None
    )


def test_an_invited_person_joins_with_a_password_of_their_own(app, db, make, workers, alert_smtp):
    biz, browser = _admin_of_a_business(app, make)
    assert "Invitation sent to pat@example.com." in _flashes(_invite(browser, "Pat@Example.com", name="Pat"))
    workers.run("mail")
    token = LINK.search(alert_smtp.messages[0]["data"]).group(1).decode()

    newcomer = own_browser(app)
    page = newcomer.get(f"/invite/{token}")
    assert page.status_code == 200 and biz.org.name in page.get_data(as_text=True)
    mismatch = newcomer.post(
        f"/invite/{token}",
        data={
            "password": "my-own-password",
            "confirm": "something-else",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert mismatch.status_code == 400 and "The two passwords differ." in mismatch.get_data(as_text=True)
    joined = newcomer.post(
        f"/invite/{token}",
        data={
            "password": "my-own-password",
            "confirm": "my-own-password",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert joined.status_code == 302
    assert newcomer.get("/admin/").status_code == 200
    user = db.session.scalar(select(User).where(User.email == "pat@example.com"))
    assert user.organization_id == biz.org.id and user.role == "agent" and user.name == "Pat"
    assert login(own_browser(app), "pat@example.com", "my-own-password").status_code == 302

    again = own_browser(app).get(f"/invite/{token}")
    assert again.status_code == 404 and "This invitation has been used." in again.get_data(as_text=True)
    assert own_browser(app).get("/invite/not-a-real-token-at-all").status_code == 404


def test_an_address_taken_after_the_invitation_was_sent_cannot_join(app, db, make, workers, alert_smtp):
    _biz, browser = _admin_of_a_business(app, make)
    _invite(browser, "late@example.com")
    workers.run("mail")
    token = LINK.search(alert_smtp.messages[0]["data"]).group(1).decode()
    make.user(make.org(), email="late@example.com")

    newcomer = own_browser(app)
    page = newcomer.get(f"/invite/{token}").get_data(as_text=True)
    response = newcomer.post(
        f"/invite/{token}",
        data={"password": "pw-long-enough", "confirm": "pw-long-enough", "csrf_token": csrf_from(page)},
    )
    assert response.status_code == 409 and "already has a ChatPad account" in response.get_data(as_text=True)
    assert len(db.session.scalars(select(User).where(User.email == "late@example.com")).all()) == 1


def test_an_admin_cannot_invite_an_owner(app, db, make, alert_smtp):
    biz = make.business()
    admin = make.user(biz.org, role="admin")
    browser = own_browser(app)
    login(browser, admin.email)
    assert 'value="owner"' not in browser.get("/admin/invitations/new/").get_data(as_text=True)
    response = _invite(browser, "boss@example.com", role="owner")
    assert response.status_code == 200
    assert db.session.scalar(select(Invitation.id)) is None


def test_without_a_mail_server_every_address_gets_the_same_refusal(app, db, make):
    biz, browser = _admin_of_a_business(app, make)
    stranger = make.user(make.org(), email="elsewhere@rival.example")
    fresh, taken = _invite(browser, "fresh@example.com"), _invite(browser, stranger.email)
    said = [
        [m.replace(a, "X") for m in _flashes(r)] for r, a in ((fresh, "fresh@example.com"), (taken, stranger.email))
    ]
    assert said[0] == said[1] and any("no mail server is set" in m for m in said[0])
    assert db.session.scalar(select(Invitation.id)) is None


def test_an_invitation_link_is_redacted_from_logs():
    assert "abcdefghijklmnopqrstuvwxyz123456" not in redact(
        '"GET /invite/abcdefghijklmnopqrstuvwxyz123456 HTTP/1.1" 200'
    )


def test_an_agent_invited_to_a_location_deleted_since_joins_limited_to_the_rest(app, db, make, workers, alert_smtp):
    """Limited to locations: the person joins limited to those that still exist (none left: sees nothing), and the
    link answers a page, not a 500."""
    biz, browser = _admin_of_a_business(app, make)
    gone = make.location(biz.agent, "Closing Soon")
    page = browser.get("/admin/invitations/new/").get_data(as_text=True)
    browser.post(
        "/admin/invitations/new/",
        data={
            "email": "site@example.com",
            "role": "agent",
            "locations": [str(biz.location.id), str(gone.id)],
            "csrf_token": csrf_from(page),
        },
    )
    workers.run("mail")
    token = LINK.search(alert_smtp.messages[0]["data"]).group(1).decode()
    db.session.delete(db.session.get(type(gone), gone.id))
    db.session.commit()

    newcomer = own_browser(app)
    form = newcomer.get(f"/invite/{token}").get_data(as_text=True)
    joined = newcomer.post(
        f"/invite/{token}",
        data={"password": "pw-long-enough", "confirm": "pw-long-enough", "csrf_token": csrf_from(form)},
    )
    assert joined.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "site@example.com"))
    assert user.limited_to_locations and user.location_ids == frozenset({biz.location.id})


def test_editing_a_users_address_says_nothing_about_other_organizations(app, db, make):
    """The Users form's email field was a second probe: typing another organization's address into a colleague's
    row answered 'Already exists.', an unknown one was saved. An address is no longer changed there at all: every
    new address gets the same refusal, and the row keeps its own."""
    biz = make.business(role="owner")
    other = make.business(role="owner")
    agent = make.user(biz.org, role="agent")
    client = own_browser(app)
    login(client, biz.user.email)

    answers = []
    for address in (other.user.email, "nobody-has-this@example.com"):
        page = client.get(f"/admin/users/edit/?id={agent.id}").get_data(as_text=True)
        response = client.post(
            f"/admin/users/edit/?id={agent.id}",
            data={"email": address, "role": "agent", "active": "y", "csrf_token": csrf_from(page)},
            follow_redirects=True,
        )
        html = response.get_data(as_text=True)
        assert "Already exists" not in html and "already exists" not in html
        answers.append("invite the new address" in html)

    assert answers == [True, True]
    db.session.expire_all()
    assert db.session.get(User, agent.id).email == agent.email


def test_an_invitation_dies_with_its_senders_rights(app, db, make, workers, alert_smtp):
    """An admin invites an admin, then is demoted to agent: the link no longer makes anyone an admin (nor anything
    else), on opening or on submitting; the same for a sender since deactivated."""
    biz = make.business()
    sender = make.user(biz.org, email="sender-admin@example.com", role="admin")
    browser = own_browser(app)
    login(browser, sender.email)
    assert "Invitation sent to second@example.com." in _flashes(_invite(browser, "second@example.com", role="admin"))
    assert "Invitation sent to third@example.com." in _flashes(_invite(browser, "third@example.com", role="agent"))
    workers.run("mail")
    tokens = [LINK.search(m["data"]).group(1).decode() for m in alert_smtp.messages]
    assert len(tokens) == 2

    newcomer = own_browser(app)
    page = newcomer.get(f"/invite/{tokens[0]}").get_data(as_text=True)
    db.session.get(User, sender.id).role = "agent"
    db.session.commit()
    answer = newcomer.post(
        f"/invite/{tokens[0]}",
        data={"password": "pw-long-enough", "confirm": "pw-long-enough", "csrf_token": csrf_from(page)},
    )
    assert answer.status_code in (404, 409) and "no longer valid" in answer.get_data(as_text=True)
    assert own_browser(app).get(f"/invite/{tokens[1]}").status_code == 404  # an agent invites no one

    db.session.get(User, sender.id).role, db.session.get(User, sender.id).active = "admin", False
    db.session.commit()
    assert own_browser(app).get(f"/invite/{tokens[1]}").status_code == 404
    assert (
        db.session.scalars(select(User).where(User.email.in_(["second@example.com", "third@example.com"]))).all() == []
    )
