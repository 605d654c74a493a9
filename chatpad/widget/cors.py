"""CORS for the visitor API: only a widget's allowed origins may call it, checked on every request.

The browser's preflight is answered here too, but the check does not rely on it: a "simple" request (which a
browser sends without a preflight) from a disallowed origin is refused with 403 before anything is read or stored.
A request with no Origin at all is refused as well: every browser sends one on the cross-origin calls the widget
makes, so its absence means a non-browser client or a same-origin page, neither of which embeds a widget.
"""

from __future__ import annotations

from flask import Response

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID"
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE = "600"


def add_cors_headers(response: Response, origin: str | None) -> Response:
    """Let this origin read the response (no credentials: visitors are identified by a header token)."""
    response.headers.add("Vary", "Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    # The API's JSON may be read cross-origin; framing is still denied by the app-wide X-Frame-Options.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def preflight_response(origin: str) -> Response:
    """204 to an allowed origin's preflight, cached by the browser for ten minutes."""
    response = Response(status=204)
    add_cors_headers(response, origin)
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
