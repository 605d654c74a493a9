"""Tokens and secrets never reach a log: a realistic flow is run with every logger at DEBUG and everything it logged
is searched for every secret value; and the redaction layer (chatpad/redact.py) is checked on its own."""

from __future__ import annotations

import json
import logging
import re
import time

import requests
from flask import session

from chatpad.messages import OutboundReply
from chatpad.models import Conversation, SocialAccount
from chatpad.pipeline import queue_reply
from chatpad.privacy.meta import make_signed_request
from chatpad.queue import get_queue
from chatpad.redact import REDACTED, redact, register_secrets
from config import TestConfig
from tests.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def test_a_realistic_flow_logs_no_secret(app, db, make, live_server, meta_sandbox, workers, caplog):
    """Sign-ins (one wrong), admin pages, a user created with a password, Meta's webhook handshake, a Messenger
    message through the pipeline (signed webhook, profile lookup), a reply sent through the Send API, a send with a
    revoked token, Meta's deletion callback (one forged), a URL with tokens in it: thousands of DEBUG lines from
    werkzeug, urllib3, SQLAlchemy, RQ and ChatPad, and not one secret among them."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # alembic's logging config quiets it to WARN
    biz = make.business()
    page_id = meta_sandbox.page_id(0)
    biz.account.account_id = page_id
    biz.account.access_token = meta_sandbox.page_token(page_id)
    biz.account.refresh_token = "1//refresh-token-abcdef0123456789"
    db.session.commit()
    new_password = "another long password 42"
    secrets = {
        "page token": biz.account.access_token,
        "refresh token": biz.account.refresh_token,
        "password": PASSWORD,
        "new password": new_password,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "META_APP_SECRET": app.config["META_APP_SECRET"],
        "META_VERIFY_TOKEN": app.config["META_VERIFY_TOKEN"],
        "TOKEN_ENCRYPTION_KEYS": app.config["TOKEN_ENCRYPTION_KEYS"],
    }

    web = requests.Session()
    base = live_server.url

    def token(path):
        return CSRF.search(web.get(base + path, timeout=10).text).group(1)

    web.post(
        base + "/login", data={"email": biz.user.email, "password": "wrong " + PASSWORD, "csrf_token": token("/login")}
    )
    web.post(
        base + "/login",
        data={"email": biz.user.email, "password": PASSWORD, "remember": "y", "csrf_token": token("/login")},
    )
    secrets["session cookie"] = web.cookies.get("chatpad_session")
    secrets["remember cookie"] = web.cookies.get("chatpad_remember")
    assert secrets["session cookie"] and secrets["remember cookie"]
    for path in ("/admin/", "/admin/accounts/", f"/admin/accounts/edit/?id={biz.account.id}", "/admin/users/"):
        assert web.get(base + path, timeout=10).status_code == 200
    colleague = make.user(biz.org, email="new@example.com", role="agent")
    changed = web.post(
        base + f"/admin/users/edit/?id={colleague.id}",
        data={
            "email": "new@example.com",
            "role": "agent",
            "active": "y",
            "new_password": new_password,
            "csrf_token": token(f"/admin/users/edit/?id={colleague.id}"),
        },
    )
    assert changed.status_code == 200
    # Meta's subscription handshake carries the verify token in the query string (werkzeug logs request lines).
    handshake = web.get(
        f"{base}/api/webhooks/facebook",
        params={"hub.mode": "subscribe", "hub.verify_token": app.config["META_VERIFY_TOKEN"], "hub.challenge": "42"},
        timeout=10,
    )
    assert handshake.text == "42"
    # Someone (or a misbehaving integration) puts tokens in a URL: werkzeug and urllib3 both log request lines.
    web.get(f"{base}/admin/?access_token={biz.account.access_token}&code={biz.account.refresh_token}", timeout=10)
    web.get(f"{base}/healthz?client_secret={app.config['META_APP_SECRET']}", timeout=10)
    # An invitation link's one-time token is in its path (werkzeug logs the request line).
    secrets["invitation link"] = "InviteToken-0123456789abcdefghijklmnop"
    assert web.get(f"{base}/invite/{secrets['invitation link']}", timeout=10).status_code == 404

    # A Messenger message through the pipeline, a reply through the Send API, then a send with a revoked token.
    sent = meta_sandbox.simulate(page=page_id, text="Is lot 14 available?")
    workers.run("inbound")
    conversation = db.session.query(Conversation).one()
    get_queue("ai").empty()
    queue_reply(conversation, OutboundReply("Yes, it is available.", sender_type="human"), user=biz.user)
    workers.run("outbound")
    assert len(meta_sandbox.accepted()) == 1 and sent["psid"]
    meta_sandbox.invalidate_token(page_id)
    queue_reply(conversation, OutboundReply("Tour on Saturday?", sender_type="human"), user=biz.user)
    workers.run("outbound")
    db.session.expire_all()
    assert db.session.get(SocialAccount, biz.account.id).status == "needs_reauth"

    # Meta's deletion callback: one real, one forged.
    signed = make_signed_request("24000000000001", app.config["META_APP_SECRET"], issued_at=int(time.time()))
    assert requests.post(base + "/api/privacy/meta-data-deletion", data={"signed_request": signed}, timeout=10).ok
    requests.post(base + "/api/privacy/meta-data-deletion", data={"signed_request": "AAAA.BBBB"}, timeout=10)
    workers.run("default")
    web.post(base + "/logout", data={"csrf_token": token("/admin/")})

    text = caplog.text + "\n".join(r.exc_text or "" for r in caplog.records)
    # The flow really was logged, at every layer.
    for expected in (
        "/admin/accounts/",
        "POST /login",
        "POST /api/webhooks/facebook",
        "jobs.inbound.process_event",
        "jobs.replies.send_message",
        "meta-data-deletion",
        "SELECT",
        "Row [redacted]",
    ):
        assert expected in text, expected
    assert "access_token=[redacted]" in text and "client_secret=[redacted]" in text
    assert "hub.verify_token=[redacted]" in text
    leaked = {name: value for name, value in secrets.items() if value and value in text}
    assert leaked == {}, f"secrets in the logs: {sorted(leaked)}"
    for key in TestConfig.TOKEN_ENCRYPTION_KEYS.split(","):
        assert key not in text


def test_secrets_slipping_into_log_lines_are_redacted(app, caplog):
    """Whatever a library or an exception puts in a message: token query parameters, Authorization headers, URL
    passwords, JSON token fields, encrypted values and the configured secrets all come out as [redacted]."""
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("test.redaction")
    secret = app.config["META_APP_SECRET"]
    log.debug(
        '%s://%s:%s "%s %s %s" %s %s',
        "https",
        "graph.facebook.com",
        443,
        "GET",
        f"/v25.0/oauth/access_token?client_id=1&client_secret={secret}&code=AQD-code&redirect_uri=x",
        "HTTP/1.1",
        200,
        97,
    )
    log.info("headers: %s", {"Authorization": "Bearer EAAGm0PX4ZCpsBA-token", "Accept": "json"})
    log.warning("could not connect to postgresql+psycopg://chatpad:s3cr3t-pw@db.internal/chatpad")
    log.info('token response: {"access_token": "ya29.a0-google-token", "expires_in": 3599, "token_type": "Bearer"}')
    log.info("stored gAAAAABpZl1ZbW9ja2VkLWZlcm5ldC10b2tlbi1mb3ItdGhlLXRlc3QtMDEyMzQ1Njc4OQ==")
    try:
        raise RuntimeError("POST https://graph.facebook.com/v25.0/me/messages?access_token=EAAGsecret failed")
    except RuntimeError:
        log.exception("send failed")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    for value in (
        secret,
        "AQD-code",
        "EAAGm0PX4ZCpsBA-token",
        "s3cr3t-pw",
        "ya29.a0-google-token",
        "EAAGsecret",
        "gAAAAAB",
    ):
        assert value not in text, value
    assert text.count(REDACTED) >= 7
    # Ordinary lines are left alone.
    log.info("graph POST me/messages -> HTTP 400 code=190 subcode=460 (AuthExpiredError)")
    assert "code=190 subcode=460" in caplog.records[-1].getMessage()


def test_redaction_keeps_ordinary_text():
    """Error codes, plain URLs and everyday words are not mangled."""
    register_secrets(["short"])  # too short to be redacted by value: it would hit ordinary words
    for line in (
        "550 5.7.30 Basic authentication is not supported for Client Submission",
        "GET http://127.0.0.1:5000/admin/locations/?page=2 200",
        "the short answer",
        "webhook event 12 processed: {'stored': 1}",
    ):
        assert redact(line) == line


def test_the_session_cookie_is_signed_not_secret_bearing(app, client, make):
    """The session holds ids and the CSRF token, never a password or platform token."""
    from tests.conftest import login

    biz = make.business()
    login(client, biz.user.email)
    with client.session_transaction() as data:
        stored = json.dumps(dict(data), default=str)
    assert PASSWORD not in stored and biz.account.access_token not in stored
    assert session is not None
