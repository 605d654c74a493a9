"""Configuration: production refuses to run without real secrets; development makes and keeps its own."""

import pytest

from chatpad import ConfigurationError, create_app, normalize_database_url
from config import DevelopmentConfig, ProductionConfig


def test_production_refuses_to_start_without_secrets(redis_url):
    class Prod(ProductionConfig):
        SECRET_KEY = None
        TOKEN_ENCRYPTION_KEYS = None

    with pytest.raises(ConfigurationError, match="SECRET_KEY, TOKEN_ENCRYPTION_KEYS"):
        create_app(Prod, REDIS_URL=redis_url)


def test_production_refuses_a_short_secret_key_or_bad_encryption_key(redis_url):
    class Prod(ProductionConfig):
        SECRET_KEY = "short"
        TOKEN_ENCRYPTION_KEYS = "not-a-fernet-key"

    with pytest.raises(ConfigurationError, match="at least 32"):
        create_app(Prod, REDIS_URL=redis_url)
    with pytest.raises(ConfigurationError, match="Fernet"):
        create_app(Prod, REDIS_URL=redis_url, SECRET_KEY="x" * 40)


def test_production_sets_secure_cookies(redis_url):
    from cryptography.fernet import Fernet

    class Prod(ProductionConfig):
        SECRET_KEY = "x" * 48
        TOKEN_ENCRYPTION_KEYS = Fernet.generate_key().decode()

    app = create_app(Prod, REDIS_URL=redis_url, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["REMEMBER_COOKIE_SECURE"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_generates_secrets_once_and_keeps_them(tmp_path, redis_url):
    class Dev(DevelopmentConfig):
        INSTANCE_DIR = str(tmp_path)
        SECRET_KEY = None
        TOKEN_ENCRYPTION_KEYS = None
        META_APP_SECRET = None

    first = create_app(Dev, REDIS_URL=redis_url, SQLALCHEMY_DATABASE_URI="sqlite://")
    second = create_app(Dev, REDIS_URL=redis_url, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert first.config["SECRET_KEY"] and first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["TOKEN_ENCRYPTION_KEYS"] == second.config["TOKEN_ENCRYPTION_KEYS"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_postgres_urls_use_psycopg3():
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"
