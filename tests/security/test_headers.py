"""What every response says to the browser: the CSP and its nonce, the other security headers, and cookie flags."""

from __future__ import annotations

import re

from chatpad import create_app
from chatpad.security import origin_of
from config import ProductionConfig, TestConfig
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD

NONCE = re.compile(r"'nonce-([A-Za-z0-9_\-]+)'")


def test_every_page_gets_a_strict_csp_with_a_fresh_nonce(client, make):
    """Scripts and styles only from us or with this response's nonce; no plugins, framing or foreign forms."""
    biz = make.business()
    login(client, biz.user.email)
    first = client.get("/admin/")
    second = client.get("/admin/")
    policy = first.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "*" not in directives["script-src"]
    nonce = NONCE.search(directives["script-src"]).group(1)
    assert f'nonce="{nonce}"' in first.get_data(as_text=True)
    assert NONCE.search(second.headers["Content-Security-Policy"]).group(1) != nonce


def test_images_only_from_us_and_the_platforms_media_hosts(app, client):
    """Customers' photos load from Meta's CDNs; an email's remote images (tracking pixels) are refused."""
    directives = dict(
        d.strip().split(" ", 1) for d in client.get("/login").headers["Content-Security-Policy"].split(";")
    )
    sources = directives["img-src"].split()
    assert {"'self'", "data:", "https://*.fbcdn.net", "https://*.cdninstagram.com"} <= set(sources)
    assert "https:" not in sources and "*" not in sources


def test_forms_may_go_only_to_us_and_the_oauth_providers(app, client):
    """form-action lists this origin and the authorization pages the connect flows send people to."""
    directives = dict(
        d.strip().split(" ", 1) for d in client.get("/login").headers["Content-Security-Policy"].split(";")
    )
    allowed = directives["form-action"].split()
    assert allowed[0] == "'self'"
    # The sandbox's Facebook dialog, Google and Microsoft pages here; Meta's, Google's and Microsoft's in production.
    expected = {
        origin_of(app.config[key]) for key in ("FACEBOOK_DIALOG_URL", "GOOGLE_AUTHORIZE_URL", "MICROSOFT_LOGIN_URL")
    }
    assert set(allowed[1:]) == expected and len(allowed) == len(expected) + 1
    assert "*" not in allowed and "https:" not in allowed
    production = create_app(
        ProductionConfig,
        SECRET_KEY="x" * 40,
        TOKEN_ENCRYPTION_KEYS=TestConfig.TOKEN_ENCRYPTION_KEYS,
        REDIS_URL=app.config["REDIS_URL"],
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
    )
    policy = production.test_client().get("/login").headers["Content-Security-Policy"]
    form_action = dict(d.strip().split(" ", 1) for d in policy.split(";"))["form-action"].split()
    assert form_action == [
        "'self'",
        "https://www.facebook.com",
        "https://accounts.google.com",
        "https://login.microsoftonline.com",
    ]


def test_the_other_security_headers(client):
    """nosniff, no framing, a strict referrer policy, no powerful features, and private caching of pages."""
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP in development


def production_app(app, **overrides):
    return create_app(
        ProductionConfig,
        SECRET_KEY="p" * 48,
        TOKEN_ENCRYPTION_KEYS=TestConfig.TOKEN_ENCRYPTION_KEYS,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        RATELIMIT_ENABLED=False,
        **overrides,
    )


def test_production_cookies_are_host_only_secure_httponly_and_samesite(app, make):
    """In production the session and remember-me cookies are __Host- cookies: Secure, HttpOnly, SameSite=Lax,
    Path=/ and no Domain, so scripts cannot read them and no subdomain can plant or shadow them."""
    biz = make.business()
    prod = production_app(app)
    client = prod.test_client()
    https = "https://chat.example.com"
    page = client.get("/login", base_url=https)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    response = client.post(
        "/login",
        base_url=https,
        headers={"Referer": f"{https}/login"},  # Flask-WTF checks the referrer on HTTPS
        data={
            "email": biz.user.email,
            "password": PASSWORD,
            "remember": "y",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    for name in ("__Host-chatpad_session", "__Host-chatpad_remember"):
        flags = [f.strip().lower() for f in cookies[name].split(";")]
        assert {"secure", "httponly", "path=/", "samesite=lax"} <= set(flags), cookies[name]
        assert not any(f.startswith("domain=") for f in flags)


def test_development_cookies_work_over_plain_http(client, make):
    """Without HTTPS the cookies drop the __Host- prefix (browsers would refuse it) but stay HttpOnly and Lax."""
    biz = make.business()
    response = login(client, biz.user.email)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("chatpad_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_a_view_can_widen_its_own_policy_only(app):
    """@csp_extend adds sources to one view's policy; every other page keeps the strict one."""
    from flask import Flask

    from chatpad.security import csp_extend, init_security

    demo = Flask("csp-demo")
    demo.config.update(CSP_MEDIA_SOURCES="")
    init_security(demo)

    @demo.get("/framed")
    @csp_extend(frame_src=["https://www.youtube-nocookie.com"])
    def framed():
        return "<p>video</p>"

    @demo.get("/plain")
    def plain():
        return "<p>plain</p>"

    client = demo.test_client()
    assert (
        "frame-src 'self' https://www.youtube-nocookie.com" in client.get("/framed").headers["Content-Security-Policy"]
    )
    assert "frame-src" not in client.get("/plain").headers["Content-Security-Policy"]
