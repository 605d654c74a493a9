"""Meta's Data Deletion Request Callback: signed_request verification, the answer Meta wants, the erasure it
triggers, the public status page, and the sandbox that sends such requests."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import func, select

from chatpad import create_app
from chatpad.models import (
    AuditLog,
    Contact,
    ContactIdentity,
    Conversation,
    DataDeletionRequest,
    Notification,
    SocialAccount,
)
from chatpad.privacy.meta import SignedRequestError, make_signed_request, parse_signed_request
from config import TestConfig

SECRET = TestConfig.META_APP_SECRET
CALLBACK = "/api/privacy/meta-data-deletion"


def signed(user_id: str, secret: str = SECRET) -> str:
    return make_signed_request(user_id, secret, issued_at=int(time.time()))


def test_a_signed_request_is_verified_and_decoded():
    """Meta's format: base64url signature '.' base64url JSON, HMAC-SHA256 over the encoded payload."""
    parsed = parse_signed_request(signed("218471"), SECRET)
    assert parsed.user_id == "218471" and parsed.payload["algorithm"] == "HMAC-SHA256"
    # Meta's documented example payload, signed by hand the way its PHP sample verifies it.
    import base64
    import hashlib
    import hmac

    payload = base64.urlsafe_b64encode(
        b'{"user_id":"218471","algorithm":"HMAC-SHA256","issued_at":1291836800,"expires":1291840400}'
    ).rstrip(b"=")
    sig = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), payload, hashlib.sha256).digest()).rstrip(b"=")
    assert parse_signed_request(f"{sig.decode()}.{payload.decode()}", SECRET).user_id == "218471"


@pytest.mark.parametrize(
    "value, reason",
    [
        (None, "missing"),
        ("no-dot-here", "malformed"),
        ("!!!.@@@", "not base64url"),
        (signed("1", "another-apps-secret"), "signature does not match"),
        (signed("1").split(".")[0] + "." + signed("2").split(".")[1], "signature does not match"),
    ],
)
def test_a_bad_signed_request_is_refused_with_the_reason(value, reason):
    """Missing, malformed, or signed with another secret: refused, and the reason says which."""
    with pytest.raises(SignedRequestError, match=reason):
        parse_signed_request(value, SECRET)


def test_callback_answers_with_a_status_url_and_code_then_erases(app, db, client, world, workers):
    """Meta gets {url, confirmation_code}; the job erases the Facebook identity and its conversation; the customer's
    email conversation (not Facebook's data) stays; the status page then says what was deleted."""
    fb_id, email_id = world.conversations["facebook"].id, world.conversations["email"].id
    response = client.post(CALLBACK, data={"signed_request": signed("24000000000001")})
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    code = body["confirmation_code"]
    assert code.isalnum() and len(code) >= 16
    assert body["url"].endswith(f"/privacy/deletion/{code}")

    pending = client.get(f"/privacy/deletion/{code}").get_data(as_text=True)
    assert "In progress." in pending
    workers.run("default")

    db.session.expire_all()
    assert db.session.get(Conversation, fb_id) is None
    assert (
        db.session.scalar(select(func.count(ContactIdentity.id)).where(ContactIdentity.external_id == "24000000000001"))
        == 0
    )
    assert db.session.get(Conversation, email_id) is not None
    assert db.session.get(Contact, world.customer.id) is not None
    request = db.session.scalars(select(DataDeletionRequest)).one()
    assert request.status == "completed" and request.platform_user_id is None
    assert request.result["identities"] == 1 and request.result["conversations"] == 1

    page = client.get(f"/privacy/deletion/{code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Completed" in html and "1 conversation and 3 messages" in html
    assert "Dana" not in html and world.biz.org.name not in html
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "privacy.meta_deletion")).one()
    assert audit.organization_id == world.biz.org.id and audit.detail["confirmation_code"] == code


def test_a_customer_with_nothing_else_left_is_removed(app, db, client, make, workers):
    """Someone known only through Instagram: after the request their contact is gone too."""
    from tests.plugins.privacy import add_conversation

    biz = make.business()
    ig = make.account(biz.agent, "instagram", biz.location)
    contact = Contact(organization_id=biz.org.id, name="Ig Only")
    db.session.add(contact)
    db.session.flush()
    db.session.add(
        ContactIdentity(
            contact_id=contact.id,
            channel="instagram",
            social_account_id=ig.id,
            external_id="1784000000555",
            profile={"app_scoped_id": "990011"},
        )
    )
    add_conversation(db, ig, contact, external_id="1784000000555", texts=["Hi"])
    db.session.commit()
    contact_id = contact.id
    # Matched by the app-scoped id recorded in the profile, not the Instagram-scoped one.
    assert client.post(CALLBACK, data={"signed_request": signed("990011")}).status_code == 200
    workers.run("default")
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is None


def test_pages_connected_by_that_facebook_user_lose_their_access(app, db, client, make, workers):
    """The person who connected a Page asked for deletion: its token and their id are deleted, the admins told."""
    biz = make.business()
    biz.account.meta = {"platform_user_id": "777000111", "scopes": ["pages_messaging"], "connected_by": biz.user.id}
    biz.account.refresh_token = "user-derived-refresh"
    other = make.account(biz.agent, "facebook", meta={"platform_user_id": "123456789"})
    db.session.commit()
    code = client.post(CALLBACK, data={"signed_request": signed("777000111")}).get_json()["confirmation_code"]
    workers.run("default")
    db.session.expire_all()
    account = db.session.get(SocialAccount, biz.account.id)
    assert account.access_token is None and account.refresh_token is None
    assert "platform_user_id" not in account.meta and account.meta["scopes"] == ["pages_messaging"]
    assert account.status == "needs_reauth" and "asked Meta to have their data deleted" in account.last_error
    assert db.session.get(SocialAccount, other.id).access_token is not None
    notice = db.session.scalars(select(Notification).where(Notification.social_account_id == account.id)).one()
    assert "needs to be reconnected" in notice.title
    html = client.get(f"/privacy/deletion/{code}").get_data(as_text=True)
    assert "the access to 1 Facebook Page or Instagram account you had connected" in html


def test_a_request_about_nobody_completes_and_says_so(app, db, client, workers):
    """Nothing held: still a confirmation code, and the status page says there was nothing to delete."""
    code = client.post(CALLBACK, data={"signed_request": signed("5550001")}).get_json()["confirmation_code"]
    workers.run("default")
    html = client.get(f"/privacy/deletion/{code}").get_data(as_text=True)
    assert "Completed" in html and "held no data about you" in html


def test_a_forged_request_gets_403_and_stores_nothing(app, db, client, world):
    """Signed with the wrong secret, or not at all: 403, no request recorded, nothing erased, no CSRF needed."""
    for data in ({"signed_request": signed("24000000000001", "not-our-secret")}, {}):
        response = client.post(CALLBACK, data=data)
        assert response.status_code == 403 and response.get_json() == {"error": "invalid signed_request"}
    assert db.session.scalar(select(func.count(DataDeletionRequest.id))) == 0
    assert db.session.get(Contact, world.customer.id) is not None


def test_unknown_status_codes_are_404(app, db, client):
    """A wrong or made-up confirmation code finds nothing (and says so)."""
    response = client.get("/privacy/deletion/0123456789abcdef")
    assert response.status_code == 404 and "no deletion request" in response.get_data(as_text=True)
    assert client.get("/privacy/deletion/not%20alnum").status_code == 404


def test_a_request_that_could_not_be_queued_is_picked_up_by_the_sweep(app, db, client, world, workers):
    """Redis hiccup or dead worker: the sweep finds requests still 'received' after ten minutes and carries them out."""
    from datetime import timedelta

    from chatpad.models import utcnow
    from chatpad.queue import get_queue

    client.post(CALLBACK, data={"signed_request": signed("24000000000001")})
    get_queue("default").empty()  # the job was lost
    request = db.session.scalars(select(DataDeletionRequest)).one()
    request.created_at = utcnow() - timedelta(minutes=11)
    db.session.commit()
    get_queue("default").enqueue("jobs.privacy.sweep")
    workers.run("default")
    db.session.expire_all()
    assert db.session.scalars(select(DataDeletionRequest)).one().status == "completed"


def test_the_sandbox_sends_a_request_chatpad_accepts(app, db, world, live_server, privacy_sandbox, workers):
    """The sandbox's Data deletion page signs a request like Meta and shows ChatPad's answer and status link."""
    fb_id = world.conversations["facebook"].id
    page = requests.post(f"{privacy_sandbox.url}/privacy", data={"user_id": "24000000000001"}, timeout=10)
    assert page.status_code == 200 and "HTTP 200" in page.text and "confirmation_code" in page.text
    api = requests.post(f"{privacy_sandbox.url}/sandbox-api/meta/data-deletion", json={"user_id": "42"}, timeout=10)
    answer = api.json()
    code = answer["body"]["confirmation_code"]
    # The URL is built on PUBLIC_URL, the address Meta shows people.
    assert answer["status"] == 200 and answer["body"]["url"] == f"{app.config['PUBLIC_URL']}/privacy/deletion/{code}"
    workers.run("default")
    assert "Completed" in requests.get(f"{live_server.url}/privacy/deletion/{code}", timeout=10).text
    db.session.expire_all()
    assert db.session.get(Conversation, fb_id) is None
    assert "Data deletion" in requests.get(privacy_sandbox.url + "/", timeout=10).text


def test_repeated_forgeries_are_rate_limited(app, database_url, redis_url):
    """An address sending requests that fail verification gets 429 after the limit; real ones never count."""
    limited = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        REDIS_URL=redis_url,
        RATELIMIT_ENABLED=True,
        WEBHOOK_UNSIGNED_RATE_LIMIT="3 per minute",
    )
    client = limited.test_client()
    codes = [client.post(CALLBACK, data={"signed_request": "x.y"}).status_code for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]
