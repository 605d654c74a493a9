"""Rendering what customers send: HTML email sanitised, everything else escaped.

Anything a customer controls — names, message text, attachment filenames, email subjects and bodies, profile
fields — reaches pages through Jinja's autoescaping, never through ``|safe`` or ``Markup()``. The one exception is
an email's HTML body, which is shown as HTML: it goes through sanitize() (nh3, the Rust ammonia sanitiser) at
render time, whatever was done when it was stored, so an older row or a missed path cannot bring a script along.

The allowlist keeps what mail needs to read well (formatting, links, lists, tables, images) and drops scripts,
styles, event handlers, forms, frames, SVG and MathML. Remote images are dropped by default: they are read
receipts ("tracking pixels") that tell a sender when and from where the team opened the mail, and the page's
Content-Security-Policy would refuse them anyway. Inline images (``cid:``) are kept, or rewritten to the URLs the
caller gives for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import nh3
from markupsafe import Markup
from werkzeug.utils import secure_filename

MAX_HTML_CHARS = 1_000_000  # an email body larger than this is cut before sanitising

SAFE_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div", "dl", "dt", "em",
        "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q",
        "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "u", "ul",
    }
)  # fmt: skip
SAFE_ATTRIBUTES = {
    "*": {"align", "dir", "title", "lang"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign"},
    "th": {"colspan", "rowspan", "valign", "scope"},
    "ol": {"start", "type"},
    "blockquote": {"type", "cite"},
    "font": {"color", "size", "face"},
}
SAFE_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})


def sanitize(
    html: str | None,
    *,
    remote_images: bool = False,
    inline_images: Mapping[str, str] | None = None,
) -> Markup:
    """HTML from outside (an email body) made safe to put in a page; returns Markup for Jinja.

    remote_images: keep ``<img src="https://…">`` (off by default: they are tracking pixels, and the CSP blocks
    them). inline_images: Content-ID → URL, to show ``<img src="cid:…">`` parts from the app's own attachment URLs;
    a cid with no URL given is dropped.
    """
    if not html:
        return Markup("")
    return Markup(  # noqa: S704 (the output of an allowlist sanitiser)
        nh3.clean(
            html[:MAX_HTML_CHARS],
            tags=set(SAFE_TAGS),
            attributes={k: set(v) for k, v in SAFE_ATTRIBUTES.items()},
            url_schemes=set(SAFE_URL_SCHEMES),
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
            attribute_filter=_image_filter(remote_images, inline_images or {}),
        )
    )


def _image_filter(remote_images: bool, inline_images: Mapping[str, str]) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag != "img" or attribute != "src":
            return value
        lowered = value.strip().lower()
        if lowered.startswith("cid:"):
            cid = value.strip()[4:].strip("<>")
            return inline_images.get(cid)
        if lowered.startswith(("http:", "https:")):
            return value if remote_images else None
        return None

    return keep


def safe_download_name(filename: str | None, fallback: str = "attachment") -> str:
    """A filename safe to use on disk, in a ZIP or in Content-Disposition: no directories, no control characters,
    no leading dots. Non-ASCII names become ASCII (the original is kept in the database and shown escaped)."""
    cleaned = secure_filename(filename or "")
    return cleaned[:150] or fallback


def html_to_text(html: str) -> str:
    """Readable text from HTML (tables and lists laid out), for the AI and for HTML-only mail's text."""
    from inscriptis import get_text  # loaded on first use: the web process rarely needs it

    try:
        text = get_text(html)
    except Exception:  # lxml refuses some truly broken documents; tags stripped is better than nothing
        text = re.sub(r"<[^>]+>", " ", html)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
