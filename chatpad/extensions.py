"""Flask extensions, created unbound and bound in create_app()."""

import time

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it has sat idle for idle_seconds or more.

    SQLAlchemy's pool_pre_ping checks every checkout: one more round trip per transaction, a fifth of a busy worker's
    statements (an AI reply runs four short transactions). A connection that was in use a moment ago is as good as
    the ping would say; the ones that go stale are those left idle (a database restart, a proxy's idle timeout). A
    stale one is replaced before use, as pre_ping does: a disconnect found by the ping invalidates the pool (after a
    restart every pooled connection is dead) and SQLAlchemy retries the checkout with a new connection. Any other
    error, a job's timeout raised in this thread included, goes to the caller. A database lost mid-burst fails that
    transaction, which the job's retries cover.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            idle = time.monotonic() - since
            raise InvalidatePoolError(f"a connection idle for {idle:.0f} s is gone: {exc}") from exc
