"""Google and Microsoft inboxes over OAuth: the consent flow through the sandbox, XOAUTH2 against Dovecot and SMTP,
refresh before expiry, Microsoft's refresh-token rotation, and reconnection when a grant dies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from chatpad.messages import OutboundReply
from chatpad.models import Conversation, Message, Notification, SocialAccount
from chatpad.pipeline import queue_reply
from chatpad.pipeline.mail_sync import sync_inbox
from tests.conftest import login

from ..plugins.mail import free_port, oauth_server_config
from .test_email_sync import mail


def consent(mail_sandbox, authorize_url: str, email: str, decision: str = "allow") -> str:
    """Play the user on the provider's consent page (real HTTP to the sandbox); returns where it redirects."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = {
        unescape(k): unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    answer = requests.post(
        mail_sandbox.url + action,
        data={**fields, "email": email, "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def connect(client, mail_sandbox, provider: str, biz, email: str, decision: str = "allow"):
    """Connect an inbox the way an admin does: start → provider consent → callback. Returns the final response."""
    with client.session_transaction() as session:
        signed_in = "_user_id" in session
    if not signed_in:
        login(client, biz.user.email)
    start = client.get(
        f"/integrations/email/oauth/{provider}/start",
        query_string={"agent_id": str(biz.agent.id), "location_id": str(biz.location.id), "next": "/admin/"},
    )
    assert start.status_code == 302
    back = urlsplit(consent(mail_sandbox, start.headers["Location"], email, decision))
    return client.get(back.path, query_string=back.query)


def inbox(db, address: str) -> SocialAccount:
    db.session.expire_all()
    return db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == address))


def test_google_inbox_connects_through_consent(db, make, client, mail_sandbox, mail_app, oauth_mail_server):
    """An admin grants Google access: the inbox is connected with offline access, the tokens stored encrypted."""
    biz = make.business()
    login(client, biz.user.email)
    start = client.get(
        "/integrations/email/oauth/google/start",
        query_string={"agent_id": str(biz.agent.id), "location_id": str(biz.location.id)},
    )
    params = parse_qs(urlsplit(start.headers["Location"]).query)
    assert params["access_type"] == ["offline"] and params["prompt"] == ["consent"]
    assert "https://mail.google.com/" in params["scope"][0].split() and params["response_type"] == ["code"]
    response = connect(client, mail_sandbox, "google", biz, "forge.lake@gmail.example")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    account = inbox(db, "forge.lake@gmail.example")
    assert account.location_id == biz.location.id and account.status == "connected"
    assert account.meta["provider"] == "google" and account.meta["auth"] == "oauth"
    # Development and tests: the mailbox lives in the sandbox mail server (GOOGLE_IMAP_SERVER), which was tested.
    assert account.meta["imap_host"] == "127.0.0.1" and account.meta["imap_port"] == oauth_mail_server.imap_port
    assert "password" not in str(account.meta)
    assert account.refresh_token.startswith("1//") and account.access_token.startswith("ya29.")
    assert account.token_expires_at > datetime.now(UTC) + timedelta(minutes=55)
    raw = db.session.execute(
        text("SELECT access_token, refresh_token FROM social_accounts WHERE account_id = :a"), {"a": account.account_id}
    ).one()
    assert all(value.startswith("gAAAA") for value in raw)


def test_microsoft_inbox_connects_through_consent(db, make, client, mail_sandbox, mail_app, oauth_mail_server):
    """Microsoft 365: IMAP and SMTP scopes with offline_access, Outlook's servers, a refresh token kept."""
    biz = make.business()
    response = connect(client, mail_sandbox, "microsoft", biz, "clearview@contoso.example")
    assert response.status_code == 302
    account = inbox(db, "clearview@contoso.example")
    assert account.meta["provider"] == "microsoft" and account.meta["smtp_port"] == oauth_mail_server.smtp_port
    assert account.refresh_token


def test_production_points_oauth_inboxes_at_the_providers():
    """Outside development the Google and Microsoft servers are theirs (platform-reference.md §D.1, §D.2)."""
    from chatpad.channels.email.settings import provider_servers
    from config import ProductionConfig

    config = {key: getattr(ProductionConfig, key) for key in dir(ProductionConfig) if key.isupper()}
    google, microsoft = provider_servers("google", config), provider_servers("microsoft", config)
    assert (google["imap_host"], google["imap_port"], google["imap_security"]) == ("imap.gmail.com", 993, "ssl")
    assert (google["smtp_host"], google["smtp_port"]) == ("smtp.gmail.com", 465)
    assert (microsoft["imap_host"], microsoft["smtp_host"]) == ("outlook.office365.com", "smtp.office365.com")
    assert microsoft["smtp_port"] == 587 and microsoft["smtp_security"] == "starttls"


def test_denied_consent_connects_nothing(db, make, client, mail_sandbox, mail_app):
    """When the user presses Deny, nothing is connected and the admin is told why."""
    biz = make.business()
    response = connect(client, mail_sandbox, "google", biz, "no@gmail.example", decision="deny")
    assert response.status_code == 302 and inbox(db, "no@gmail.example") is None
    with client.session_transaction() as session:
        assert any("did not grant access" in message for _, message in session.get("_flashes", []))


def test_callback_without_our_state_is_refused(db, make, client, mail_app):
    """A callback that this browser did not start (CSRF on the OAuth flow) is refused."""
    biz = make.business()
    login(client, biz.user.email)
    assert client.get("/integrations/email/oauth/google/callback?code=x&state=forged").status_code == 400


def test_other_organizations_agent_cannot_be_used(db, make, client, mail_app):
    """An admin cannot connect an inbox to another business's agent."""
    mine, theirs = make.business(), make.business()
    login(client, mine.user.email)
    response = client.get("/integrations/email/oauth/google/start", query_string={"agent_id": str(theirs.agent.id)})
    assert response.status_code == 404


def _due(db, account, minutes: float = 2) -> None:
    account.token_expires_at = datetime.now(UTC) + timedelta(minutes=minutes)
    db.session.commit()


def test_google_token_is_refreshed_before_it_expires(db, make, client, mail_sandbox, mail_app, workers):
    """The scheduler refreshes an access token about to expire; Google's refresh token stays the same."""
    biz = make.business()
    connect(client, mail_sandbox, "google", biz, "refresh.me@gmail.example")
    account = inbox(db, "refresh.me@gmail.example")
    old_access, old_refresh = account.access_token, account.refresh_token
    _due(db, account)
    from jobs.mail import refresh_mail_tokens

    assert refresh_mail_tokens() == 1
    workers.run("mail")
    account = inbox(db, "refresh.me@gmail.example")
    assert account.access_token != old_access and account.refresh_token == old_refresh
    assert account.token_expires_at > datetime.now(UTC) + timedelta(minutes=55)
    assert refresh_mail_tokens() == 0  # nothing due any more


def test_microsoft_refresh_token_rotation_is_kept(db, make, client, mail_sandbox, mail_app, workers):
    """Every Microsoft refresh returns a new refresh token, and the new one is what we store."""
    biz = make.business()
    connect(client, mail_sandbox, "microsoft", biz, "rotate@contoso.example")
    account = inbox(db, "rotate@contoso.example")
    first_refresh = account.refresh_token
    _due(db, account)
    from jobs.mail import refresh_mail_tokens

    refresh_mail_tokens()
    workers.run("mail")
    account = inbox(db, "rotate@contoso.example")
    assert account.refresh_token != first_refresh and account.refresh_token.startswith("M.C5.")
    assert "refresh_rotated_at" in account.meta
    # Sixty to ninety minutes, as Microsoft's access tokens live.
    assert timedelta(minutes=58) < account.token_expires_at - datetime.now(UTC) <= timedelta(minutes=91)


def test_revoked_google_grant_asks_for_reconnection(db, make, client, mail_sandbox, mail_app, workers):
    """A dead refresh token (revoked, password changed) marks the inbox for reconnection and alerts the admins."""
    biz = make.business()
    connect(client, mail_sandbox, "google", biz, "revoked@gmail.example")
    account = inbox(db, "revoked@gmail.example")
    requests.post(f"{mail_sandbox.url}/google/revoke", data={"token": account.refresh_token}, timeout=10)
    _due(db, account)
    from jobs.mail import refresh_mail_tokens

    refresh_mail_tokens()
    workers.run("mail")
    account = inbox(db, "revoked@gmail.example")
    assert account.status == "needs_reauth"
    assert "invalid_grant" in account.last_error and "Token has been expired or revoked." in account.last_error
    notice = db.session.scalar(select(Notification).where(Notification.social_account_id == account.id))
    assert notice.kind == "account_needs_reauth"


def test_microsoft_inactive_refresh_token_names_the_aadsts_code(db, make, client, mail_sandbox, mail_app, workers):
    """Microsoft's 90-day inactivity expiry (AADSTS700082) is shown to the admin as the reason."""
    biz = make.business()
    connect(client, mail_sandbox, "microsoft", biz, "idle@contoso.example")
    requests.post(
        f"{mail_sandbox.url}/sandbox-api/oauth/revoke",
        json={"provider": "microsoft", "email": "idle@contoso.example", "reason": "inactive"},
        timeout=10,
    )
    account = inbox(db, "idle@contoso.example")
    _due(db, account)
    from jobs.mail import refresh_mail_token

    assert refresh_mail_token(str(account.id)) == "needs_reauth"
    assert "AADSTS700082" in inbox(db, "idle@contoso.example").last_error


def _oauth_inbox_on_test_servers(db, make, client, mail_sandbox, dovecot, smtp_server, provider="google"):
    """An OAuth inbox whose mailbox lives in the test Dovecot and whose replies go to the test SMTP server."""
    biz = make.business()
    address, _ = dovecot.add_user()
    connect(client, mail_sandbox, provider, biz, address)
    account = inbox(db, address)
    account.meta = {
        **account.meta,
        "imap_host": dovecot.host, "imap_port": dovecot.imap_port, "imap_security": "starttls",
        "smtp_host": smtp_server.host, "smtp_port": smtp_server.port, "smtp_security": "starttls",
        "append_sent": True,
    }  # fmt: skip
    db.session.commit()
    return biz, account, address


def test_xoauth2_sync_and_reply_against_real_servers(db, make, client, mail_sandbox, mail_app, dovecot, smtp_server,
                                                     workers):  # fmt: skip
    """With OAuth, Dovecot accepts our XOAUTH2 bearer token (checked with the provider) and so does SMTP."""
    _, account, address = _oauth_inbox_on_test_servers(db, make, client, mail_sandbox, dovecot, smtp_server)
    assert sync_inbox(account).status == "ok"
    dovecot.deliver(address, mail("oauth@customer.example", address, "Hi over OAuth"))
    assert sync_inbox(account).stored == 1
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    queue_reply(conversation, OutboundReply(text="Hello!"))
    workers.run("outbound")
    assert [r.login for r in smtp_server.received] == [address]
    assert len(dovecot.messages(address, "Sent")) == 1


def test_expired_access_token_is_refreshed_before_a_sync(db, make, client, mail_sandbox, mail_app, dovecot,
                                                         smtp_server):  # fmt: skip
    """An access token that has already expired is refreshed first, so the sync signs in without a failure."""
    _, account, _ = _oauth_inbox_on_test_servers(db, make, client, mail_sandbox, dovecot, smtp_server, "microsoft")
    account.token_expires_at = datetime.now(UTC) - timedelta(minutes=5)
    account.access_token = "EwB.sbx.expired.invalid"
    db.session.commit()
    assert sync_inbox(account).status == "ok"
    assert inbox(db, account.account_id).access_token != "EwB.sbx.expired.invalid"


def test_reconnecting_sends_what_waited(db, make, client, mail_sandbox, mail_app, dovecot, smtp_server, workers):
    """Replies held while the grant was dead go out once the admin reconnects the inbox."""
    biz, account, address = _oauth_inbox_on_test_servers(db, make, client, mail_sandbox, dovecot, smtp_server)
    sync_inbox(account)
    dovecot.deliver(address, mail("wait@customer.example", address, "Still there?"))
    sync_inbox(account)
    requests.post(
        f"{mail_sandbox.url}/sandbox-api/oauth/revoke", json={"provider": "google", "email": address}, timeout=10
    )
    account = inbox(db, address)
    account.token_expires_at = datetime.now(UTC)
    db.session.commit()
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    queue_reply(conversation, OutboundReply(text="Yes, here!"))
    workers.run("outbound")
    assert inbox(db, address).status == "needs_reauth" and smtp_server.received == []
    meta = dict(inbox(db, address).meta)
    connect(client, mail_sandbox, "google", biz, address)
    account = inbox(db, address)
    account.meta = {**account.meta, **{k: meta[k] for k in meta if k.startswith(("imap_", "smtp_"))}}
    db.session.commit()
    assert account.status == "connected"
    workers.run("outbound")
    message = db.session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                      Message.direction == "outbound"))  # fmt: skip
    assert message.status == "sent" and len(smtp_server.received) == 1


# --- the connection is tested before "Connected" (issue 16 item 13) ------------------------------------------------


def _flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


@pytest.fixture
def refusing_mail_server(mail_sandbox):
    """A sandbox mail server whose token check never answers yes: it refuses every XOAUTH2 sign-in."""
    from chatpad.sandbox.mail.server import MailServers
    from chatpad.sandbox.mail.store import MailStore

    servers = MailServers(
        MailStore(), host="127.0.0.1", imap_port=free_port(), smtp_port=free_port(),
        introspect_url=f"{mail_sandbox.url}/no-such-introspection",
    ).start()  # fmt: skip
    yield servers
    servers.stop()


def test_imap_refusing_the_token_connects_nothing_and_says_so(db, make, client, mail_sandbox, mail_app,
                                                              refusing_mail_server):  # fmt: skip
    """Google granted access but its IMAP server refuses the XOAUTH2 sign-in: no inbox, and the admin reads that the
    sign-in was refused (not "Connected")."""
    no = refusing_mail_server
    mail_app.config.update(oauth_server_config((no.host, no.imap_port), (no.host, no.smtp_port)))
    biz = make.business()
    response = connect(client, mail_sandbox, "google", biz, "refused@gmail.example")
    assert response.status_code == 302
    assert inbox(db, "refused@gmail.example") is None
    messages = _flashes(client)
    assert not any(m.startswith("Connected") for m in messages)
    assert any("refused the sign-in" in m and "IMAP" in m and "refused@gmail.example" in m for m in messages), messages


def test_smtp_refusing_the_token_connects_nothing(db, make, client, mail_sandbox, mail_app, oauth_mail_server,
                                                  refusing_mail_server):  # fmt: skip
    """IMAP works but Microsoft's SMTP refuses the token (SMTP AUTH off for the mailbox): still not connected."""
    good, refusing = oauth_mail_server, refusing_mail_server
    mail_app.config.update(oauth_server_config((good.host, good.imap_port), (refusing.host, refusing.smtp_port)))
    biz = make.business()
    connect(client, mail_sandbox, "microsoft", biz, "nosmtp@contoso.example")
    assert inbox(db, "nosmtp@contoso.example") is None
    assert any("SMTP server refused the sign-in" in m for m in _flashes(client)), _flashes(client)


def test_unreachable_mail_server_is_reported_as_a_network_failure(db, make, client, mail_sandbox, mail_app):
    """Nothing listens where the IMAP server should be: not connected, and the reason is the network, not the grant."""
    closed = free_port()
    mail_app.config.update(oauth_server_config(("127.0.0.1", closed), ("127.0.0.1", closed)))
    biz = make.business()
    connect(client, mail_sandbox, "google", biz, "offline@gmail.example")
    assert inbox(db, "offline@gmail.example") is None
    messages = _flashes(client)
    assert any("could not reach its IMAP server" in m and "network problem" in m for m in messages), messages
    assert not any("refused the sign-in" in m for m in messages)


def test_connected_google_inbox_syncs_mail_sent_to_it_and_replies(db, make, client, mail_sandbox, mail_app,
                                                                   oauth_mail_server, workers):  # fmt: skip
    """End to end on the sandbox mail server, as in make run: connect through consent, a customer's mail sent to the
    mailbox is synced into the inbox, and the reply goes out over SMTP XOAUTH2 into the customer's mailbox."""
    biz = make.business()
    address = "frontdesk@gmail.example"
    connect(client, mail_sandbox, "google", biz, address)
    assert any(m == f"Connected {address}." for m in _flashes(client))
    account = inbox(db, address)
    assert account.status == "connected"
    assert sync_inbox(account).status == "ok"

    mail_sandbox.app.extensions["sandbox.mail_store"] = oauth_mail_server.store
    try:
        sent = requests.post(
            f"{mail_sandbox.url}/mail/send",
            data={"name": "Pat Customer", "from": "pat@customer.example", "to": address,
                  "subject": "Lot 12 still free?", "body": "Is lot 12 still free?"},
            allow_redirects=False, timeout=10,
        )  # fmt: skip
    finally:
        mail_sandbox.app.extensions.pop("sandbox.mail_store", None)
    assert sent.status_code == 302
    assert sync_inbox(inbox(db, address)).stored == 1
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    assert conversation.subject == "Lot 12 still free?"
    queue_reply(conversation, OutboundReply(text="Yes, lot 12 is free."))
    workers.run("outbound")
    folder = oauth_mail_server.store.folder("pat@customer.example", "INBOX")
    assert folder is not None and any(b"Yes, lot 12 is free." in m.raw for m in folder.sorted())
    # Like Gmail, the provider's SMTP filed it in Sent; ChatPad appended no second copy.
    sent_folder = oauth_mail_server.store.folder(address, "Sent")
    assert [b"Yes, lot 12 is free." in m.raw for m in sent_folder.sorted()] == [True]
