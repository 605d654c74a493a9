"""Meta's side of connecting accounts: Facebook Login through Authlib, the token exchanges, the Pages a user granted,
webhook subscriptions and token health. No database here; chatpad.integrations.connect decides what is stored.

Every URL comes from config (FACEBOOK_DIALOG_URL for the dialog, GRAPH_API_URL + GRAPH_API_VERSION for the rest), so
the sandbox and Meta are reached by the same code. Errors become ConnectError with what happened and what to do,
decided by Meta's error code and subcode, never by message text (platform-reference.md §B.4, §C).
https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from flask import current_app

from chatpad.channels.errors import AuthExpiredError, SendError, TransientSendError
from chatpad.channels.meta import classify_graph_error, get_graph_client

log = logging.getLogger("chatpad.integrations.meta")

# Only what the product uses, and why (shown to the admin when one is declined).
SCOPE_REASONS: dict[str, str] = {
    "pages_show_list": "to list the Pages you manage so you can pick which to connect",
    "pages_messaging": "to read and answer the Pages' Messenger conversations",
    "pages_manage_metadata": "to subscribe ChatPad to the Pages' webhooks, so new messages arrive in real time",
    "pages_read_engagement": "to read the Pages' names and the people who write to them",
    "business_management": "(optional) to tell the Pages a business portfolio owns from personal ones",
    "instagram_basic": "to see the Instagram professional accounts linked to your Pages and their usernames",
    "instagram_manage_messages": "to read and answer the Instagram accounts' direct messages",
    "whatsapp_business_management": "to list the WhatsApp Business account's numbers and templates and subscribe "
    "ChatPad to its webhooks",
    "whatsapp_business_messaging": "to read and answer the WhatsApp numbers' messages",
}
FACEBOOK_SCOPES = ("pages_show_list", "pages_messaging", "pages_manage_metadata", "pages_read_engagement")
INSTAGRAM_SCOPES = ("pages_show_list", "pages_manage_metadata", "instagram_basic", "instagram_manage_messages")
# Embedded Signup (sms-whatsapp-reference.md §A10): the customer shares a WhatsApp Business Account with the app.
WHATSAPP_SCOPES = ("whatsapp_business_management", "whatsapp_business_messaging")
SCOPES = {"facebook": FACEBOOK_SCOPES, "instagram": INSTAGRAM_SCOPES, "whatsapp": WHATSAPP_SCOPES}
# Asked for too, but connecting works without them: Graph gives a Page's `business` only with business_management,
# so without it the Pages step cannot tell business Pages from personal ones and says so.
OPTIONAL_SCOPES = {"facebook": ("business_management",), "instagram": ("business_management",), "whatsapp": ()}

# Page webhook fields Messenger needs (platform-reference.md §A.5); only fields also subscribed at app level arrive.
MESSENGER_FIELDS = (
    "messages",
    "messaging_postbacks",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "message_reactions",
    "messaging_referrals",
    "messaging_handovers",
    "standby",
    "message_edits",
)
# A Page-linked Instagram account receives its DMs through the Page's subscription, which needs at least one field
# (platform-reference.md §C.6); when ChatPad does not serve the Page on Messenger, this is the one it asks for.
INSTAGRAM_PAGE_FIELDS = ("messages",)
# Tasks that let the person connecting answer the Page's messages.
MESSAGING_TASKS = {"MESSAGING", "MODERATE", "MANAGE"}
# `business`: the business portfolio that owns the Page; Graph leaves it out for a person's own Page.
PAGE_FIELDS = (
    "id,name,access_token,category,tasks,business{id,name},"
    "instagram_business_account{id,username,name,profile_picture_url}"
)
SUBSCRIBE_CONCURRENCY = 8


class ConnectError(Exception):
    """A step of connecting failed: `what` happened, `todo` is what the admin can do about it."""

    def __init__(self, what: str, todo: str, *, code: Any = None, subcode: Any = None, transient: bool = False):
        super().__init__(what)
        self.what, self.todo, self.code, self.subcode, self.transient = what, todo, code, subcode, transient

    def __str__(self) -> str:
        return f"{self.what} {self.todo}"


@dataclass
class UserToken:
    access_token: str
    expires_in: int | None = None


@dataclass
class PageInfo:
    """A Page as /me/accounts describes it (with its Page token)."""

    id: str
    name: str
    access_token: str | None
    category: str | None = None
    tasks: list[str] = field(default_factory=list)
    instagram: dict[str, Any] | None = None
    business: dict[str, Any] | None = None  # {"id", "name"} of the owning business portfolio; None: a personal Page

    @property
    def can_message(self) -> bool:
        return not self.tasks or bool(MESSAGING_TASKS & set(self.tasks))


@dataclass
class TokenInfo:
    """debug_token's answer about one token."""

    is_valid: bool
    scopes: list[str]
    expires_at: int | None  # epoch seconds; None: never
    error_code: int | None = None
    error_subcode: int | None = None
    error_message: str | None = None
    type: str | None = None
    # granular_scopes: scope -> the ids it reaches (Pages; WhatsApp Business Accounts for a business token)
    targets: dict[str, list[str]] = field(default_factory=dict)


# --- OAuth (Authlib) -------------------------------------------------------------------------------------------


def register_oauth(registry, config: Mapping[str, Any]) -> None:
    """Register Facebook Login on an Authlib registry from config (dialog on FACEBOOK_DIALOG_URL, tokens on
    GRAPH_API_URL). The token endpoint is called with POST and client_secret_post, so the app secret travels in the
    body, never in a URL or an access log; Meta answers it like the documented GET."""
    version = config["GRAPH_API_VERSION"].strip("/")
    registry.register(
        "facebook",
        client_id=config.get("META_APP_ID"),
        client_secret=config.get("META_APP_SECRET"),
        authorize_url=f"{config['FACEBOOK_DIALOG_URL'].rstrip('/')}/{version}/dialog/oauth",
        access_token_url=f"{config['GRAPH_API_URL'].rstrip('/')}/{version}/oauth/access_token",
        client_kwargs={
            "token_endpoint_auth_method": "client_secret_post",
            "default_timeout": float(config.get("PLATFORM_HTTP_TIMEOUT", 10)),
        },
    )


def _client():
    return current_app.extensions["authlib.integrations.flask_client"].create_client("facebook")


def authorization_url(kind: str, redirect_uri: str, state: str, *, rerequest: bool = False) -> str:
    """The login dialog's URL for a flow of this kind, asking only for the scopes it needs."""
    params: dict[str, Any] = {"state": state, "scope": ",".join(SCOPES[kind] + OPTIONAL_SCOPES[kind])}
    if rerequest:
        params["auth_type"] = "rerequest"  # Meta asks again for permissions declined before only with this
    config_id = current_app.config.get("META_LOGIN_CONFIG_ID")
    if config_id:
        params["config_id"] = config_id  # Facebook Login for Business: the configuration names the permissions
    return _client().create_authorization_url(redirect_uri, **params)["url"]


def _token_call(step: str, **params) -> UserToken:
    try:
        token = _client().fetch_access_token(**params)
    except OAuthError as exc:
        error = exc.error if isinstance(exc.error, dict) else {"message": exc.description or exc.error}
        raise _oauth_error(step, error) from None
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "an error"
        raise ConnectError(
            f"Facebook answered HTTP {status} while {step}.",
            "Nothing was connected. Facebook is having a temporary problem: try again in a few minutes.",
            transient=True,
        ) from None
    except requests.Timeout:
        raise ConnectError(
            f"Facebook did not answer while {step}.", "Nothing was connected. Try again in a minute.", transient=True
        ) from None
    except requests.RequestException as exc:
        raise ConnectError(
            f"Facebook could not be reached while {step} ({type(exc).__name__}).",
            "Nothing was connected. Try again in a minute.",
            transient=True,
        ) from None
    except ValueError:
        raise ConnectError(
            f"Facebook's answer while {step} was not understood.", "Nothing was connected. Try again.", transient=True
        ) from None
    expires = token.get("expires_in")
    return UserToken(token["access_token"], int(expires) if expires else None)


def _oauth_error(step: str, error: Mapping[str, Any]) -> ConnectError:
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
    detail = f"Facebook refused {step}: {error.get('message') or 'no reason given'}"
    if code == 100 and subcode == 36007:
        return ConnectError(f"{detail}.", "The login took too long. Start again.", code=code, subcode=subcode)
    if code == 100 and subcode == 36009:
        return ConnectError(
            f"{detail}.",
            "This login answer was already used (a page reload or the back button). Start again.",
            code=code,
            subcode=subcode,
        )
    if code == 100 and subcode == 36008:
        return ConnectError(
            f"{detail}.",
            "The redirect URL in the Meta app's Facebook Login settings does not match ChatPad's: add "
            "PUBLIC_URL/admin/integrations/facebook/callback to Valid OAuth Redirect URIs (docs/connecting.md).",
            code=code,
            subcode=subcode,
        )
    if code in (1, 101) and not error.get("is_transient"):
        return ConnectError(
            f"{detail}.",
            "ChatPad's Meta app id or secret was refused: an operator must check META_APP_ID and META_APP_SECRET.",
            code=code,
            subcode=subcode,
        )
    exc = classify_graph_error(error, 400, platform="Facebook")
    return _graph_connect_error(step, exc)


def exchange_code(code: str, redirect_uri: str) -> UserToken:
    """The dialog's code → a short-lived user token (about an hour)."""
    return _token_call("the login code", code=code, redirect_uri=redirect_uri)


def long_lived(short: UserToken) -> UserToken:
    """A short-lived user token → a long-lived one (about 60 days). Page tokens read with it never expire."""
    return _token_call("the long-lived token", grant_type="fb_exchange_token", fb_exchange_token=short.access_token)


# --- Graph ---------------------------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _graph_connect_error(step: str, exc: SendError) -> ConnectError:
    """A Graph error at a step of connecting, in the admin's words: by the error's class and code."""
    code, subcode = exc.code, exc.subcode
    if isinstance(exc, TransientSendError):
        return ConnectError(
            f"Facebook had a temporary problem while {step} ({exc.reason}).",
            "Nothing was connected. Try again in a few minutes.",
            code=code,
            subcode=subcode,
            transient=True,
        )
    if isinstance(exc, AuthExpiredError) and code == 190:
        return ConnectError(
            f"Facebook says the login is no longer valid while {step} ({exc.reason}).",
            "Start again and log in to Facebook when asked.",
            code=code,
            subcode=subcode,
        )
    if isinstance(exc, AuthExpiredError):
        return ConnectError(
            f"Facebook refused a permission while {step} ({exc.reason}).",
            "Start again and keep every permission switched on in Facebook's dialog. The person connecting needs "
            "full control or the Messaging task on the Page (Page settings → Page access).",
            code=code,
            subcode=subcode,
        )
    return ConnectError(
        f"Facebook refused the request while {step} ({exc.reason}).",
        "Try again; if it keeps failing, check the Meta app's settings (docs/connecting.md, Going live).",
        code=code,
        subcode=subcode,
    )


def _graph(config: Mapping[str, Any] | None = None):
    return get_graph_client(config, platform="Facebook")


def granted_permissions(user: UserToken) -> tuple[set[str], set[str]]:
    """GET /me/permissions → (granted, declined)."""
    try:
        body = _graph().get("me/permissions", token=user.access_token)
    except SendError as exc:
        raise _graph_connect_error("reading the permissions you granted", exc) from None
    granted, declined = set(), set()
    for item in body.get("data") or []:
        (granted if item.get("status") == "granted" else declined).add(item.get("permission"))
    return granted, declined


def me(user: UserToken) -> dict[str, Any]:
    """GET /me: the Facebook user who logged in (id, name)."""
    try:
        return _graph().get("me", token=user.access_token, params={"fields": "id,name"})
    except SendError as exc:
        raise _graph_connect_error("reading who logged in", exc) from None


def fetch_pages(user: UserToken, *, max_pages: int = 5000) -> list[PageInfo]:
    """Every Page the user granted: /me/accounts followed through all its result pages (by the `after` cursor while
    `paging.next` is present, so the token never rides in a URL)."""
    client = _graph()
    # No `limit`: Meta's default page size (25) keeps each answer small; the cursor loop reads them all.
    params: dict[str, Any] = {"fields": PAGE_FIELDS}
    pages: list[PageInfo] = []
    seen: set[str] = set()
    while True:
        try:
            body = client.get("me/accounts", token=user.access_token, params=params)
        except SendError as exc:
            raise _graph_connect_error("listing your Pages", exc) from None
        for item in body.get("data") or []:
            if not isinstance(item, dict) or not item.get("id") or item["id"] in seen:
                continue
            seen.add(item["id"])
            ig = item.get("instagram_business_account")
            pages.append(
                PageInfo(
                    id=str(item["id"]),
                    name=item.get("name") or item["id"],
                    access_token=item.get("access_token"),
                    category=item.get("category"),
                    tasks=list(item.get("tasks") or []),
                    instagram=ig if isinstance(ig, dict) and ig.get("id") else None,
                    business=biz if isinstance(biz := item.get("business"), dict) and biz.get("id") else None,
                )
            )
        paging = body.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after or len(pages) >= max_pages:
            return pages
        params = {**params, "after": after}


def subscribe(page_id: str, page_token: str, fields=MESSENGER_FIELDS, config: Mapping[str, Any] | None = None) -> None:
    """POST /<PAGE_ID>/subscribed_apps: the app receives the Page's webhooks for `fields`. Raises ConnectError."""
    try:
        body = _graph(config).post(
            f"{page_id}/subscribed_apps", token=page_token, params={"subscribed_fields": ",".join(fields)}
        )
    except SendError as exc:
        raise _graph_connect_error("subscribing ChatPad to the Page's messages", exc) from None
    if body.get("success") not in (True, "true"):
        raise ConnectError(
            "Facebook did not confirm the webhook subscription.",
            "Try again in a few minutes.",
            transient=True,
        )


def ensure_subscribed(page_id: str, page_token: str, fields, config: Mapping[str, Any] | None = None) -> None:
    """Make sure the app gets at least `fields` from the Page, keeping whatever it already gets (a Page's subscription
    is the app's, shared by its Messenger and its Instagram account): read, then add only what is missing."""
    try:
        current = subscribed_fields(page_id, page_token, config)
    except SendError as exc:
        raise _graph_connect_error("reading the Page's webhook subscription", exc) from None
    if current and set(fields) <= current:
        return
    subscribe(page_id, page_token, tuple(sorted(current | set(fields))), config)


def subscribe_many(items: list[tuple[str, str, tuple[str, ...], bool]]) -> dict[str, ConnectError | None]:
    """Subscribe several Pages at once — (page id, token, fields, keep existing fields) — a few calls in flight.
    Returns {page id: None | the error}."""
    config = dict(current_app.config)

    def one(item):
        page_id, token, fields, keep = item
        try:
            if keep:
                ensure_subscribed(page_id, token, fields, config)
            else:
                subscribe(page_id, token, fields, config)
            return page_id, None
        except ConnectError as exc:
            return page_id, exc

    if len(items) <= 1:
        return dict(one(i) for i in items)
    with ThreadPoolExecutor(max_workers=min(SUBSCRIBE_CONCURRENCY, len(items))) as pool:
        return dict(pool.map(one, items))


def unsubscribe(page_id: str, page_token: str) -> None:
    """DELETE /<PAGE_ID>/subscribed_apps. Raises ConnectError."""
    try:
        _graph().request("DELETE", f"{page_id}/subscribed_apps", token=page_token)
    except SendError as exc:
        raise _graph_connect_error("unsubscribing ChatPad from the Page", exc) from None


def subscribed_fields(page_id: str, page_token: str, config: Mapping[str, Any] | None = None) -> set[str]:
    """GET /<PAGE_ID>/subscribed_apps → the fields this app is subscribed to on the Page (empty: not subscribed)."""
    config = config or current_app.config
    app_id = str(config.get("META_APP_ID") or "")
    body = _graph(config).get(f"{page_id}/subscribed_apps", token=page_token)
    for app in body.get("data") or []:
        if not app_id or str(app.get("id")) == app_id:
            return set(app.get("subscribed_fields") or [])
    return set()


def app_token(config: Mapping[str, Any] | None = None) -> str:
    config = config or current_app.config
    return f"{config['META_APP_ID']}|{config['META_APP_SECRET']}"


def debug_token(token: str, config: Mapping[str, Any] | None = None) -> TokenInfo:
    """debug_token about `token`, asked with the app token. A dead input token is a TokenInfo with is_valid False and
    Meta's error code/subcode; an error about the call itself (the app token, Meta down) raises SendError.

    Meta documents debug_token only as GET ?input_token=<token>, which would put the Page token in a URL; it is asked
    through the batch API instead (the relative URL in a POST body, the app token in the Authorization header)."""
    config = config or current_app.config
    body = _graph(config).get_in_body("debug_token", token=app_token(config), params={"input_token": token})
    data = body.get("data") or {}
    error = data.get("error") or {}
    expires = _int(data.get("expires_at"))
    return TokenInfo(
        is_valid=bool(data.get("is_valid")),
        scopes=list(data.get("scopes") or []),
        expires_at=expires or None,
        error_code=_int(error.get("code")),
        error_subcode=_int(error.get("subcode") or error.get("error_subcode")),
        error_message=error.get("message"),
        type=data.get("type"),
        targets={
            str(g.get("scope")): [str(t) for t in g.get("target_ids") or []]
            for g in data.get("granular_scopes") or []
            if isinstance(g, dict)
        },
    )
