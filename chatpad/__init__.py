"""ChatPad Channels: one AI agent answering a business's customers on every channel, from the right account."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from config import Config, config_from_env

from .crypto import TokenCipher
from .embedded import load_or_create_dev_secrets, start_embedded_redis
from .extensions import csrf, db, limiter, login_manager, migrate, ping_after_idle
from .http import init_input_limits

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR.parent / "migrations"
DEV_SECRET_KEYS = ("SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "META_APP_ID", "META_APP_SECRET", "META_VERIFY_TOKEN")


class ConfigurationError(RuntimeError):
    """The app cannot start safely with this configuration."""


def create_app(config_class: type[Config] | None = None, **overrides) -> Flask:
    """Build the web app: config, extensions, blueprints, the admin and the CLI."""
    config_class = config_class or config_from_env()
    app = Flask(
        __name__,
        instance_path=config_class.INSTANCE_DIR,
        template_folder=str(PACKAGE_DIR.parent / "templates"),
        static_folder="static",
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    _configure_secrets(app)
    _configure_logging(app)
    init_input_limits(app)  # before any route: the bounded <int:> converter

    if not app.config.get("REDIS_URL"):
        app.config["REDIS_URL"] = start_embedded_redis(app.instance_path)
    app.extensions["chatpad.cipher"] = TokenCipher.from_config(app.config["TOKEN_ENCRYPTION_KEYS"])

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_after_idle(engine, app.config["DATABASE_PING_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", _limits_storage_uri(app.config["REDIS_URL"]))
    limiter.init_app(app)

    from . import models  # noqa: F401  (register the tables)
    from .auth import bp as auth_bp
    from .cli import bp as cli_bp
    from .privacy.views import bp as privacy_bp
    from .security import init_security
    from .webhooks import PREFIX as WEBHOOK_PREFIX
    from .webhooks import create_webhook_app
    from .webhooks.views import Receiver as WebhookReceiver
    from .widget import bp as widget_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(cli_bp)
    # The widget's visitor API: no cookies (a signed token in a header) and CORS-checked origins, so no CSRF token.
    app.register_blueprint(widget_bp)
    csrf.exempt(widget_bp)
    app.register_blueprint(privacy_bp)
    from .inbox.attachments import bp as attachments_bp
    from .integrations.email_oauth import bp as email_oauth_bp

    app.register_blueprint(email_oauth_bp)
    app.register_blueprint(attachments_bp)
    init_security(app)

    from .channels.instagram.stories import register_template_helpers as register_instagram_helpers

    register_instagram_helpers(app)

    @app.get("/healthz")
    def healthz():
        """Liveness for load balancers and process managers: the process answers."""
        return "ok", 200, {"Content-Type": "text/plain"}

    from .integrations import init_integrations

    init_integrations(app)

    from .site import init_admin

    init_admin(app)
    # The webhook receiver is its own lean app under /api/webhooks (see chatpad/webhooks/__init__.py).
    webhook_app = create_webhook_app(app)
    app.extensions["chatpad.webhook_app"] = webhook_app
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {WEBHOOK_PREFIX: WebhookReceiver(webhook_app)})
    if app.config.get("PROXY_FIX_X_FOR"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX_X_FOR"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def normalize_database_url(url: str) -> str:
    """postgres:// and postgresql:// (what hosting providers hand out) mean PostgreSQL through psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _configure_secrets(app: Flask) -> None:
    """Production refuses to start without real secrets; development and tests generate and keep them."""
    if app.config["ENV_NAME"] == "production":
        missing = [k for k in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEYS") if not app.config.get(k)]
        if missing:
            raise ConfigurationError(
                f"Refusing to start in production without {', '.join(missing)}. "
                "Set them in the environment (see README: Configuration)."
            )
        if len(app.config["SECRET_KEY"]) < 32:
            raise ConfigurationError("SECRET_KEY must be at least 32 characters in production.")
        try:
            TokenCipher.from_config(app.config["TOKEN_ENCRYPTION_KEYS"])
        except ValueError as exc:
            raise ConfigurationError(f"TOKEN_ENCRYPTION_KEYS is not a list of Fernet keys: {exc}") from None
        return
    if all(app.config.get(k) for k in DEV_SECRET_KEYS):
        return
    generated = load_or_create_dev_secrets(app.instance_path)
    for key in DEV_SECRET_KEYS:
        if not app.config.get(key):
            app.config[key] = generated[key]


def _configure_logging(app: Flask) -> None:
    from .redact import install_log_redaction

    logging.basicConfig(
        level=app.config.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Secrets that slip into a log line anyway come out as [redacted] (chatpad/redact.py).
    install_log_redaction(app.config)


def _limits_storage_uri(redis_url: str) -> str:
    """Flask-Limiter's storage URI for the app's Redis (redis+unix:// for the embedded server's socket)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: enforce foreign keys, and let the web process and workers write to one file without 'locked'."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
