"""The sandbox's demo website: a community's home page, on another origin than ChatPad, embedding its web widget.

/widget/ lists the demo communities; /widget/<slug> is a page of that community's "website" with the one script tag
a business pastes (the demo widget's key is derived like the seeded one, so they agree); /widget/<slug>?key=wk_…
embeds any widget, to try one created in the admin (add this sandbox's origin to its allowed origins).

The page is deliberately hostile to embedded widgets: a strict Content-Security-Policy (no inline scripts or
styles, no eval) and aggressive global CSS. The widget must look and work the same regardless.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, render_template, request

from chatpad import demo_data as D

bp = Blueprint("sandbox_widget", __name__, url_prefix="/widget", static_folder="static", static_url_path="/static")
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _chatpad_url() -> str:
    return (current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")


def _streams_origin(chatpad: str) -> str:
    """Where the widget opens its live updates: ChatPad's stream process (STREAMS_URL, or ChatPad's host on
    STREAMS_PORT), which a site's CSP must allow as well."""
    config = current_app.config
    url = config.get("STREAMS_URL")
    if not url and config.get("STREAMS_PORT"):
        parts = urlsplit(chatpad)
        url = f"{parts.scheme}://{parts.hostname}:{int(config['STREAMS_PORT'])}"
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.get("/")
def index():
    return render_template("sandbox/widget_index.html", locations=D.LOCATIONS)


@bp.get("/<slug>")
def site(slug: str):
    """A demo community's home page with its chat widget."""
    location = next((loc for loc in D.LOCATIONS if loc.slug == slug), None)
    if location is None:
        abort(404)
    key = request.args.get("key") or D.widget_key(current_app.config["META_APP_SECRET"], location)
    if not KEY_RE.match(key):
        abort(400)
    chatpad = _chatpad_url()
    html = render_template("sandbox/widget_site.html", location=location, key=key, chatpad=chatpad)
    csp = (
        f"default-src 'self'; script-src 'self' {chatpad}; connect-src {chatpad} {_streams_origin(chatpad)}; "
        "style-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return html, 200, {"Content-Security-Policy": csp}
