"""Connect Email's screens against real mail servers (Dovecot, aiosmtpd): Test connection reports each step; Connect
stores the inbox only when both servers accept it; Google and Microsoft go through the email channel's OAuth."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from chatpad.models import SocialAccount
from tests.conftest import csrf_from


def imap_form(dovecot, smtp_server, address, password, **extra):
    return {
        "address": address,
        "name": "",
        "location": "",
        "imap_host": dovecot.host,
        "imap_port": str(dovecot.imap_port),
        "imap_security": "starttls",
        "smtp_host": smtp_server.host,
        "smtp_port": str(smtp_server.port),
        "smtp_security": "starttls",
        "username": "",
        "password": password,
        "folder": "INBOX",
        "backfill_days": "7",
        **extra,
    }


def submit(client, url, data):
    page = client.get(url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_from(page), **data})


def inboxes(db, org_id):
    db.session.expire_all()
    return db.session.scalars(
        select(SocialAccount).where(SocialAccount.tenant_clause(org_id), SocialAccount.channel == "email")
    ).all()


def test_imap_inbox_is_tested_then_connected(admin_client, db, dovecot, smtp_server, mail_app):
    """Test connection reports both servers without storing anything; Connect stores the inbox on its location."""
    client, biz = admin_client(locations=("Forge at the Lake",))
    address, password = dovecot.add_user()
    url = f"/admin/integrations/email/imap?agent={biz.agent.id}"
    forge = next(loc for loc in biz.agent.locations if loc.name == "Forge at the Lake")

    tested = submit(client, url, {**imap_form(dovecot, smtp_server, address, password), "action": "test"})
    html = tested.get_data(as_text=True)
    assert "Both servers accepted the inbox." in html and "signed in as" in html
    assert inboxes(db, biz.org.id) == []

    form = imap_form(dovecot, smtp_server, address, password, location=str(forge.id), name="Forge office")
    connected = submit(client, url, {**form, "action": "connect"})
    assert connected.status_code == 302
    [inbox] = inboxes(db, biz.org.id)
    assert inbox.account_id == address and inbox.account_name == "Forge office"
    assert inbox.location_id == forge.id and inbox.status == "connected"
    assert inbox.access_token == password and inbox.meta["imap_host"] == dovecot.host
    assert "Forge office" in client.get(connected.headers["Location"]).get_data(as_text=True)


def test_wrong_password_connects_nothing_and_says_which_step(admin_client, db, dovecot, smtp_server, mail_app):
    """A wrong password: the report names the failing step in words; no inbox is stored."""
    client, biz = admin_client()
    address, _password = dovecot.add_user()
    url = f"/admin/integrations/email/imap?agent={biz.agent.id}"
    response = submit(
        client, url, {**imap_form(dovecot, smtp_server, address, "not-the-password"), "action": "connect"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Authentication failed" in html and "Nothing was connected" in html
    assert inboxes(db, biz.org.id) == []


def test_bad_port_is_a_clear_error(admin_client, db, dovecot, smtp_server, mail_app):
    """A port that is not a number is refused with a message, not a crash."""
    client, biz = admin_client()
    url = f"/admin/integrations/email/imap?agent={biz.agent.id}"
    form = imap_form(dovecot, smtp_server, "a@example.com", "x", imap_port="nine")
    html = submit(client, url, {**form, "action": "test"}).get_data(as_text=True)
    assert "The IMAP port must be a number" in html
    assert inboxes(db, biz.org.id) == []


def test_google_and_microsoft_go_through_the_email_oauth(admin_client, db, mail_app):
    """The Google and Microsoft buttons start the email channel's OAuth with the agent, location and way back."""
    client, biz = admin_client(locations=("Forge at the Lake",))
    html = client.get(f"/admin/integrations/email/new?agent={biz.agent.id}").get_data(as_text=True)
    assert 'action="/integrations/email/oauth/google/start"' in html
    assert 'action="/integrations/email/oauth/microsoft/start"' in html
    forge = next(loc for loc in biz.agent.locations if loc.name == "Forge at the Lake")
    started = client.get(
        f"/integrations/email/oauth/google/start?agent_id={biz.agent.id}&location_id={forge.id}"
        f"&next=/admin/integrations/?agent={biz.agent.id}"
    )
    assert started.status_code == 302
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert "https://mail.google.com/" in query["scope"][0] and query["access_type"] == ["offline"]


def test_reconnect_an_inbox(admin_client, db, make):
    """Reconnect: an OAuth inbox signs in again with its provider; an IMAP inbox reopens its form, pre-filled."""
    client, biz = admin_client()
    google = make.account(
        biz.agent, "email", account_id="forge@example.com", meta={"provider": "google"}, status="needs_reauth"
    )
    imap = make.account(
        biz.agent,
        "email",
        account_id="office@example.com",
        meta={
            "provider": "imap",
            "imap_host": "mail.example.com",
            "imap_port": 993,
            "smtp_host": "mail.example.com",
            "smtp_port": 587,
        },
        status="needs_reauth",
    )
    response = client.get(f"/admin/integrations/accounts/{google.id}/reconnect")
    assert response.headers["Location"].startswith("/integrations/email/oauth/google/start?")
    assert parse_qs(urlsplit(response.headers["Location"]).query)["login_hint"] == ["forge@example.com"]
    response = client.get(f"/admin/integrations/accounts/{imap.id}/reconnect")
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="mail.example.com"' in form and "Reconnect office@example.com" in form
