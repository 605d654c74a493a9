"""Rotating the token encryption key end to end, the way an operator does it in production (README: Configuration):
deploy the new key first with the old one after it, run `flask chatpad rotate-keys` while the web app and a worker
keep serving and sending, then deploy the new key alone. No send fails, no page breaks, and the old key can no
longer read anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text
from werkzeug.serving import make_server

from chatpad import create_app
from chatpad.extensions import db as _db
from chatpad.messages import OutboundReply
from chatpad.models import Contact, Conversation, Message, SocialAccount
from chatpad.pipeline import queue_reply
from config import TestConfig
from tests.factories import PASSWORD
from tests.plugins.loopback import sent_messages
from tests.plugins.privacy import add_conversation

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OLD = TestConfig.TOKEN_ENCRYPTION_KEYS
NEW = Fernet.generate_key().decode()


def environment(database_url: str, redis_url: str, keys: str, instance: Path) -> dict[str, str]:
    """What a production process would get: every secret and URL from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATPAD_", "DATABASE_", "REDIS_"))}
    env.update(
        CHATPAD_ENV="development",
        CHATPAD_INSTANCE_DIR=str(instance),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        TOKEN_ENCRYPTION_KEYS=keys,
        SECRET_KEY=TestConfig.SECRET_KEY,
        META_APP_ID=TestConfig.META_APP_ID,
        META_APP_SECRET=TestConfig.META_APP_SECRET,
        META_VERIFY_TOKEN=TestConfig.META_VERIFY_TOKEN,
        REPLY_DEBOUNCE_SECONDS="0",
        PYTHONPATH=str(ROOT),
    )
    return env


class Worker:
    """A real worker process (jobs/worker.py) on the outbound queue, stopped the way a deploy stops it."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.loopback_worker", "outbound"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current job
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    return server


def signed_in(url: str, email: str) -> requests.Session:
    import re

    web = requests.Session()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', web.get(f"{url}/login", timeout=10).text).group(1)
    assert web.post(f"{url}/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, timeout=10).ok
    return web


def wait_for_sends(app, count: int, worker: Worker, deadline: float = 90) -> list[dict]:
    """Poll Redis until the loopback platform received `count` messages (the worker is another process)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with app.app_context():
            sent = sent_messages()
        if len(sent) >= count:
            return sent
        assert worker.process.poll() is None, "the worker died; see its log under test-artifacts/"
        time.sleep(0.2)
    raise AssertionError(f"only {len(sent)} of {count} messages were sent")


def queue_replies(app, conversation_ids, user_id, n: int, label: str) -> None:
    from chatpad.models import User

    with app.app_context():
        user = _db.session.get(User, user_id)
        for i in range(n):
            conversation = _db.session.get(Conversation, conversation_ids[i % len(conversation_ids)])
            queue_reply(conversation, OutboundReply(f"{label} {i}", sender_type="human"), user=user)
        _db.session.remove()


def test_rotate_keys_while_the_app_and_a_worker_run(app, db, make, database_url, redis_url, tmp_path, artifacts):
    """Sends before, during and after the rotation all go out; the admin's pages keep working; afterwards only
    the new key decrypts, and a process holding just the old key cannot read a single token."""
    biz = make.business()
    accounts = [
        make.account(biz.agent, "loopback", biz.location, account_id=f"loop-rot-{n}", access_token=f"EAAGtoken{n}" * 4)
        for n in range(3)
    ]
    accounts[0].refresh_token = "1//refresh-rotation-test"
    contact = Contact(organization_id=biz.org.id, name="Rota Tion")
    db.session.add(contact)
    db.session.flush()
    conversation_ids = [
        add_conversation(db, account, contact, external_id=f"cust-{n}", texts=["Hi"], days_ago=0.01).id
        for n, account in enumerate(accounts)
    ]
    db.session.commit()
    plain = {a.id: (a.access_token, a.refresh_token) for a in accounts}

    both = f"{NEW},{OLD}"
    overrides = dict(SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url, RATELIMIT_ENABLED=False)
    web_both = create_app(TestConfig, TOKEN_ENCRYPTION_KEYS=both, **overrides)
    web_new = create_app(TestConfig, TOKEN_ENCRYPTION_KEYS=NEW, **overrides)
    old_only = create_app(TestConfig, TOKEN_ENCRYPTION_KEYS=OLD, **overrides)
    env_both = environment(database_url, redis_url, both, tmp_path)
    env_new = environment(database_url, redis_url, NEW, tmp_path)
    log_path = artifacts / "key-rotation-worker.log"
    log_path.unlink(missing_ok=True)

    # Step 1: every process runs with "new,old" (the new key encrypts, both decrypt).
    server = serve(web_both)
    worker = Worker(env_both, log_path)
    try:
        web = signed_in(server.url, biz.user.email)
        queue_replies(web_both, conversation_ids, biz.user.id, 10, "before")
        # Step 2: rotate while sends are in flight and the admin browses the accounts.
        rotation = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "chatpad", "rotate-keys"],
            cwd=ROOT,
            env=env_both,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while rotation.poll() is None:
            assert web.get(f"{server.url}/admin/accounts/", timeout=10).status_code == 200
            time.sleep(0.05)
        output = rotation.stdout.read()
        assert rotation.returncode == 0, output
        assert "Re-encrypted 4 row(s)" in output  # three loopback accounts and the Facebook Page
        queue_replies(web_both, conversation_ids, biz.user.id, 10, "during")
        wait_for_sends(web_both, 20, worker)
    finally:
        worker.stop()
        server.shutdown()

    # Every stored token is now readable with the new key alone.
    rows = db.session.execute(text("SELECT id, access_token, refresh_token FROM social_accounts")).all()
    for _, access, refresh in rows:
        for value in (access, refresh):
            if value:
                Fernet(NEW.encode()).decrypt(value.encode())

    # Step 3: the old key is dropped everywhere; sends and pages still work.
    server = serve(web_new)
    worker = Worker(env_new, log_path)
    try:
        queue_replies(web_new, conversation_ids, biz.user.id, 5, "after")
        sent = wait_for_sends(web_new, 25, worker)
        page = signed_in(server.url, biz.user.email).get(f"{server.url}/admin/accounts/", timeout=10)
        assert page.status_code == 200 and all(a.account_name in page.text for a in accounts)
    finally:
        worker.stop()
        server.shutdown()

    expected = [f"loop-rot-{i % 3}" for batch in (10, 10, 5) for i in range(batch)]
    assert sorted(s["account"] for s in sent) == sorted(expected)
    with web_new.app_context():
        statuses = set(_db.session.scalars(select(Message.status).where(Message.direction == "outbound")))
        assert statuses == {"sent"}
        for account_id, (access, refresh) in plain.items():
            account = _db.session.get(SocialAccount, account_id)
            assert (account.access_token, account.refresh_token) == (access, refresh)
        _db.session.remove()
    # A process that still had only the old key could read nothing.
    with old_only.app_context():
        with pytest.raises(InvalidToken):
            _db.session.get(SocialAccount, accounts[0].id).access_token  # noqa: B018
        _db.session.remove()
