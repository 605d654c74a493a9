"""The demo's mail path (make run, no Debian packages): the sandbox's pure-Python IMAP/SMTP server holds the 21 demo
inboxes; a customer writes from the sandbox page, ChatPad syncs it and the reply lands in the customer's mailbox."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from chatpad import demo_data
from chatpad.channels.email.connection import test_connection as check_connection
from chatpad.channels.email.mailer import inbox_settings
from chatpad.messages import OutboundReply
from chatpad.models import Conversation, SocialAccount
from chatpad.pipeline import queue_reply
from chatpad.sandbox.mail.server import MailServers
from chatpad.sandbox.mail.store import MailStore

from ..plugins.mail import free_port


@pytest.fixture
def demo_mail(app, mail_sandbox, mail_app):
    """The sandbox mail server on free ports, with the demo inboxes' passwords, visible to the sandbox pages."""
    store = MailStore()
    for address in [demo_data.GENERAL_INBOX, *(loc.email for loc in demo_data.LOCATIONS)]:
        store.set_password(address, demo_data.mailbox_password(app.config["META_APP_SECRET"], address))
    servers = MailServers(
        store, host="127.0.0.1", imap_port=free_port(), smtp_port=free_port(),
        introspect_url=f"{mail_sandbox.url}/oauth/introspect",
    ).start()  # fmt: skip
    saved = {k: app.config.get(k) for k in ("SANDBOX_IMAP_PORT", "SANDBOX_SMTP_PORT")}
    app.config.update(SANDBOX_IMAP_PORT=servers.imap_port, SANDBOX_SMTP_PORT=servers.smtp_port)
    mail_sandbox.app.extensions["sandbox.mail_store"] = store
    yield servers
    mail_sandbox.app.extensions.pop("sandbox.mail_store", None)
    app.config.update(saved)
    servers.stop()


def test_demo_inboxes_work_against_the_sandbox_mail_server(db, app, mail_sandbox, demo_mail, workers):
    """A customer writes to Forge at the Lake on the sandbox page; ChatPad syncs it and the reply lands back."""
    from jobs.mail import sync_all_inboxes

    assert app.test_cli_runner().invoke(args=["chatpad", "demo"]).exit_code == 0
    forge = db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == "forge@mhpcommunities.com"))
    report = check_connection(inbox_settings(forge), forge.access_token)
    assert report.ok, report.summary
    assert sync_all_inboxes() == 21
    workers.run("mail")

    sent = requests.post(
        f"{mail_sandbox.url}/mail/send",
        data={"name": "Pat Customer", "from": "pat@example.net", "to": "forge@mhpcommunities.com",
              "subject": "3 bedroom?", "body": "Do you have a 3 bedroom home?"},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert sent.status_code == 302
    sync_all_inboxes()
    workers.run("mail")
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == forge.id))
    assert conversation.subject == "3 bedroom?" and conversation.location.name == "Forge at the Lake"
    assert workers.queued("ai") == 1

    queue_reply(conversation, OutboundReply(text="Yes, we have two. Would you like a tour?"))
    workers.run("outbound")
    page = requests.get(f"{mail_sandbox.url}/mail/box/pat@example.net", timeout=10).text
    assert "Re: 3 bedroom?" in page and "Yes, we have two." in page and "The Forge at the Lake team" in page
    forge_sent = requests.get(f"{mail_sandbox.url}/mail/box/forge@mhpcommunities.com?folder=Sent", timeout=10).text
    assert "Re: 3 bedroom?" in forge_sent
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1


def test_sandbox_mail_server_speaks_xoauth2(db, app, mail_sandbox, demo_mail):
    """An inbox connected through the sandbox's Google sign-in can use the sandbox mail server with its token."""
    issue = f"{mail_sandbox.url}/sandbox-api/oauth/issue"
    token = requests.post(issue, json={"provider": "google", "email": "new@gmail.example"}, timeout=10).json()
    token = token["access_token"]
    from chatpad.channels.email.settings import MailSettings

    settings = MailSettings(
        address="new@gmail.example", imap_host="127.0.0.1", imap_port=demo_mail.imap_port, imap_security="none",
        smtp_host="127.0.0.1", smtp_port=demo_mail.smtp_port, smtp_security="none", auth="oauth",
    )  # fmt: skip
    assert check_connection(settings, token).ok
    bad = check_connection(settings, token + "x")
    assert bad.failure.step == "auth" and "XOAUTH2" in bad.summary
