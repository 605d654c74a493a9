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

import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable, Iterable
from functools import wraps
from urllib.parse import urlsplit

import requests
from flask import Flask, Response, current_app, has_app_context, has_request_context, request
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

log = logging.getLogger("chatpad.security")

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


# --- Outbound connections to addresses a tenant typed -------------------------------------------------------------
#
# A tenant admin names hosts ChatPad then connects to (an IMAP/SMTP server, a CalDAV calendar URL). Without a check
# that is a way into our own network: loopback services, the private LAN, the cloud's metadata endpoint. Every such
# connection resolves the name once, refuses it when ANY address it resolves to is not a public unicast address, and
# then connects to exactly the addresses it checked (never resolving again, so a DNS answer that changes between the
# check and the connection, "DNS rebinding", cannot switch it to an inner address). ALLOW_PRIVATE_HOSTS (development,
# tests, the sandbox's demo) lets loopback and private addresses through; production leaves it off.

# Cloud metadata endpoints; all are also caught by the general rules, listed so the refusal never depends on them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
OUTBOUND_DEFAULT_TIMEOUT = 10.0
OUTBOUND_REFUSED = "is on a private, loopback or reserved network address; ChatPad only connects to public servers"


class OutboundAddressRefused(ValueError):
    """A tenant-supplied host resolves to an address ChatPad must not connect to. str() is safe to show."""

    def __init__(self, host: str):
        super().__init__(f"{host} {OUTBOUND_REFUSED}")
        self.host = host


def private_hosts_allowed() -> bool:
    """ALLOW_PRIVATE_HOSTS of the current app; off outside an app (the safe answer)."""
    return bool(current_app.config.get("ALLOW_PRIVATE_HOSTS")) if has_app_context() else False


def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address: not loopback, private, link-local, shared (CGNAT), multicast,
    reserved, unspecified, documentation or a metadata endpoint (an IPv4-mapped IPv6 address is judged as IPv4)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address in METADATA_ADDRESSES:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_unspecified
    )


def checked_addresses(host: str, port: int, *, allow_private: bool | None = None) -> list[tuple]:
    """Resolve ``host`` (TCP) and return getaddrinfo's entries, refusing with OutboundAddressRefused when any of the
    addresses is not public (unless private hosts are allowed). Connect to these entries, never to the name again.
    socket.gaierror (the name does not resolve) and UnicodeError (not a host name) reach the caller."""
    if allow_private is None:
        allow_private = private_hosts_allowed()
    host = (host or "").strip().rstrip(".")
    if not host:
        raise OutboundAddressRefused("(no host)")
    entries = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not entries:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    if not allow_private:
        for _family, _type, _proto, _canon, sockaddr in entries:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if not address_is_public(address):
                raise OutboundAddressRefused(host)
    return entries


def connect_checked(
    entries: list[tuple], timeout: float | None, source_address: tuple[str, int] | None = None
) -> socket.socket:
    """A TCP connection to the first of ``entries`` (from checked_addresses) that answers; the last error if none."""
    error: OSError | None = None
    for family, type_, proto, _canon, sockaddr in entries:
        sock = socket.socket(family, type_, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError("no address to connect to")


class OutboundHTTPAdapter(HTTPAdapter):
    """A requests adapter for URLs a tenant typed: every new connection (redirects included) goes through
    checked_addresses and connects to the checked address; TLS still verifies the host name. Mount it on a session
    with ``guard_session(session)``."""

    def __init__(self, *args, allow_private: bool | None = None, **kwargs):
        self.allow_private = private_hosts_allowed() if allow_private is None else allow_private
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        allow = self.allow_private
        self.poolmanager.pool_classes_by_scheme = {
            "http": _guarded_pool(HTTPConnectionPool, HTTPConnection, allow),
            "https": _guarded_pool(HTTPSConnectionPool, HTTPSConnection, allow),
        }

    def proxy_manager_for(self, proxy, **proxy_kwargs):  # a tenant URL never goes through a proxy
        raise OutboundAddressRefused("a proxied address")


def guard_session(session: requests.Session, *, allow_private: bool | None = None) -> requests.Session:
    """Make ``session`` refuse non-public addresses for every URL it fetches (see OutboundHTTPAdapter)."""
    adapter = OutboundHTTPAdapter(allow_private=allow_private)
    session.trust_env = False  # no proxy from the environment: the connection must go where it was checked
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _guarded_pool(pool_cls, conn_cls, allow_private: bool):
    class GuardedConnection(conn_cls):
        def _new_conn(self):
            try:
                entries = checked_addresses(self._dns_host, self.port, allow_private=allow_private)
                # A caller without a timeout still gets one: a tenant's server must not hold a thread for ever.
                timeout = self.timeout if isinstance(self.timeout, int | float) else OUTBOUND_DEFAULT_TIMEOUT
                sock = connect_checked(entries, timeout)
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
            for option in self.socket_options or ():
                sock.setsockopt(*option)
            return sock

    class GuardedPool(pool_cls):
        ConnectionCls = GuardedConnection

    return GuardedPool


# --- Counting hits against a limit ----------------------------------------------------------------------------------


def hit_limit(bucket: str, key: str, limit: str) -> bool:
    """Count one hit of ``key`` in ``bucket`` against a limit such as "30 per hour" (several separated by ";"; Redis,
    moving window); False when it is over any of them. Always True with RATELIMIT_ENABLED off, or when Redis cannot
    be reached (fail open: a limiter outage must not take the feature down)."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    from limits import parse_many
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    ext = current_app.extensions
    if "chatpad.limiter" not in ext:
        storage = storage_from_string(current_app.config["RATELIMIT_STORAGE_URI"])
        ext["chatpad.limiter"] = MovingWindowRateLimiter(storage)
    limiter = ext["chatpad.limiter"]
    try:
        items = parse_many(limit)
        if not all(limiter.test(item, bucket, key) for item in items):
            return False
        return all([limiter.hit(item, bucket, key) for item in items])
    except Exception:
        log.debug("could not count a hit against %s", bucket, exc_info=True)
        return True
