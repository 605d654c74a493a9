"""A widget's settings: where it may be embedded and how it looks.

A widget is a SocialAccount with channel "widget"; its account_id is the public widget key and its metadata holds:

    {"site": "forgelake.com",
     "allowed_origins": ["https://forgelake.com", "https://*.forgelake.com"],
     "appearance": {"title": …, "greeting": …, "launcher_text": …, "color": "#1d4ed8", "text_color": "#ffffff",
                    "position": "right"},
     "rating_scale": "thumbs" | "five",
     "ask_contact": true}

Appearance is layered: built-in defaults, then the location's settings["widget"] (shared by every widget of the
location), then the widget's own. Every value reaches the visitor's browser, so each is validated here: colours are
#rrggbb only (they become CSS custom properties), texts have length limits and are rendered as text, never HTML.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
RATING_SCALES = ("thumbs", "five")
POSITIONS = ("right", "left")

TEXT_LIMITS = {"title": 80, "greeting": 500, "launcher_text": 40}
DEFAULT_APPEARANCE: dict[str, str] = {
    "title": "Chat with us",
    "greeting": "Hi! How can we help you today?",
    "launcher_text": "Chat with us",
    "color": "#1d4ed8",
    "text_color": "#ffffff",
    "position": "right",
}
MAX_ORIGINS = 50


def new_widget_key() -> str:
    """A fresh public widget key: random and unguessable (it appears in the business's page source)."""
    return "wk_" + secrets.token_urlsafe(18)


def normalize_origin(value: str) -> str:
    """An allowed-origin entry in canonical form: scheme://host[:port], lowercase, default ports dropped.

    "https://*.example.com" allows every subdomain (not example.com itself). A bare host ("example.com") means https.
    Raise ValueError with a reason the admin can act on.
    """
    raw = (value or "").strip()
    if not raw:
        raise ValueError("empty origin")
    if "://" not in raw:
        raw = "https://" + raw
    wildcard = False
    scheme, _, rest = raw.partition("://")
    if rest.startswith("*."):
        wildcard = True
        raw = f"{scheme}://{rest[2:]}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an origin: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r}: only http and https origins can embed the widget")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r}: an origin is scheme://host[:port], without a path")
    host = (parts.hostname or "").rstrip(".")
    if not host or (not _is_ip(host) and not all(HOST_LABEL_RE.match(label) for label in host.split("."))):
        raise ValueError(f"{value!r}: not a valid host name")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    return f"{parts.scheme}://{'*.' if wildcard else ''}{netloc}"


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_origins(text: str | list[str]) -> list[str]:
    """Origins from the admin's textarea (one a line, or commas), normalized and de-duplicated in order."""
    items = text if isinstance(text, list) else re.split(r"[\s,]+", text or "")
    seen: list[str] = []
    for item in items:
        if not item.strip():
            continue
        origin = normalize_origin(item)
        if origin not in seen:
            seen.append(origin)
    if len(seen) > MAX_ORIGINS:
        raise ValueError(f"at most {MAX_ORIGINS} origins per widget")
    return seen


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """Whether a browser's Origin header matches one of the widget's allowed origins (wildcards included)."""
    if not origin or origin == "null":
        return False
    try:
        candidate = normalize_origin(origin)
    except ValueError:
        return False
    if "*" in candidate:
        return False
    scheme, _, netloc = candidate.partition("://")
    for entry in allowed:
        if entry == candidate:
            return True
        entry_scheme, _, entry_netloc = entry.partition("://")
        if entry_netloc.startswith("*.") and entry_scheme == scheme:
            suffix = entry_netloc[1:]  # ".example.com[:port]"
            if netloc.endswith(suffix) and len(netloc) > len(suffix):
                return True
    return False


@dataclass
class WidgetSettings:
    """The effective settings of one widget (defaults, then the location's, then the widget's own)."""

    key: str
    site: str
    allowed_origins: list[str]
    appearance: dict[str, str]
    rating_scale: str
    ask_contact: bool

    @classmethod
    def of(cls, account: SocialAccount) -> WidgetSettings:
        meta = dict(account.meta or {})
        location_widget = {}
        if account.location is not None:
            location_widget = dict((account.location.settings or {}).get("widget") or {})
        appearance = dict(DEFAULT_APPEARANCE)
        if account.location is not None:
            appearance["title"] = account.location.name
        for layer in (location_widget, meta.get("appearance") or {}):
            for name, value in layer.items():
                if name in DEFAULT_APPEARANCE and value not in (None, ""):
                    appearance[name] = str(value)
        appearance = clean_appearance(appearance, fallback=DEFAULT_APPEARANCE)
        scale = meta.get("rating_scale") or location_widget.get("rating_scale") or "thumbs"
        return cls(
            key=account.account_id,
            site=meta.get("site") or "",
            allowed_origins=list(meta.get("allowed_origins") or []),
            appearance=appearance,
            rating_scale=scale if scale in RATING_SCALES else "thumbs",
            ask_contact=bool(meta.get("ask_contact", True)),
        )

    def public_config(self) -> dict[str, Any]:
        """What the visitor's browser gets: appearance and behaviour, nothing about origins or the business."""
        return {
            "key": self.key,
            **self.appearance,
            "rating_scale": self.rating_scale,
            "ask_contact": self.ask_contact,
        }


def clean_appearance(values: dict[str, Any], *, fallback: dict[str, str] | None = None) -> dict[str, str]:
    """Validated appearance values. With fallback, a bad value falls back; without, ValueError names it."""
    out: dict[str, str] = {}
    for name, default in DEFAULT_APPEARANCE.items():
        value = values.get(name, default)
        value = "" if value is None else str(value).strip()
        problem = None
        if name in ("color", "text_color"):
            if not COLOR_RE.match(value):
                problem = f"{name} must be a colour like #1d4ed8"
        elif name == "position":
            if value not in POSITIONS:
                problem = "position must be right or left"
        elif not value:
            problem = f"{name} must not be empty"
        elif len(value) > TEXT_LIMITS[name]:
            problem = f"{name} is longer than {TEXT_LIMITS[name]} characters"
        if problem:
            if fallback is None:
                raise ValueError(problem)
            value = (fallback or DEFAULT_APPEARANCE)[name]
        out[name] = value.lower() if name in ("color", "text_color") else value
    return out


def snippet(public_url: str, key: str) -> str:
    """The one script tag a business pastes into its pages."""
    base = public_url.rstrip("/")
    return f'<script src="{base}/widget.js" data-chatpad-key="{key}" async></script>'
