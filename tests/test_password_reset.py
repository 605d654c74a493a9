"""Forgot password (issue 22): the sign-in page links to it, the answer is the same whether or not the address has
an account, the mailed link sets a new password once, and it stops working once used, once the password changed
another way, or after it expires."""

from __future__ import annotations

import email
import email.policy
import re
import time

from chatpad.redact import redact
from tests.conftest import csrf_from, login, own_browser

LINK = re.compile(r"https?://[^\s]+(/reset/[A-Za-z0-9_\-.]+)")


def _link(raw: bytes) -> str:
    body = email.message_from_bytes(raw, policy=email.policy.default).get_content()
    return LINK.search(body).group(1)


def _ask(client, email: str):
    page = client.get("/forgot").get_data(as_text=True)
    return client.post("/forgot", data={"email": email, "csrf_token": csrf_from(page)})


def _set(client, path: str, password: str):
    page = client.get(path)
    if page.status_code != 200:
        return page
    data = {"password": password, "confirm": password, "csrf_token": csrf_from(page.get_data(as_text=True))}
    return client.post(path, data=data)


def test_forgot_password_mails_a_single_use_link_and_answers_the_same_for_unknown_addresses(
    app, db, make, workers, alert_smtp
):
    biz = make.business()
    client = own_browser(app)
    assert 'href="/forgot"' in client.get("/login").get_data(as_text=True)

    known = _ask(client, biz.user.email.upper())
    unknown = _ask(client, "nobody@nowhere.example")
    assert known.status_code == unknown.status_code == 200
    said = [
        r.get_data(as_text=True).replace(email, "X")
        for r, email in ((known, biz.user.email.upper().lower()), (unknown, "nobody@nowhere.example"))
    ]
    said = [re.sub(r'name="csrf_token"[^>]*>', "", s) for s in said]
    assert said[0] == said[1] and "If <strong>X</strong> has a ChatPad account" in said[0]
    assert "Development: ChatPad&#39;s mail goes to the server at 127.0.0.1" in said[0]

    workers.run("mail")
    assert [m["to"] for m in alert_smtp.messages] == [[biz.user.email]]
    path = _link(alert_smtp.messages[0]["data"])
    assert "/reset/[redacted]" in redact(f"GET {path} HTTP/1.1")

    # Another device signed in before the reset is signed out by it.
    other = own_browser(app)
    login(other, biz.user.email)
    assert other.get("/admin/").status_code == 200

    done = _set(client, path, "a brand new password")
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert other.get("/admin/").status_code == 302
    assert login(own_browser(app), biz.user.email, "a brand new password").status_code == 302

    again = client.get(path)
    assert again.status_code == 404 and "already used" in again.get_data(as_text=True)


def test_a_link_stops_working_when_the_password_changes_or_it_expires(app, db, make, workers, alert_smtp):
    biz = make.business()
    client = own_browser(app)
    _ask(client, biz.user.email)
    workers.run("mail")
    path = _link(alert_smtp.messages[0]["data"])

    biz.user.set_password("changed elsewhere 123")
    db.session.commit()
    refused = _set(client, path, "not going to work")
    assert refused.status_code == 404 and "already used, or the password has changed" in refused.get_data(as_text=True)

    _ask(client, biz.user.email)
    workers.run("mail")
    fresh = _link(alert_smtp.messages[1]["data"])
    app.config["PASSWORD_RESET_MINUTES"] = 0  # valid for 0 s: expired once a second has passed
    time.sleep(1.1)
    try:
        expired = client.get(fresh)
    finally:
        app.config.pop("PASSWORD_RESET_MINUTES")
    assert expired.status_code == 404 and "expired" in expired.get_data(as_text=True)
    assert client.get("/reset/not-a-token-at-all-xxxxxxxx").status_code == 404


def test_without_a_mail_server_the_page_says_so(app, make):
    biz = make.business()
    client = own_browser(app)
    saved = app.config.get("ALERT_SMTP_URL")
    app.config["ALERT_SMTP_URL"] = None
    try:
        page = _ask(client, biz.user.email).get_data(as_text=True)
    finally:
        app.config["ALERT_SMTP_URL"] = saved
    assert "No mail server is set on this ChatPad (ALERT_SMTP_URL)" in page
