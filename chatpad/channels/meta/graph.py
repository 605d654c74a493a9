"""The Graph API HTTP client: one requests.Session, a timeout on every call, the base URL and version from config.

GRAPH_API_URL is the only difference between Meta and the sandbox. Tokens travel in the Authorization header (so they
never appear in URLs or access logs), with appsecret_proof on every call ("Require App Secret" may be on).
https://developers.facebook.com/docs/graph-api/securing-requests#appsecret_proof

A read whose parameters are themselves secrets (debug_token's input_token: Meta documents it only as a query
parameter) goes through the batch API instead (GraphClient.get_in_body): the request is POSTed, its relative URL in
the form body, so the token reaches no request line, proxy or access log.
https://developers.facebook.com/docs/graph-api/batch-requests
"""

from __future__ import annotations

import hashlib
import hmac
import json as jsonlib
import logging
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from chatpad.channels.errors import TransientSendError
from chatpad.http import PooledSession

from .errors import classify_graph_error, retry_after_from

log = logging.getLogger("chatpad.channels.meta")


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """hex(HMAC-SHA256(key=app secret, msg=access token)), the proof Meta asks for with "Require App Secret"."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


# Connections kept open to the Graph API per process: the threaded workers make that many calls at once (typing
# indicators, profiles, sends), and requests' default of 10 closed every connection beyond it after one call.
POOL_SIZE = 128


def _pooled_session() -> requests.Session:
    return PooledSession(POOL_SIZE)


class GraphClient:
    """Calls to one Graph API (base URL + version). Thread-safe enough for RQ workers: the session pools."""

    def __init__(
        self,
        base_url: str,
        version: str,
        app_secret: str | None = None,
        timeout: float = 10.0,
        platform: str = "Messenger",
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.version = version.strip("/")
        self.app_secret = app_secret
        self.timeout = timeout
        self.platform = platform
        self.session = session or _pooled_session()
        self.session.headers.setdefault("User-Agent", "ChatPad/1.0")

    def url(self, path: str) -> str:
        path = path.lstrip("/")
        return f"{self.base_url}/{self.version}/{path}" if path else f"{self.base_url}/{self.version}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One Graph call; the decoded JSON body on success, else the classified SendError is raised. `data` is a
        form body (appsecret_proof then goes in it too)."""
        query = dict(params or {})
        form = dict(data) if data is not None else None
        if self.app_secret:
            (form if form is not None else query)["appsecret_proof"] = appsecret_proof(token, self.app_secret)
        try:
            response = self.session.request(
                method,
                self.url(path),
                params=query,
                json=json,
                data=form,
                headers={"Authorization": f"Bearer {token}"},
                timeout=timeout or self.timeout,
            )
        except requests.Timeout:
            raise TransientSendError(f"{self.platform} did not answer within {timeout or self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise TransientSendError(f"Could not reach {self.platform}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok and (isinstance(body, list) or (isinstance(body, dict) and "error" not in body)):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        exc = classify_graph_error(error, response.status_code, response.headers, platform=self.platform)
        if isinstance(exc, TransientSendError) and exc.retry_after is None:
            exc.retry_after = retry_after_from(response.headers)
        log.warning(
            "graph %s %s -> HTTP %s code=%s subcode=%s (%s)",
            method,
            path,
            response.status_code,
            exc.code,
            exc.subcode,
            type(exc).__name__,
        )
        raise exc

    def get(self, path: str, *, token: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, token=token, params=params)

    def post(
        self, path: str, *, token: str, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.request("POST", path, token=token, json=json, params=params)

    def get_in_body(self, path: str, *, token: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET `path` with `params` through the batch API: POST /vX.Y with batch=[{method, relative_url}] in the
        form body, so secret parameters stay out of every URL. The answer (or its classified SendError) is the one
        Graph gave that request."""
        relative = path.lstrip("/") + ("?" + urlencode(dict(params)) if params else "")
        batch = [{"method": "GET", "relative_url": relative}]
        answers = self.request("POST", "", token=token, data={"batch": jsonlib.dumps(batch)})
        answer = answers[0] if isinstance(answers, list) and answers else None
        if not isinstance(answer, dict):
            # Graph answers null for a request of the batch that did not finish in time.
            raise TransientSendError(f"{self.platform} did not finish the request (batch answer was empty)")
        try:
            body = jsonlib.loads(answer.get("body") or "null")
        except ValueError:
            body = None
        status = int(answer.get("code") or 0)
        if 200 <= status < 300 and isinstance(body, dict) and "error" not in body:
            return body
        headers = {h.get("name"): h.get("value") for h in answer.get("headers") or [] if isinstance(h, dict)}
        error = body.get("error") if isinstance(body, dict) else None
        exc = classify_graph_error(error, status or 500, headers, platform=self.platform)
        if isinstance(exc, TransientSendError) and exc.retry_after is None:
            exc.retry_after = retry_after_from(headers)
        log.warning("graph batch GET %s -> HTTP %s code=%s subcode=%s", path, status, exc.code, exc.subcode)
        raise exc


_clients: dict[tuple, GraphClient] = {}
_lock = threading.Lock()


def get_graph_client(config: Mapping[str, Any] | None = None, platform: str = "Messenger") -> GraphClient:
    """The process's client for the app's config (current_app.config by default), one per distinct setting."""
    if config is None:
        from flask import current_app

        config = current_app.config
    key = (
        config["GRAPH_API_URL"],
        config["GRAPH_API_VERSION"],
        config.get("META_APP_SECRET"),
        float(config.get("PLATFORM_HTTP_TIMEOUT", 10)),
        platform,
    )
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = GraphClient(key[0], key[1], key[2], key[3], platform=platform)
                _clients[key] = client
    return client
