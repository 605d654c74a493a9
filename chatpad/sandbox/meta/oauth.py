"""The sandbox's Facebook Login and the Graph calls of connecting Pages: enough that ChatPad's whole connection flow
runs offline exactly as it runs against Meta.

- The login dialog, /facebook/vNN.N/dialog/oauth: the demo Meta user picks which Pages to grant and which
  permissions to keep, then Continue (a code) or Cancel (error=access_denied&error_reason=user_denied).
- POST|GET /graph/vNN.N/oauth/access_token: the code → a short-lived user token (1 h); grant_type=fb_exchange_token →
  a long-lived one (60 days). Codes are single-use, expire after 10 minutes and must come back with the dialog's
  redirect_uri, with Meta's error codes (100/36007 expired, 36008 redirect_uri mismatch, 36009 used).
- GET /me/accounts (paged by `limit` with cursors and `paging.next`, 25 by default, like Graph), GET /me/permissions.
  Page tokens minted from a long-lived user token never expire; from a short-lived one they die with it.
- GET|POST|DELETE /<PAGE_ID>/subscribed_apps (needs pages_manage_metadata), GET /debug_token (the app token
  "APP_ID|APP_SECRET" or a user token of the app).
- GET /instagram-graph/refresh_access_token: Instagram Login's long-lived token refresh.

The demo Meta user manages more Pages than the demo's 20 (five more business Pages, two personal ones and one where
they are only an analyst), so paging and "skip personal Pages" are real. Sources: platform-reference.md §C;
https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps
https://developers.facebook.com/docs/graph-api/reference/debug_token
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request

from .graph import GraphError, GraphRequest, route
from .world import DEMO_BUSINESS, MESSENGER_FIELDS, SEED_HOOKS, InstagramAccount, Token, World, _digits

APP_NAME = "ChatPad (sandbox)"
SHORT_LIVED_S = 3600
LONG_LIVED_S = 5183944  # what Meta answers for a 60-day token
CODE_TTL_S = 600
IG_LONG_LIVED_S = 60 * 24 * 3600
DEFAULT_LIMIT = 25
MAX_LIMIT = 100

# Permissions the dialog knows, with what it tells the user about each.
PERMISSIONS: dict[str, str] = {
    "pages_show_list": "Show a list of the Pages you manage",
    "pages_messaging": "Manage and access Page conversations in Messenger",
    "pages_manage_metadata": "Manage accounts, settings and webhooks for a Page",
    "pages_read_engagement": "Read content posted on the Page",
    "instagram_basic": "Access profile and posts from the Instagram account connected to your Page",
    "instagram_manage_messages": "Manage and access Instagram messages",
    "business_management": "Manage your business",
    "whatsapp_business_management": "Manage your WhatsApp Business accounts, their phone numbers and templates",
    "whatsapp_business_messaging": "Send and receive messages on your WhatsApp Business accounts",
    "public_profile": "Your name and profile picture",
    "email": "Your email address",
}
# What a seeded Page token (the demo's, issued before any login) is treated as holding.
SEEDED_PAGE_SCOPES = (
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "instagram_basic",
    "instagram_manage_messages",
)
# Page webhook fields subscribed_apps accepts (Messenger's, plus a few others Meta lists for Pages).
PAGE_FIELDS = set(MESSENGER_FIELDS) | {
    "feed",
    "messaging_optins",
    "messaging_account_linking",
    "messaging_policy_enforcement",
    "messaging_game_plays",
    "message_template_status_update",
    "inbox_labels",
    "messaging_customer_information",
    "response_feedback",
}
FULL_TASKS = ["ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"]

# The demo Meta user's Pages beyond the 20 communities: (name, category, tasks, instagram username or None).
EXTRA_BUSINESS_PAGES = (
    ("MHP Communities", "Real Estate", FULL_TASKS, "mhpcommunities"),
    ("MHP Communities Careers", "Employment Agency", FULL_TASKS, None),
    ("Lakeview Terrace Community", "Real Estate", FULL_TASKS, "lakeviewterrace"),
    ("Riverbend MHP", "Real Estate", FULL_TASKS, "riverbendmhp"),
    ("Cedar Hollow Homes", "Real Estate", FULL_TASKS, None),
)
PERSONAL_PAGES = (
    ("Dana Demo Photography", "Photographer", FULL_TASKS, None),
    ("Westside Little League", "Sports League", FULL_TASKS, None),
)
ANALYST_PAGES = (("MHP Communities Investor Relations", "Financial Service", ["ANALYZE"], None),)

bp = Blueprint("sandbox_meta_oauth", __name__)
api = Blueprint("sandbox_meta_oauth_api", __name__, url_prefix="/sandbox-api/meta/oauth")


@dataclass
class Grant:
    """What one pass through the dialog granted: a user, Pages and permissions."""

    user_id: str
    page_ids: list[str]
    scopes: list[str]
    requested: list[str]
    redirect_uri: str
    client_id: str
    waba_ids: list[str] = field(default_factory=list)  # Embedded Signup: the WhatsApp Business Accounts shared
    created_at: float = field(default_factory=time.time)
    used: bool = False


@dataclass
class OAuthState:
    codes: dict[str, Grant] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)  # user token value -> its grant
    issued_at: dict[str, float] = field(default_factory=dict)  # token value -> epoch seconds
    page_tasks: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (user, page) -> tasks
    dialogs: list[dict[str, Any]] = field(default_factory=list)  # every dialog opened (the query), for tests


def _seed(world: World) -> None:
    """Give the demo Meta user the extra Pages and reset the OAuth state (runs on every reset)."""
    world.oauth = OAuthState()
    user = world.users[world.demo_user_id]
    for name, category, tasks, ig_username in EXTRA_BUSINESS_PAGES + PERSONAL_PAGES + ANALYST_PAGES:
        page_id = "1" + _digits(f"page:extra:{name}", 14)
        ig_id = "17841" + _digits(f"ig:extra:{name}", 12) if ig_username else None
        personal = any(name == p[0] for p in PERSONAL_PAGES)
        page = world.add_page(
            page_id, name, instagram_id=ig_id, category=category, business=None if personal else DEMO_BUSINESS
        )
        page.subscribed_fields = set()  # not connected to our app yet
        if ig_id:
            world.instagram[ig_id] = InstagramAccount(ig_id, ig_username, name, page_id)
        user.page_ids.append(page_id)
        world.oauth.page_tasks[(user.id, page_id)] = list(tasks)


SEED_HOOKS.append(_seed)


def _state(world: World) -> OAuthState:
    state = getattr(world, "oauth", None)
    if state is None:
        state = world.oauth = OAuthState()
    return state


def _world() -> World:
    return current_app.extensions["sandbox.meta.world"]


def _scope_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        items = value
    else:
        items = str(value or "").replace(" ", ",").split(",")
    seen: list[str] = []
    for item in items:
        item = str(item).strip()
        if item and item not in seen:
            seen.append(item)
    return seen


def _new_token(world: World, kind: str, subject: str, *, expires_in: float | None, scopes) -> Token:
    value = f"EAAsbx{kind[:2].upper()}" + secrets.token_urlsafe(36).replace("-", "").replace("_", "")
    token = Token(value, kind, subject, time.time() + expires_in if expires_in else None, None, tuple(scopes))
    with world.lock:
        world.tokens[value] = token
        _state(world).issued_at[value] = time.time()
    return token


# --- the login dialog ------------------------------------------------------------------------------------------


def _dialog_error(title: str, detail: str, status: int = 400):
    return render_template("sandbox/facebook_dialog_error.html", title=title, detail=detail), status


@bp.route("/facebook/dialog/oauth", methods=["GET", "POST"])
@bp.route("/facebook/<version>/dialog/oauth", methods=["GET", "POST"])
def dialog(version: str | None = None):
    """Facebook Login's dialog: who is asking, for what, on which Pages; Continue or Cancel."""
    world = _world()
    source = request.form if request.method == "POST" else request.args
    client_id = source.get("client_id", "")
    redirect_uri = source.get("redirect_uri", "")
    state = source.get("state")
    requested = _scope_list(source.get("scope"))
    if client_id != world.app_id:
        return _dialog_error("Invalid App ID", f"The provided app ID {client_id!r} does not look like a valid app ID.")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _dialog_error(
            "URL blocked",
            "This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.",
        )
    if source.get("response_type", "code") != "code":
        return _dialog_error("Unsupported response type", "The sandbox supports response_type=code only.")
    unknown = [s for s in requested if s not in PERMISSIONS]
    if unknown:
        return _dialog_error("Invalid Scopes", f"Invalid Scopes: {', '.join(unknown)}.")

    if request.method == "GET":
        with world.lock:
            _state(world).dialogs.append({"version": version, **request.args.to_dict()})
            users = sorted(world.users.values(), key=lambda u: u.id != world.demo_user_id)
            user = world.users.get(request.args.get("as", "")) or users[0]
            pages = [_dialog_page(world, user.id, world.pages[p]) for p in user.page_ids if p in world.pages]
        return render_template(
            "sandbox/facebook_dialog.html",
            app_name=APP_NAME,
            user=user,
            users=users,
            pages=pages,
            requested=[(s, PERMISSIONS[s]) for s in requested],
            wants_pages=any(s.startswith("pages_") for s in requested),
            wants_instagram=any(s.startswith("instagram_") for s in requested),
            wants_whatsapp=any(s.startswith("whatsapp_") for s in requested),
            wabas=_wabas(world),
            params={k: v for k, v in request.args.items() if k != "as"},
            rerequest=request.args.get("auth_type") == "rerequest",
        )

    separator = "&" if "?" in redirect_uri else "?"
    if request.form.get("action") != "continue":
        # https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow#cancel
        query = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
        }
        if state is not None:
            query["state"] = state
        return redirect(f"{redirect_uri}{separator}{urlencode(query)}#_=_")
    with world.lock:
        user = world.users.get(request.form.get("user_id", ""))
        if user is None:
            abort(400)
        granted = [s for s in requested if request.form.get(f"scope:{s}")]
        page_ids = [p for p in request.form.getlist("page") if p in user.page_ids]
        known = {w["id"] for w in _wabas(world)}
        waba_ids = [w for w in request.form.getlist("waba") if w in known]
        code = "AQ" + secrets.token_urlsafe(48)
        _state(world).codes[code] = Grant(
            user.id, page_ids, granted, requested, redirect_uri, client_id, waba_ids=waba_ids
        )
    query = {"code": code}
    if state is not None:
        query["state"] = state
    # Meta appends "#_=_" to the redirect; it never reaches the server.
    return redirect(f"{redirect_uri}{separator}{urlencode(query)}#_=_")


def _wabas(world: World) -> list[dict[str, Any]]:
    """The WhatsApp Business Accounts the demo user may share in Embedded Signup (the demo WABA)."""
    waba_id = getattr(world, "waba_id", None)
    if not waba_id:
        return []
    numbers = list(getattr(world, "wa_numbers", {}).values())
    return [{"id": waba_id, "name": "MHP Communities WhatsApp", "numbers": len(numbers)}]


def _dialog_page(world: World, user_id: str, page) -> dict[str, Any]:
    ig = world.instagram.get(page.instagram_id) if page.instagram_id else None
    return {
        "id": page.id,
        "name": page.name,
        "category": page.category,
        "instagram": f"@{ig.username}" if ig else None,
        "tasks": _state(world).page_tasks.get((user_id, page.id), FULL_TASKS),
    }


# --- Graph: tokens ---------------------------------------------------------------------------------------------


def _oauth_error(message: str, code: int, subcode: int | None = None) -> GraphError:
    return GraphError(message, code, subcode, type="OAuthException")


@route("GET", r"oauth/access_token")
@route("POST", r"oauth/access_token")
def access_token(req: GraphRequest) -> dict[str, Any]:
    """The code exchange and the long-lived token exchange (client_id and client_secret always required)."""
    world = req.world
    if str(req.param("client_id", "")) != world.app_id:
        raise _oauth_error("Error validating application. Invalid application ID.", 101)
    secret = str(req.param("client_secret", ""))
    if not hmac.compare_digest(secret.encode(), world.app_secret.encode()):
        raise _oauth_error("Error validating client secret.", 1)
    state = _state(world)
    if req.param("grant_type") == "fb_exchange_token":
        value = str(req.param("fb_exchange_token", ""))
        with world.lock:
            token = world.tokens.get(value)
            if token is None or token.kind != "user":
                raise _oauth_error("Invalid OAuth access token - Cannot parse access token", 190)
            dead = token.dead_subcode()
            if dead is not None:
                raise _oauth_error("Error validating access token: Session has expired.", 190, dead)
            long_lived = _new_token(world, "user", token.subject, expires_in=LONG_LIVED_S, scopes=token.scopes)
            if value in state.grants:
                state.grants[long_lived.value] = state.grants[value]
        return {"access_token": long_lived.value, "token_type": "bearer", "expires_in": LONG_LIVED_S}

    code = str(req.param("code", ""))
    with world.lock:
        grant = state.codes.get(code)
        if grant is None:
            raise _oauth_error("Invalid verification code format.", 100, 36009)
        if grant.used:
            raise _oauth_error("This authorization code has been used.", 100, 36009)
        if time.time() - grant.created_at > CODE_TTL_S:
            raise _oauth_error("This authorization code has expired.", 100, 36007)
        if str(req.param("redirect_uri", "")) != grant.redirect_uri:
            raise _oauth_error(
                "Error validating verification code. Please make sure your redirect_uri is identical to the one you "
                "used in the OAuth dialog request",
                100,
                36008,
            )
        grant.used = True
        if grant.waba_ids:
            # Embedded Signup: the code gives a business integration system user token for the shared WABA, which
            # does not expire (…/embedded-signup/onboarding-customers-as-a-tech-provider, step 1).
            token = _new_token(world, "whatsapp", grant.waba_ids[0], expires_in=None, scopes=grant.scopes)
            state.grants[token.value] = grant
            return {"access_token": token.value, "token_type": "bearer"}
        token = _new_token(world, "user", grant.user_id, expires_in=SHORT_LIVED_S, scopes=grant.scopes)
        state.grants[token.value] = grant
    return {"access_token": token.value, "token_type": "bearer", "expires_in": SHORT_LIVED_S}


def _page_token_for(world: World, page_id: str, user_token: Token) -> Token:
    """The Page token /me/accounts hands out: never-expiring from a long-lived user token (and then the Page's current
    token, so the control API's "invalidate the Page's token" hits what ChatPad stored), else dying with it."""
    scopes = tuple(s for s in user_token.scopes if s.startswith(("pages_", "instagram_", "business_")))
    remaining = (user_token.expires_at - time.time()) if user_token.expires_at else None
    if remaining is not None and remaining < 2 * 24 * 3600:
        return _new_token(world, "page", page_id, expires_in=remaining, scopes=scopes)
    token = _new_token(world, "page", page_id, expires_in=None, scopes=scopes)
    world.pages[page_id].access_token = token.value
    return token


def _granted_pages(world: World, token: Token) -> list[str]:
    user = world.users[token.subject]
    grant = _state(world).grants.get(token.value)
    if grant is None:
        return list(user.page_ids)
    return [p for p in user.page_ids if p in grant.page_ids]


def _split_fields(value: str) -> dict[str, str | None]:
    """Graph's field syntax: 'id,name,instagram_business_account{id,username}' →
    {"id": None, "name": None, "instagram_business_account": "id,username"}."""
    out: dict[str, str | None] = {}
    depth, start = 0, 0
    value = value or ""
    for i, ch in enumerate(value + ","):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            item = value[start:i].strip()
            start = i + 1
            if not item:
                continue
            name, _, sub = item.partition("{")
            out[name.strip()] = sub.rstrip("}") if sub else None
    return out


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"idx:{index}".encode()).decode().rstrip("=")


def _uncursor(value: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        return int(raw.removeprefix("idx:"))
    except (ValueError, UnicodeDecodeError):
        raise GraphError("(#100) Invalid after cursor", 100) from None


@route("GET", r"me/accounts")
def me_accounts(req: GraphRequest) -> dict[str, Any]:
    """The Pages the user granted, a page at a time: {"data": [...], "paging": {"cursors", "next"?, "previous"?}}."""
    world = req.world
    token = req.token("user")
    if "pages_show_list" not in token.scopes:
        raise GraphError("(#200) Requires pages_show_list permission to manage the object", 200)
    try:
        limit = max(1, min(MAX_LIMIT, int(req.params.get("limit") or DEFAULT_LIMIT)))
    except ValueError:
        raise GraphError("(#100) Param limit must be a number", 100) from None
    fields = _split_fields(req.params.get("fields") or "name,access_token,category,category_list,tasks,id")
    with world.lock:
        page_ids = _granted_pages(world, token)
        start = _uncursor(req.params["after"]) + 1 if req.params.get("after") else 0
        window = page_ids[start : start + limit]
        data = [_account_entry(world, token, page_id, fields) for page_id in window]
    result: dict[str, Any] = {"data": data}
    if window:
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(window) - 1)}}
        if start + len(window) < len(page_ids):
            query = {k: v for k, v in req.params.items() if k not in ("after", "before", "appsecret_proof")}
            query.update(limit=str(limit), after=paging["cursors"]["after"])
            paging["next"] = f"{request.host_url.rstrip('/')}/graph/{_version()}/{token.subject}/accounts?" + urlencode(
                query
            )
        if start > 0:
            query = {k: v for k, v in req.params.items() if k not in ("after", "before", "appsecret_proof")}
            query.update(limit=str(limit), before=paging["cursors"]["before"])
            paging["previous"] = (
                f"{request.host_url.rstrip('/')}/graph/{_version()}/{token.subject}/accounts?" + urlencode(query)
            )
        result["paging"] = paging
    return result


def _version() -> str:
    path = request.path.removeprefix("/graph/")
    head = path.split("/", 1)[0]
    return head if head.startswith("v") and "." in head else current_app.config.get("GRAPH_API_VERSION", "v25.0")


def _account_entry(world: World, user_token: Token, page_id: str, fields: dict[str, str | None]) -> dict[str, Any]:
    page = world.pages[page_id]
    entry: dict[str, Any] = {}
    for name, sub in fields.items():
        if name == "id":
            entry["id"] = page.id
        elif name == "name":
            entry["name"] = page.name
        elif name == "category":
            entry["category"] = page.category
        elif name == "category_list":
            entry["category_list"] = [{"id": _digits("cat:" + page.category, 15), "name": page.category}]
        elif name == "tasks":
            entry["tasks"] = _state(world).page_tasks.get((user_token.subject, page.id), FULL_TASKS)
        elif name == "access_token":
            entry["access_token"] = _page_token_for(world, page.id, user_token).value
        elif name == "business" and page.business and "business_management" in user_token.scopes:
            # Graph leaves `business` out for a Page no business portfolio owns, and gives it only to a token with
            # business_management (Page reference: "Requires business_management permissions").
            entry["business"] = dict(page.business)
        elif name == "instagram_business_account" and page.instagram_id:
            ig = world.instagram.get(page.instagram_id)
            if ig is not None:
                entry["instagram_business_account"] = _ig_entry(ig, sub)
    entry["id"] = page.id
    return entry


def _ig_entry(ig: InstagramAccount, sub: str | None) -> dict[str, Any]:
    values = {
        "id": ig.id,
        "username": ig.username,
        "name": ig.name,
        "profile_picture_url": f"{request.host_url.rstrip('/')}/sandbox-api/meta/avatar/{ig.id}.svg",
    }
    wanted = [f.strip() for f in (sub or "id").split(",") if f.strip()]
    return {k: values[k] for k in wanted if k in values} | {"id": ig.id}


@route("GET", r"me/permissions")
def me_permissions(req: GraphRequest) -> dict[str, Any]:
    """{"data": [{"permission", "status": "granted" | "declined"}]} for the user token's grant."""
    world = req.world
    token = req.token("user")
    grant = _state(world).grants.get(token.value)
    granted = list(token.scopes)
    declined = [s for s in (grant.requested if grant else []) if s not in granted]
    data = [{"permission": s, "status": "granted"} for s in ["public_profile", *granted] if s]
    data += [{"permission": s, "status": "declined"} for s in declined]
    return {"data": data}


# --- Graph: subscribed_apps --------------------------------------------------------------------------------------


def _page_scopes(world: World, token: Token) -> tuple[str, ...]:
    """A Page token's permissions: its grant's, or everything for the Page tokens seeded before any login."""
    if token.value in _state(world).issued_at:
        return token.scopes
    return token.scopes or SEEDED_PAGE_SCOPES


def _subscription_page(req: GraphRequest):
    page_id = req.match.group("id")
    token = req.token("page")
    page = req.world.pages.get(page_id)
    if page is None or token.subject != page_id:
        raise GraphError(f"(#210) A page access token is required to request this resource for Page {page_id}.", 210)
    if "pages_manage_metadata" not in _page_scopes(req.world, token):
        raise GraphError(
            "(#200) Requires pages_manage_metadata permission to manage the object", 200, type="OAuthException"
        )
    return page


@route("GET", r"(?P<id>[^/]+)/subscribed_apps")
def subscribed_apps_get(req: GraphRequest) -> dict[str, Any]:
    page = _subscription_page(req)
    with req.world.lock:
        if not page.subscribed_fields:
            return {"data": []}
        return {
            "data": [
                {
                    "category": "Business",
                    "link": "https://chatpad.example/",
                    "name": APP_NAME,
                    "id": req.world.app_id,
                    "subscribed_fields": sorted(page.subscribed_fields),
                }
            ]
        }


@route("POST", r"(?P<id>[^/]+)/subscribed_apps")
def subscribed_apps_post(req: GraphRequest) -> dict[str, Any]:
    page = _subscription_page(req)
    fields = _scope_list(req.param("subscribed_fields"))
    if not fields:
        raise GraphError("(#100) The parameter subscribed_fields is required", 100)
    for index, name in enumerate(fields):
        if name not in PAGE_FIELDS:
            raise GraphError(
                f"(#100) Param subscribed_fields[{index}] must be one of {{{', '.join(sorted(PAGE_FIELDS))}}} - got "
                f'"{name}".',
                100,
            )
    with req.world.lock:
        page.subscribed_fields = set(fields)
    return {"success": True}


@route("DELETE", r"(?P<id>[^/]+)/subscribed_apps")
def subscribed_apps_delete(req: GraphRequest) -> dict[str, Any]:
    page = _subscription_page(req)
    with req.world.lock:
        page.subscribed_fields = set()
    return {"success": True}


# --- Graph: debug_token ------------------------------------------------------------------------------------------


@route("GET", r"debug_token")
def debug_token(req: GraphRequest) -> dict[str, Any]:
    """Metadata about input_token, asked with the app token (APP_ID|APP_SECRET) or a user token of the app."""
    world = req.world
    app_token = f"{world.app_id}|{world.app_secret}"
    if req.token_value is None or not hmac.compare_digest(req.token_value.encode(), app_token.encode()):
        req.token("user")
    value = str(req.params.get("input_token") or "")
    if not value:
        raise GraphError("(#100) The parameter input_token is required", 100)
    with world.lock:
        token = world.tokens.get(value)
        if token is None:
            return {
                "data": {
                    "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
                    "is_valid": False,
                    "scopes": [],
                }
            }
        state = _state(world)
        issued = int(state.issued_at.get(value, time.time() - 86400))
        scopes = list(_page_scopes(world, token)) if token.kind == "page" else list(token.scopes)
        data: dict[str, Any] = {
            "app_id": world.app_id,
            "type": token.kind.upper(),
            "application": APP_NAME,
            "data_access_expires_at": issued + 90 * 24 * 3600,
            "expires_at": int(token.expires_at or 0),
            "is_valid": True,
            "issued_at": issued,
            "scopes": scopes,
        }
        if token.kind == "page":
            data["profile_id"] = token.subject
            data["granular_scopes"] = [{"scope": s, "target_ids": [token.subject]} for s in scopes]
            data["user_id"] = world.demo_user_id
        elif token.kind == "whatsapp":
            # The WABAs a business token may reach: granular_scopes' target_ids, the "get shared WABA ID with access
            # token" way when the browser's session logging is not used (…/solution-providers/manage-accounts).
            grant = state.grants.get(value)
            wabas = list(grant.waba_ids) if grant is not None else [token.subject]
            data["granular_scopes"] = [
                {"scope": s, "target_ids": wabas} if s.startswith("whatsapp_") else {"scope": s} for s in scopes
            ]
        elif token.kind == "user":
            data["user_id"] = token.subject
            pages = _granted_pages(world, token)
            data["granular_scopes"] = [
                {"scope": s, "target_ids": pages} if s.startswith("pages_") else {"scope": s} for s in scopes
            ]
        dead = token.dead_subcode()
    if dead is not None:
        from .graph import _DEAD_TOKEN_MESSAGES

        data["is_valid"] = False
        data["error"] = {
            "code": 190,
            "message": _DEAD_TOKEN_MESSAGES.get(dead, "Error validating access token."),
            "subcode": dead,
        }
    return {"data": data}


# --- Instagram Login's token refresh (graph.instagram.com) -------------------------------------------------------


@bp.get("/instagram-graph/refresh_access_token")
@bp.get("/instagram-graph/<version>/refresh_access_token")
def instagram_refresh(version: str | None = None):
    """GET refresh_access_token?grant_type=ig_refresh_token&access_token=…: a new 60-day token for a live one that is
    at least 24 hours old (https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token)."""
    world = _world()
    value = request.args.get("access_token") or ""
    source = "query" if value else None
    auth = request.headers.get("Authorization", "")
    if not value and auth.lower().startswith("bearer "):
        value, source = auth.split(None, 1)[1].strip(), "bearer"
    # Recorded with the Graph calls, so tests can see where the token travelled.
    world.record_request(
        method="GET", path="instagram/refresh_access_token", version=version, query=request.args.to_dict(),
        json=None, form={}, token=value or None, token_source=source,
    )  # fmt: skip
    if request.args.get("grant_type") != "ig_refresh_token":
        return _ig_error("Unsupported grant_type: expected ig_refresh_token", 100)
    with world.lock:
        token = world.tokens.get(value)
        if token is None or token.kind != "instagram":
            return _ig_error("Invalid OAuth access token - Cannot parse access token", 190)
        dead = token.dead_subcode()
        if dead is not None:
            return _ig_error("Error validating access token: Session has expired.", 190, dead)
        if time.time() - _state(world).issued_at.get(value, 0) < 24 * 3600:
            return _ig_error("(#10) The access token must be at least 24 hours old to be refreshed.", 10)
        fresh = _new_token(world, "instagram", token.subject, expires_in=IG_LONG_LIVED_S, scopes=token.scopes)
    return jsonify(access_token=fresh.value, token_type="bearer", expires_in=IG_LONG_LIVED_S)  # noqa: S106


def _ig_error(message: str, code: int, subcode: int | None = None):
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "Sbx" + secrets.token_urlsafe(8)
    return jsonify(error=error), 400


# --- control API -------------------------------------------------------------------------------------------------


@api.get("/dialogs")
def dialogs():
    """Every dialog opened (its query: client_id, redirect_uri, state, scope…), oldest first."""
    world = _world()
    with world.lock:
        return jsonify(list(_state(world).dialogs))


@api.post("/tokens")
def issue_token():
    """A token made outside the dialog, for tests and demos: {"kind": "instagram"|"user"|"page", "subject",
    "expires_in"?, "age"? (seconds since it was issued), "scopes"?}."""
    world = _world()
    spec = request.get_json(silent=True) or {}
    kind, subject = spec.get("kind"), spec.get("subject")
    if kind not in ("instagram", "user", "page") or not subject:
        return jsonify(error="kind (instagram, user or page) and subject are required"), 400
    token = _new_token(world, kind, str(subject), expires_in=spec.get("expires_in"), scopes=spec.get("scopes") or ())
    with world.lock:
        _state(world).issued_at[token.value] = time.time() - float(spec.get("age") or 0)
    return jsonify(access_token=token.value, expires_at=token.expires_at), 201


@api.post("/tokens/expire")
def expire_token():
    """Make a token's expiry pass now (it then answers 190/463): {"token"}."""
    world = _world()
    value = (request.get_json(silent=True) or {}).get("token")
    with world.lock:
        token = world.tokens.get(value or "")
        if token is None:
            return jsonify(error="unknown token"), 400
        token.expires_at = time.time() - 1
    return jsonify(ok=True)
