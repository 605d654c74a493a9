"""Tokens at rest: only ciphertext in the database, rotation to a new key without losing a token."""

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text

from chatpad import create_app
from chatpad.crypto import TokenCipher
from chatpad.models import SocialAccount
from config import TestConfig


def test_raw_sql_shows_no_plaintext_token(make, db):
    biz = make.business()
    biz.account.refresh_token = "refresh-plaintext-xyz"
    db.session.commit()
    row = db.session.execute(text("SELECT access_token, refresh_token FROM social_accounts")).one()
    assert "secret" not in row.access_token and row.access_token.startswith("gAAAA")
    assert "refresh-plaintext" not in row.refresh_token
    db.session.expire_all()
    assert db.session.get(SocialAccount, biz.account.id).access_token == biz.account.access_token


def test_rotate_keys_reencrypts_under_the_newest_key(app, make, db, database_url, redis_url):
    """Put a new key first, run rotate-keys, drop the old key: every token still decrypts."""
    biz = make.business()
    plain = biz.account.access_token
    old_key = app.config["TOKEN_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    overrides = dict(SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url)

    rotating = create_app(TestConfig, TOKEN_ENCRYPTION_KEYS=f"{new_key},{old_key}", **overrides)
    # Flask's CLI runs in the current app context if there is one; make it the rotating app's.
    with rotating.app_context():
        result = rotating.test_cli_runner().invoke(args=["chatpad", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 row" in result.output

    only_new = create_app(TestConfig, TOKEN_ENCRYPTION_KEYS=new_key, **overrides)
    with only_new.app_context():
        from chatpad.extensions import db as db2

        assert db2.session.get(SocialAccount, biz.account.id).access_token == plain
        raw = db2.session.execute(text("SELECT access_token FROM social_accounts")).scalar_one()
        assert Fernet(new_key.encode()).decrypt(raw.encode()).decode() == plain
        db2.session.remove()

    with rotating.app_context():
        again = rotating.test_cli_runner().invoke(args=["chatpad", "rotate-keys"])
    assert "Re-encrypted 0 row" in again.output


def test_admin_pages_never_render_a_token(client, make, db):
    from tests.conftest import login

    biz = make.business()
    login(client, biz.user.email)
    token = biz.account.access_token
    for url in (
        "/admin/accounts/",
        f"/admin/accounts/details/?id={biz.account.id}",
        f"/admin/accounts/edit/?id={biz.account.id}",
        "/admin/accounts/export/csv/",
    ):
        body = client.get(url).get_data(as_text=True)
        assert biz.account.account_name in body, url
        assert token not in body and "gAAAA" not in body, url


def test_a_dropped_key_no_longer_decrypts_even_after_its_tokens_were_read():
    """Decrypted columns are remembered per cipher (each account's token is read on every webhook and reply); a
    cipher built without the old key, as after a rotation and restart, still refuses that key's tokens."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = TokenCipher([old]).encrypt("page-token")
    both = TokenCipher([new, old])
    assert both.decrypt_column(token) == both.decrypt_column(token) == "page-token"
    with pytest.raises(InvalidToken):
        TokenCipher([new]).decrypt_column(token)


def test_rotate_keys_reencrypts_calendar_secrets_too(app, make, db, database_url, redis_url):
    """A calendar's OAuth tokens (or CalDAV password) must survive dropping the old key like an account's."""
    from chatpad.models import Calendar

    biz = make.business()
    calendar = Calendar(
        agent_id=biz.agent.id, location_id=biz.location.id, provider="caldav", name="Tours", account="ana",
        remote_id="https://dav.example.com/ana/tours/", access_token="caldav-password-1",
    )  # fmt: skip
    db.session.add(calendar)
    db.session.commit()
    old_key, new_key = app.config["TOKEN_ENCRYPTION_KEYS"], Fernet.generate_key().decode()
    overrides = dict(SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url)
    rotating = create_app(TestConfig, TOKEN_ENCRYPTION_KEYS=f"{new_key},{old_key}", **overrides)
    with rotating.app_context():
        result = rotating.test_cli_runner().invoke(args=["chatpad", "rotate-keys"])
    assert result.exit_code == 0, result.output
    only_new = create_app(TestConfig, TOKEN_ENCRYPTION_KEYS=new_key, **overrides)
    with only_new.app_context():
        from chatpad.extensions import db as db2

        assert db2.session.get(Calendar, calendar.id).access_token == "caldav-password-1"
        db2.session.remove()
