"""The token lifecycle against the sandbox: the daily health check (debug_token, permissions, the webhook
subscription), classification by code and subcode, reconnection with the token refreshed in place and the waiting
messages sent, Instagram Login token refresh, the banner, and the alert email."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from chatpad.integrations.health import check_account
from chatpad.integrations.meta import MESSENGER_FIELDS
from chatpad.messages import OutboundReply
from chatpad.models import AuditLog, Message, Notification, SocialAccount, utcnow
from chatpad.pipeline import queue_reply
from chatpad.pipeline.replies import clear_reply_pending
from chatpad.queue import get_queue
from tests.plugins.connect import run_flow


@pytest.fixture
def forge(admin_client, fb_login, db):
    """(client, business, account): Forge Lake Community connected through the real flow."""
    client, biz = admin_client(locations=("Forge at the Lake",))
    run_flow(client, fb_login, biz.agent.id, fb_login.ids(["Forge Lake Community"]))
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.tenant_clause(biz.org.id)))
    return client, biz, account


def fresh(db, account) -> SocialAccount:
    db.session.expire_all()
    return db.session.get(SocialAccount, account.id)


def run_health(workers, app) -> None:
    from chatpad.extensions import db
    from jobs.accounts import check_accounts_health

    check_accounts_health()
    workers.run("default")
    db.session.expire_all()  # the test's session (shared with test-client requests) must see what the worker wrote


@pytest.mark.parametrize(
    "subcode,reason",
    [
        (460, "The password of the Facebook account that connected it changed"),
        (458, "ChatPad was removed from the Page's business integrations"),
        (463, "Its access token expired."),
    ],
)
def test_dead_token_needs_reconnection_by_subcode(forge, meta_sandbox, db, workers, app, subcode, reason):
    """The daily check asks debug_token; a dead token is classified by its subcode, the row asks for Reconnect, the
    admins are notified once and it is audited."""
    client, biz, account = forge
    meta_sandbox.invalidate_token(account.account_id, subcode=subcode)
    run_health(workers, app)
    account = fresh(db, account)
    assert account.status == "needs_reauth"
    assert reason in account.last_error and f"190/{subcode}" in account.last_error
    notices = db.session.scalars(select(Notification).where(Notification.social_account_id == account.id)).all()
    assert [n.kind for n in notices] == ["account_needs_reauth"]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "account.needs_reauth")) is not None
    debug_calls = meta_sandbox.requests("debug_token", "GET")
    assert debug_calls and debug_calls[-1]["query"]["input_token"] == account.access_token

    # A second check the same day queues nothing; a forced one does not notify twice.
    from jobs.accounts import check_accounts_health

    assert check_accounts_health() == 0
    check_account(account)
    assert (
        db.session.scalar(select(Notification.id).where(Notification.kind == "account_needs_reauth").offset(1)) is None
    )


def test_removed_permission_needs_reconnection(forge, meta_sandbox, db):
    """A token that lost pages_messaging (the admin removed it in Facebook's settings) is flagged with its name."""
    _client, _biz, account = forge
    limited = meta_sandbox._call(
        "POST",
        "oauth/tokens",
        json={"kind": "page", "subject": account.account_id, "scopes": ["pages_show_list", "pages_manage_metadata"]},
    )
    account.access_token = limited["access_token"]
    db.session.commit()
    result = check_account(account)
    assert result.status == "needs_reauth"
    assert "pages_messaging was removed in Facebook" in fresh(db, account).last_error


def test_dropped_subscription_is_renewed(forge, meta_sandbox, db):
    """Meta unsubscribed the app (webhooks failing too long): the check subscribes it again and says so in the log."""
    _client, _biz, account = forge
    meta_sandbox._call("PATCH", f"pages/{account.account_id}", json={"subscribed_fields": []})
    result = check_account(account)
    assert result.status == "ok" and result.resubscribed
    page = next(p for p in meta_sandbox._call("GET", "pages") if p["id"] == account.account_id)
    assert sorted(page["subscribed_fields"]) == sorted(MESSENGER_FIELDS)
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "account.resubscribed")) is not None
    assert fresh(db, account).status == "connected"


def test_failed_resubscription_is_an_error_with_the_reason(forge, meta_sandbox, db):
    """When renewing the subscription is refused, the row shows an error with Meta's reason and the team is told."""
    _client, _biz, account = forge
    meta_sandbox._call("PATCH", f"pages/{account.account_id}", json={"subscribed_fields": []})
    meta_sandbox.fail("policy_block", path="/subscribed_apps", method="POST", count=1)
    meta_sandbox.fail("blocked", path="/subscribed_apps", method="POST", count=1)
    check_account(account)  # policy block: transient, try later
    assert fresh(db, account).status == "connected"
    check_account(account)
    account = fresh(db, account)
    assert account.status == "error" and "renewing the subscription failed" in account.last_error
    assert db.session.scalar(select(Notification).where(Notification.kind == "account_error")) is not None


def test_a_transient_graph_error_changes_nothing(forge, meta_sandbox, db):
    """Meta down during the check: the account keeps its state and is asked again at the next run."""
    _client, _biz, account = forge
    meta_sandbox.fail("server_error", path="/debug_token", method="GET")
    assert check_account(account).status == "unknown"
    assert fresh(db, account).status == "connected"


def test_reconnect_refreshes_the_token_in_place_and_sends_what_waited(forge, meta_sandbox, fb_login, db, workers, app):
    """Expired token → the row says Reconnect and the banner shows; a customer's message arrives and a reply waits;
    Reconnect → the same row gets a new token, turns green, and the waiting reply is sent."""
    client, biz, account = forge
    old_token = account.access_token
    meta_sandbox.invalidate_token(account.account_id, subcode=463)
    run_health(workers, app)

    index = client.get(f"/admin/integrations/?agent={biz.agent.id}").get_data(as_text=True)
    assert "Reconnect" in index and 'data-status="needs_reauth"' in index
    home = client.get("/admin/").get_data(as_text=True)
    assert "1 account needs to be reconnected" in home and "Forge Lake Community" in home

    sent = meta_sandbox.simulate(page=account.account_id, sender="Jane Doe", text="Is lot 14 free?")
    workers.run("inbound")
    message = db.session.scalar(select(Message).where(Message.external_id == sent["mid"]))
    assert message is not None  # kept while the account needs reconnection
    conversation = message.conversation
    with app.app_context():
        get_queue("ai").empty()
        clear_reply_pending(conversation.id)
    (reply,) = queue_reply(conversation, OutboundReply("Yes it is.", sender_type="human"), user=biz.user)
    workers.run("outbound", fast_forward=True)
    assert db.session.get(Message, reply.id).status == "pending"

    start = client.get(f"/admin/integrations/accounts/{account.id}/reconnect")
    assert "auth_type=rerequest" in start.headers["Location"]
    back = fb_login.answer(start.headers["Location"])
    done = client.get(back)
    assert done.status_code == 302
    assert "is reconnected. 1 waiting message(s) are being sent now." in client.get(done.headers["Location"]).get_data(
        as_text=True
    )
    account = fresh(db, account)
    assert account.status == "connected" and account.access_token != old_token
    assert (
        db.session.scalar(select(SocialAccount.id).where(SocialAccount.account_id == account.account_id)) == account.id
    )
    assert db.session.scalar(select(Notification.read_at).where(Notification.kind == "account_needs_reauth"))
    workers.run("outbound")
    db.session.expire_all()
    assert db.session.get(Message, reply.id).status == "sent"
    assert meta_sandbox.accepted()[-1]["token"] == account.access_token
    assert "need to be reconnected" not in client.get("/admin/").get_data(as_text=True)


def test_reconnect_without_the_page_granted_changes_nothing(forge, meta_sandbox, fb_login, db):
    """Reconnecting while unticking the Page in the dialog explains who lacks access, and keeps the account flagged."""
    client, _biz, account = forge
    meta_sandbox.invalidate_token(account.account_id, subcode=460)
    check_account(account)
    start = client.get(f"/admin/integrations/accounts/{account.id}/reconnect")
    others = [p for p in fb_login.demo_user()["page_ids"] if p != account.account_id]
    html = client.get(fb_login.answer(start.headers["Location"], pages=others)).get_data(as_text=True)
    assert "Dana Demo did not give ChatPad access to Forge Lake Community" in html
    assert fresh(db, account).status == "needs_reauth"


def test_health_check_recovers_an_account_whose_token_works_again(forge, meta_sandbox, db):
    """A token that works again (revived in the sandbox) is marked healthy and its notices are resolved."""
    _client, _biz, account = forge
    meta_sandbox.invalidate_token(account.account_id, subcode=460)
    check_account(account)
    meta_sandbox._call("POST", "tokens/invalidate", json={"page": account.account_id, "revive": True})
    result = check_account(fresh(db, account))
    assert result.recovered and fresh(db, account).status == "connected"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "account.recovered")) is not None


def test_instagram_login_token_is_refreshed_before_expiry(app, db, make, meta_sandbox, workers):
    """An Instagram Login token five days from expiry is renewed for 60 days; a dead one asks for reconnection."""
    from jobs.accounts import refresh_expiring_tokens

    biz = make.business()
    issued = meta_sandbox._call(
        "POST",
        "oauth/tokens",
        json={"kind": "instagram", "subject": "17841400000000001", "expires_in": 5 * 86400, "age": 2 * 86400},
    )
    ig = make.account(
        biz.agent,
        "instagram",
        account_id="17841400000000001",
        access_token=issued["access_token"],
        token_expires_at=utcnow() + timedelta(days=5),
        meta={"login": "instagram", "username": "forgelakemhp"},
    )
    assert refresh_expiring_tokens() == 1
    workers.run("default")
    ig = fresh(db, ig)
    assert ig.access_token != issued["access_token"]
    assert ig.token_expires_at > utcnow() + timedelta(days=59)
    assert refresh_expiring_tokens() == 0  # not due any more

    meta_sandbox._call("POST", "oauth/tokens/expire", json={"token": ig.access_token})
    ig.token_expires_at = utcnow() + timedelta(days=1)
    db.session.commit()
    refresh_expiring_tokens()
    workers.run("default")
    ig = fresh(db, ig)
    assert ig.status == "needs_reauth" and "Its access token expired." in ig.last_error


def test_reconnection_needed_emails_the_admins(forge, meta_sandbox, db, workers, alert_smtp):
    """With ALERT_SMTP_URL set, a reconnection notice is emailed to the organization's admins (once)."""
    _client, biz, account = forge
    meta_sandbox.invalidate_token(account.account_id, subcode=460)
    check_account(account)
    check_account(fresh(db, account))
    workers.run("mail")
    assert len(alert_smtp.messages) == 1
    mail = alert_smtp.messages[0]
    assert biz.user.email in mail["to"]
    assert b"Forge Lake Community needs to be reconnected" in mail["data"]


def test_health_check_and_refresh_put_no_token_in_a_url(forge, app, db, make, meta_sandbox, workers):
    """Issue 16 item 9: the daily check (debug_token, the webhook subscription) and Instagram's token refresh send
    no token in a URL, where proxies and access logs keep it: every request the sandbox received had its tokens in
    a header or a POST body, and the check still read the token's scopes."""
    from jobs.accounts import refresh_expiring_tokens

    _client, biz, account = forge
    issued = meta_sandbox._call(
        "POST",
        "oauth/tokens",
        json={"kind": "instagram", "subject": "17841400000000002", "expires_in": 5 * 86400, "age": 2 * 86400},
    )
    ig = make.account(
        biz.agent,
        "instagram",
        account_id="17841400000000002",
        access_token=issued["access_token"],
        token_expires_at=utcnow() + timedelta(days=5),
        meta={"login": "instagram", "username": "forgelakeig"},
    )
    assert check_account(fresh(db, account)).status == "ok"
    assert refresh_expiring_tokens() == 1
    workers.run("default")
    assert fresh(db, ig).access_token != issued["access_token"]

    secrets = {fresh(db, account).access_token, issued["access_token"], f"{app.config['META_APP_ID']}|"}
    received = meta_sandbox.requests()
    direct = [r for r in received if not r.get("batch")]
    assert any(r["path"] == "instagram/refresh_access_token" for r in direct)
    for record in direct:
        assert record["token_source"] != "query", record
        url_part = repr(sorted(record["query"].items()))
        assert not any(secret in url_part for secret in secrets), record
    inspected = [r for r in received if r["path"] == "debug_token"]
    assert inspected and all(r["batch"] for r in inspected)
    assert inspected[-1]["query"]["input_token"] == fresh(db, account).access_token
    assert "pages_messaging" in fresh(db, account).meta["health"]["scopes"]
