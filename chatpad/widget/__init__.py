"""The web widget's HTTP side: the embed script, the visitor API, its live stream, and the admin page.

- /widget.js: the one script a business embeds (chatpad/static/widget/widget.js).
- /api/widget/<key>/…: the visitor API (api.py) and its live updates (stream.py), CSRF-exempt (no cookies: a
  signed visitor token in a header) and CORS-checked against the widget's allowed origins (cors.py).
- /admin/widgets/: create and configure widgets, copy the script tag (admin.py).
"""

from flask import Blueprint

bp = Blueprint("widget", __name__)

from . import admin, api, stream  # noqa: E402,F401  (register the routes and the template helper)
