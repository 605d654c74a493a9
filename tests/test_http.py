"""The platform clients' pooled session: the environment's proxy and CA settings apply as with plain requests,
read once per origin."""

from __future__ import annotations

import requests

from chatpad.http import PooledSession


def _settings(session: requests.Session, url: str) -> dict:
    return session.merge_environment_settings(url, {}, None, None, None)


def test_proxy_and_ca_bundle_from_the_environment_as_requests_does(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "graph.local")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    pooled, plain = PooledSession(4), requests.Session()
    for url in ("https://graph.facebook.com/v21.0/me/messages", "https://graph.local/v21.0/me"):
        assert _settings(pooled, url) == _settings(plain, url)
    assert _settings(pooled, "https://graph.facebook.com/x")["proxies"]["https"] == "http://proxy.internal:3128"
    assert "https" not in _settings(pooled, "https://graph.local/x")["proxies"]
    assert _settings(pooled, "https://graph.facebook.com/x")["verify"] == "/etc/ssl/company.pem"


def test_an_explicit_verify_or_proxy_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    session = PooledSession(4)
    merged = session.merge_environment_settings(
        "https://api.openai.com/v1/chat/completions", {"https": "http://other:8080"}, None, False, None
    )
    assert merged["proxies"]["https"] == "http://other:8080"
    assert merged["verify"] is False


def test_the_environment_is_read_once_per_origin(monkeypatch):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    session = PooledSession(4)
    assert "https" not in _settings(session, "https://graph.facebook.com/a")["proxies"]
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    # Same origin: the worker's environment was read when it first called it (it does not change while it runs).
    assert "https" not in _settings(session, "https://graph.facebook.com/b")["proxies"]
    # A new origin reads it now.
    assert _settings(session, "https://api.openai.com/v1")["proxies"]["https"] == "http://proxy.internal:3128"
