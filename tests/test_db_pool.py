"""Pooled database connections are checked before use once they have sat idle (chatpad.extensions.ping_after_idle),
not on every checkout: a connection whose server side went away while it was idle is replaced before the caller
sees it, and a busy connection costs no extra round trip."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from chatpad.extensions import ping_after_idle


@pytest.fixture
def pg_url(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: the test ends a server backend (SQLite has none)")
    return database_url


def _engine(url: str, idle_seconds: float):
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping_after_idle(engine, idle_seconds)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return engine, statements


def _kill_pooled_backend(url: str, engine) -> None:
    """End the server process behind the pool's one connection, from another connection, as a restart would."""
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(url)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()
    time.sleep(0.1)


def test_an_idle_connection_that_went_away_is_replaced_before_use(pg_url):
    engine, _ = _engine(pg_url, idle_seconds=0.2)
    try:
        _kill_pooled_backend(pg_url, engine)
        time.sleep(0.3)  # idle past the threshold
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_connection_in_use_a_moment_ago_is_not_pinged(pg_url):
    engine, statements = _engine(pg_url, idle_seconds=60)
    try:
        for _ in range(3):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert statements == ["SELECT 1"] * 3  # no ping between them
        # The price, and why the threshold exists: a connection lost while recently used fails its caller once.
        _kill_pooled_backend(pg_url, engine)
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with engine.connect() as conn:  # and the pool has replaced it for the next
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
