"""The sandbox's Graph API: /graph/[vNN.N/]<path>, a small router other modules add routes to.

Faithful where ChatPad's clients can tell the difference: any /vNN.N/ prefix, the token as the access_token
parameter or a Bearer header, appsecret_proof checked when sent (and required when the app "Requires App Secret"),
Meta's JSON error shape, and the injected failures of the world's rules. Every request is recorded (world.requests)
so tests assert on what the client really sent.
https://developers.facebook.com/docs/graph-api/guides/error-handling
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, current_app, request

from .world import FailureRule, Token, World

bp = Blueprint("sandbox_meta_graph", __name__, url_prefix="/graph")

_VERSION = re.compile(r"^(v\d+\.\d+)(?:/(.*))?$")


class GraphError(Exception):
    """Raised by a handler: answered as Meta's {"error": {...}} with this HTTP status."""

    def __init__(
        self,
        message: str,
        code: int,
        subcode: int | None = None,
        *,
        type: str = "OAuthException",
        status: int = 400,
        headers: dict[str, str] | None = None,
        transient: bool | None = None,
    ):
        super().__init__(message)
        self.message, self.code, self.subcode, self.type = message, code, subcode, type
        self.status, self.headers, self.transient = status, headers or {}, transient

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient is not None:
            error["is_transient"] = self.transient
        error["fbtrace_id"] = "Sbx" + secrets.token_urlsafe(8)
        return {"error": error}


def unsupported(method: str, object_id: str) -> GraphError:
    return GraphError(
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        100,
        33,
        type="GraphMethodException",
    )


@dataclass
class GraphRequest:
    """One parsed Graph call, handed to a route handler."""

    world: World
    method: str
    path: str
    match: re.Match
    params: dict[str, Any]
    body: Any
    token_value: str | None
    _token: Token | None = field(default=None, init=False)

    def param(self, name: str, default: Any = None) -> Any:
        if isinstance(self.body, dict) and name in self.body:
            return self.body[name]
        return self.params.get(name, default)

    def token(self, *kinds: str) -> Token:
        """The caller's valid token (of one of `kinds`), else the GraphError Meta answers."""
        if self._token is not None:
            return self._token
        if not self.token_value:
            raise GraphError("An active access token must be used to query information about the current user.", 2500)
        token = self.world.tokens.get(self.token_value)
        if token is None:
            raise GraphError("Invalid OAuth access token - Cannot parse access token", 190)
        dead = token.dead_subcode()
        if dead is not None:
            raise GraphError(_DEAD_TOKEN_MESSAGES.get(dead, "Error validating access token."), 190, dead)
        if kinds and token.kind not in kinds:
            raise GraphError(
                f"(#200) This endpoint requires a {' or '.join(kinds)} access token", 200, type="OAuthException"
            )
        self._check_proof(token)
        self._token = token
        return token

    def _check_proof(self, token: Token) -> None:
        proof = self.params.get("appsecret_proof")
        if proof is None:
            if self.world.settings.get("require_appsecret_proof"):
                raise GraphError(
                    "API calls from the server require an appsecret_proof argument", 100, type="GraphMethodException"
                )
            return
        expected = hmac.new(self.world.app_secret.encode(), token.value.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(proof)):
            raise GraphError("Invalid appsecret_proof provided in the API argument", 100, type="GraphMethodException")


_DEAD_TOKEN_MESSAGES = {
    458: "Error validating access token: The user has not authorized application.",
    459: "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow "
    "the instructions given.",
    460: "Error validating access token: The session has been invalidated because the user changed their password "
    "or Facebook has changed the session for security reasons.",
    463: "Error validating access token: Session has expired.",
    464: "Error validating access token: The user is not a confirmed user.",
    467: "Error validating access token: The access token is invalid.",
}

Handler = Callable[[GraphRequest], Any]
_ROUTES: list[tuple[str, re.Pattern, Handler]] = []


def route(method: str, pattern: str, *, first: bool = False) -> Callable[[Handler], Handler]:
    """Register a Graph route: `pattern` is a regex over the version-less path (e.g. r"(?P<id>[^/]+)/messages").

    A handler that returns NotImplemented passes the request on to the next matching route; `first` puts a route
    ahead of those registered before it (Instagram's handlers look at the ids first and pass on the rest). Literal
    paths (debug_token, me/accounts…) also go first, whatever the import order, so a catch-all like GET /<id> never
    shadows them."""

    def decorator(func: Handler) -> Handler:
        entry = (method.upper(), re.compile(f"^{pattern}$"), func)
        if first or re.fullmatch(r"[\w/]+", pattern):
            _ROUTES.insert(0, entry)
        else:
            _ROUTES.append(entry)
        return func

    return decorator


def get_world() -> World:
    return current_app.extensions["sandbox.meta.world"]


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


def _injected(rule: FailureRule) -> Response | None:
    """The response of an injected failure (None for slow/timeout rules that still go through)."""
    if rule.kind in ("slow", "timeout"):
        time.sleep(rule.delay or (2.0 if rule.kind == "slow" else 30.0))
        if rule.kind == "slow" or rule.process:
            return None
        return Response("<html><body>504 Gateway Time-out</body></html>", status=504, mimetype="text/html")
    if rule.kind == "service_unavailable":
        return Response("<html><body>503 Service Unavailable</body></html>", status=503, mimetype="text/html")
    if rule.kind == "too_many_requests":
        return Response(
            "Too Many Requests", status=429, headers={"Retry-After": str(rule.retry_after)}, mimetype="text/plain"
        )
    minutes = max(1, round(rule.retry_after / 60))
    usage = json.dumps({"call_count": 100, "total_cputime": 100, "total_time": 100})
    buc = json.dumps(
        {
            "sandbox": [
                {
                    "type": "messenger",
                    "call_count": 100,
                    "total_cputime": 25,
                    "total_time": 25,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
    )
    errors = {
        "server_error": GraphError(
            "An unexpected error has occurred. Please retry your request later.", 2, status=500, transient=True
        ),
        "unknown_error": GraphError("An unknown error has occurred.", 1, status=500),
        "rate_limit": GraphError(
            "(#613) Calls to this api have exceeded the rate limit.", 613, headers={"X-Business-Use-Case-Usage": buc}
        ),
        "app_rate_limit": GraphError(
            "(#4) Application request limit reached", 4, status=403, headers={"X-App-Usage": usage}
        ),
        "expired_token": GraphError(_DEAD_TOKEN_MESSAGES[463], 190, 463),
        "invalid_token": GraphError(_DEAD_TOKEN_MESSAGES[460], 190, 460),
        "permission": GraphError("(#10) Requires pages_messaging permission to manage the object", 10, status=403),
        "blocked": GraphError("(#551) This person isn't available right now.", 551, 1545041),
        "window": GraphError(
            "(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
            "https://developers.facebook.com/docs/messenger-platform/policy-overview",
            10,
            2018278,
        ),
        "ig_rate_limit": GraphError(
            "(#613) Calls to this api have exceeded the rate limit.",
            613,
            2534040,
            headers={"X-Business-Use-Case-Usage": buc},
        ),
        "ig_window": GraphError("(#10) This message is sent outside of allowed window.", 10, 2534022),
        "ig_no_user": GraphError("(#100) No matching user found", 100, 2534014),
        "policy_block": GraphError(
            "(#368) The action attempted has been deemed abusive or is otherwise disallowed", 368, 1390008
        ),
    }
    error = errors[rule.kind]
    return _json_response(error.body(), error.status, error.headers)


@bp.route("/<path:path>", methods=["GET", "POST", "DELETE"])
def dispatch(path: str) -> Response:
    world = get_world()
    version = None
    matched = _VERSION.match(path)
    if matched:
        version, path = matched.group(1), matched.group(2) or ""
    path = path.strip("/")
    params = request.args.to_dict()
    form = request.form.to_dict() if request.form else {}
    body: Any = request.get_json(silent=True) if request.is_json else None
    if body is None and form:
        body = {k: _maybe_json(v) for k, v in form.items()}
    token_value, source = params.get("access_token"), "query"
    if not token_value and form.get("access_token"):
        token_value, source = form["access_token"], "form"
    auth = request.headers.get("Authorization", "")
    if not token_value and auth.lower().startswith(("bearer ", "oauth ")):
        token_value, source = auth.split(None, 1)[1].strip(), "bearer"
    if not token_value:
        source = None
    record = world.record_request(
        method=request.method,
        path=path,
        version=version,
        query=params,
        json=request.get_json(silent=True) if request.is_json else None,
        form=form,
        token=token_value,
        token_source=source,
    )

    response: Response | None = None
    rule = world.take_failure(request.method, "/" + path)
    if rule is not None:
        record.failure = rule.kind
        response = _injected(rule)
    if response is None and request.method == "POST" and path == "" and "batch" in form:
        response = _batch(world, version, form, token_value)
    if response is None:
        response = _handle(world, request.method, path, params, body, token_value)
    record.status = response.status_code
    record.response = response.get_json(silent=True) if response.is_json else response.get_data(as_text=True)[:500]
    return response


BATCH_LIMIT = 50


def _batch(world: World, version: str | None, form: dict[str, str], token: str | None) -> Response:
    """POST /vX.Y with batch=[{"method", "relative_url", "body"?}] (https://developers.facebook.com/docs/graph-api/
    batch-requests): each request is answered as {"code", "headers", "body": "<JSON text>"}, failures included,
    inside one HTTP 200. A request may carry its own access_token; otherwise the batch's token is used. Each one is
    recorded like a direct call, with batch=True (its parameters were in the POST body, not a URL)."""
    try:
        items = json.loads(form.get("batch") or "")
    except ValueError:
        items = None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        error = GraphError("(#100) The parameter batch must be a JSON array of requests", 100)
        return _json_response(error.body(), error.status)
    if len(items) > BATCH_LIMIT:
        error = GraphError(f"(#1) The batch may hold at most {BATCH_LIMIT} requests", 1)
        return _json_response(error.body(), error.status)
    answers = []
    for item in items:
        method = str(item.get("method") or "GET").upper()
        parts = urlsplit(str(item.get("relative_url") or ""))
        path = parts.path.strip("/")
        matched = _VERSION.match(path)
        if matched:
            path = (matched.group(2) or "").strip("/")
        query = dict(parse_qsl(parts.query))
        inner_body = {k: _maybe_json(v) for k, v in parse_qsl(str(item.get("body") or ""))} or None
        inner_token = query.get("access_token") or token
        if "appsecret_proof" in form and "access_token" not in query:
            query.setdefault("appsecret_proof", form["appsecret_proof"])
        record = world.record_request(
            method=method, path=path, version=version, query=query, json=None, form={}, token=inner_token,
            token_source="batch", batch=True,  # noqa: S106
        )  # fmt: skip
        response = None
        rule = world.take_failure(method, "/" + path)
        if rule is not None:
            record.failure = rule.kind
            response = _injected(rule)
        if response is None:
            response = _handle(world, method, path, query, inner_body, inner_token)
        record.status = response.status_code
        record.response = response.get_json(silent=True) if response.is_json else response.get_data(as_text=True)[:500]
        answers.append(
            {
                "code": response.status_code,
                "headers": [{"name": k, "value": v} for k, v in response.headers.items()],
                "body": response.get_data(as_text=True),
            }
        )
    return _json_response(answers)


def _maybe_json(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _handle(world: World, method: str, path: str, params: dict, body: Any, token: str | None) -> Response:
    for route_method, pattern, handler in _ROUTES:
        if route_method != method:
            continue
        match = pattern.match(path)
        if not match:
            continue
        req = GraphRequest(world, method, path, match, params, body, token)
        try:
            result = handler(req)
        except GraphError as exc:
            return _json_response(exc.body(), exc.status, exc.headers)
        if result is NotImplemented:
            continue
        if isinstance(result, Response):
            return result
        return _json_response(result)
    head = path.split("/", 1)[0]
    if "/" in path:
        error = GraphError(f"Unknown path components: /{path.split('/', 1)[1]}", 2500)
    else:
        error = unsupported(method, head)
    return _json_response(error.body(), error.status)
