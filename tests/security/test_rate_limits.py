"""Rate limits, counted in Redis so every web process shares them: sign-in, exports, the deletion status page."""

from __future__ import annotations

import pytest

from chatpad import create_app
from config import TestConfig
from tests.conftest import csrf_from, login


@pytest.fixture
def limited(app, database_url, redis_url):
    """The app with rate limiting on (the test session's app has it off), on the same database and Redis."""

    def build(**overrides):
        return create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=database_url,
            REDIS_URL=redis_url,
            ATTACHMENT_DIR=app.config["ATTACHMENT_DIR"],
            RATELIMIT_ENABLED=True,
            **overrides,
        )

    return build


def test_sign_in_posts_are_limited_per_address(limited, make):
    """Past 30 sign-in attempts a minute from one address, the next gets 429 whatever the account."""
    client = limited(LOGIN_MAX_FAILURES=1000).test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    codes = [
        client.post(
            "/login", data={"email": f"u{n}@example.com", "password": "x" * 12, "csrf_token": token}
        ).status_code
        for n in range(31)
    ]
    assert codes[:30] == [401] * 30 and codes[30] == 429
    assert client.get("/login").status_code == 200  # reading the page is not limited


def test_exports_are_limited_per_user(limited, make, world):
    """A user who exports more than the limit is told to wait; nothing is exported or logged meanwhile."""
    from sqlalchemy import func, select

    from chatpad.extensions import db
    from chatpad.models import AuditLog

    client = limited(PRIVACY_EXPORT_RATE_LIMIT="2 per hour").test_client()
    login(client, world.biz.user.email)
    url = f"/admin/customer-data/{world.customer.id}"
    token = csrf_from(client.get(url).get_data(as_text=True))
    codes = [client.post(f"{url}/export", data={"csrf_token": token}).status_code for _ in range(3)]
    assert codes == [200, 200, 303]
    assert "Too many exports in a short time" in client.get(url).get_data(as_text=True)
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "privacy.export")) == 2


def test_the_public_status_page_is_limited_per_address(limited):
    """Guessing confirmation codes is pointless (they are random) and also slow: 429 past the limit."""
    client = limited(PRIVACY_STATUS_RATE_LIMIT="5 per minute").test_client()
    codes = [client.get(f"/privacy/deletion/abc{n}").status_code for n in range(7)]
    assert codes == [404] * 5 + [429] * 2


def test_webhooks_limit_only_requests_that_fail_verification(limited):
    """Forged webhooks from one address get 403 and then 429; Meta's signed deliveries are never counted or slowed."""
    import json

    from chatpad.channels.meta import sign_body

    app = limited(WEBHOOK_UNSIGNED_RATE_LIMIT="3 per minute")
    client = app.test_client()
    body = json.dumps({"object": "page", "entry": [{"id": "1", "time": 1, "messaging": []}]}).encode()
    forged = {"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"}
    codes = [client.post("/api/webhooks/facebook", data=body, headers=forged).status_code for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]
    signed = {**sign_body(body, app.config["META_APP_SECRET"]), "Content-Type": "application/json"}
    assert [client.post("/api/webhooks/facebook", data=body, headers=signed).status_code for _ in range(10)] == [
        200
    ] * 10
