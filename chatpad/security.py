"""Response headers every page gets, and the Content-Security-Policy with its per-request nonce.

The policy is strict: scripts and styles only from this origin or carrying this response's nonce, no inline event
handlers, no inline style attributes, no plugins, no framing, forms only to this origin (and the OAuth providers'
authorization pages, which the connect flows send the browser to). Images also from the platforms' media hosts
(CSP_MEDIA_SOURCES: Meta's CDNs, where customers' photos and story mentions live).

Writing a page under it (docs/security.md has the long version):
- a <script> or <style> element needs the nonce: ``<script nonce="{{ csp_nonce() }}">`` in our templates,
  ``{{ admin_csp_nonce_attribute }}`` in Flask-Admin ones (the Admin is built with csp_nonce as its generator);
- no ``onclick=``/``onchange=``/``onsubmit=`` attributes: chatpad/static/admin.js gives ``data-confirm`` (ask before
  a form is sent or a link followed) and ``data-autosubmit`` (send the form when a field changes);
- no ``style=`` attributes: a class in chatpad/static/chatpad.css (there are width utilities);
- a view that needs more (an extra image host, a frame) widens its own response with ``@csp_extend(...)``;
  nothing is relaxed globally.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from functools import wraps
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, has_request_context, request

CSP_HEADER = "Content-Security-Policy"


def csp_nonce() -> str:
    """This response's CSP nonce (one per request, created on first use)."""
    if not has_request_context():
        return ""
    # Kept on the request, not on g: an app context (and its g) can outlive one request.
    nonce = getattr(request, "_csp_nonce", None)
    if nonce is None:
        nonce = request._csp_nonce = secrets.token_urlsafe(18)
    return nonce


def origin_of(url: str | None) -> str | None:
    """scheme://host[:port] of a URL; None for anything that is not an absolute http(s) URL."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def base_policy(config) -> dict[str, list[str]]:
    """The app-wide directives (without the nonce), built from config once per app."""
    media = [s for s in (config.get("CSP_MEDIA_SOURCES") or "").split() if s]
    # The connect flows send the browser to the OAuth providers' pages, sometimes from a form (form-action also
    # governs the redirect that follows a form submission).
    oauth = [
        o
        for o in (
            origin_of(config.get("FACEBOOK_DIALOG_URL")),
            origin_of(config.get("GOOGLE_AUTHORIZE_URL")),
            origin_of(config.get("MICROSOFT_LOGIN_URL")),
        )
        if o
    ]
    return {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *media],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "media-src": ["'self'", *media],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", *dict.fromkeys(oauth)],
    }


def render_policy(policy: dict[str, list[str]], nonce: str | None) -> str:
    parts = []
    for directive, sources in policy.items():
        values = list(sources)
        if nonce and directive in ("script-src", "style-src"):
            values.append(f"'nonce-{nonce}'")
        parts.append(" ".join([directive, *values]))
    return "; ".join(parts)


def csp_extend(**directives: Iterable[str]) -> Callable:
    """Widen the policy for one view only, e.g. ``@csp_extend(frame_src=["'self'"])`` (underscores become dashes)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            extra = getattr(request, "_csp_extra", None) or {}
            for name, sources in directives.items():
                extra.setdefault(name.replace("_", "-"), []).extend(sources)
            request._csp_extra = extra
            return view(*args, **kwargs)

        return wrapped

    return decorator


def init_security(app: Flask) -> None:
    """Install the security headers, the CSP and its nonce (Jinja: ``csp_nonce()``)."""
    app.extensions["chatpad.csp"] = base_policy(app.config)
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if CSP_HEADER not in headers:  # a view that sets its own policy keeps it
            headers[CSP_HEADER] = current_policy(response)
        if response.mimetype == "text/html":
            # Pages show customers' data: never kept by a shared cache, always revalidated (ETags still work).
            headers.setdefault("Cache-Control", "private, no-cache")
        return response


def current_policy(response: Response | None = None) -> str:
    """The CSP header value for the current request: the app's policy, this view's additions, the nonce."""
    policy = {k: list(v) for k, v in current_app.extensions["chatpad.csp"].items()}
    in_request = has_request_context()
    for directive, sources in ((getattr(request, "_csp_extra", None) if in_request else None) or {}).items():
        base = policy.setdefault(directive, list(policy.get("default-src", [])))
        base.extend(s for s in sources if s not in base)
    if in_request:
        from chatpad.streams import stream_origin

        # The inbox's live updates come from the stream process, which may be another origin (chatpad.streams).
        streams_at = stream_origin()
        if streams_at and streams_at not in policy["connect-src"]:
            policy["connect-src"].append(streams_at)
    nonce = getattr(request, "_csp_nonce", None) if in_request else None
    return render_policy(policy, nonce)


def safe_local_path(target: str | None) -> str | None:
    """``target`` when it is a same-site relative path safe to redirect to, else None.

    One rule for every ``next`` parameter: an absolute or scheme-relative URL (or ``/\\``, which browsers read as
    ``//``) is an open redirect, and a control character (CR/LF) cannot go in a Location header at all.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    try:
        if urlsplit(target).netloc:
            return None
    except ValueError:
        return None
    return target
