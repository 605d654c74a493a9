"""A connection in progress, between "Connect" and the last screen: kept server-side, encrypted, for a limited time.

The OAuth dialog, the callback, the selection screen and the assignment screen are separate requests. What they share
(the flow's kind, the agent, the Pages found and their tokens) lives in Redis under a random id, encrypted with the
token cipher and expiring after CONNECT_FLOW_TTL seconds, never in the browser: the session cookie holds only the ids
of the user's own flows. The id doubles as the OAuth `state`, so a callback is accepted only in the browser session
that started it (CSRF) and only while the flow lives (an expired state is refused with a clear message).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import current_app, request, session, url_for

from chatpad.crypto import get_cipher
from chatpad.queue import get_redis

SESSION_KEY = "chatpad.connect_flows"
MAX_FLOWS_PER_SESSION = 5
FLOW_KINDS = ("facebook", "instagram", "google", "microsoft", "sms", "whatsapp")


class FlowError(Exception):
    """The flow cannot go on (expired, unknown, another user's); `reason` says why in the admin's words."""

    def __init__(self, reason: str, kind: str = "expired"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass
class Flow:
    """One connection attempt. `candidates` are what the platform offered (with their tokens)."""

    id: str
    kind: str
    organization_id: int
    user_id: int
    agent_id: str
    redirect_uri: str
    created_at: float = field(default_factory=time.time)
    account_id: str | None = None  # set when reconnecting one account
    stage: str = "authorizing"  # authorizing → selecting → assigning → done
    candidates: list[dict[str, Any]] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)
    assignments: dict[str, str] = field(default_factory=dict)  # candidate id → location id ("" = General)
    granted_scopes: list[str] = field(default_factory=list)
    platform_user: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def candidate(self, candidate_id: str) -> dict[str, Any] | None:
        return next((c for c in self.candidates if c["id"] == candidate_id), None)


def _key(flow_id: str) -> str:
    return f"chatpad:connect-flow:{flow_id}"


def ttl() -> int:
    return int(current_app.config.get("CONNECT_FLOW_TTL", 1800))


def start_flow(kind: str, *, organization_id: int, user_id: int, agent_id: str, redirect_uri: str, **extra) -> Flow:
    """A new flow, saved, and remembered in this browser session."""
    if kind not in FLOW_KINDS:
        raise ValueError(f"unknown flow kind {kind!r}")
    flow = Flow(
        id=secrets.token_urlsafe(32),
        kind=kind,
        organization_id=organization_id,
        user_id=user_id,
        agent_id=str(agent_id),
        redirect_uri=redirect_uri,
        **extra,
    )
    save_flow(flow)
    ids = [i for i in session.get(SESSION_KEY, []) if i != flow.id][-(MAX_FLOWS_PER_SESSION - 1) :]
    session[SESSION_KEY] = [*ids, flow.id]
    return flow


def save_flow(flow: Flow) -> None:
    """Store the flow (encrypted); its lifetime counts from its start, not from the last save."""
    remaining = int(flow.created_at + ttl() - time.time())
    if remaining <= 0:
        raise FlowError("This connection attempt has expired. Start again.")
    blob = get_cipher().encrypt(json.dumps(asdict(flow)))
    get_redis().set(_key(flow.id), blob, ex=remaining)


def load_flow(flow_id: str | None, *, user_id: int, organization_id: int) -> Flow:
    """The flow with this id if this browser session started it and it has not expired; FlowError otherwise."""
    if not flow_id:
        raise FlowError("The answer from the platform carried no state, so it cannot be trusted.", "forged")
    known = session.get(SESSION_KEY, [])
    if not any(hmac.compare_digest(str(flow_id), str(i)) for i in known):
        raise FlowError(
            "This answer does not belong to a connection started in this browser (the state does not match). "
            "Nothing was connected. Start again from Integrations.",
            "forged",
        )
    blob = get_redis().get(_key(flow_id))
    if blob is None:
        raise FlowError(
            f"This connection attempt expired (they last {ttl() // 60} minutes). Nothing was connected. Start again."
        )
    data = json.loads(get_cipher().decrypt(blob.decode() if isinstance(blob, bytes) else blob))
    flow = Flow(**data)
    if flow.user_id != user_id or flow.organization_id != organization_id:
        raise FlowError("This connection attempt belongs to someone else.", "forged")
    return flow


def end_flow(flow: Flow) -> None:
    """Forget the flow (its tokens with it)."""
    get_redis().delete(_key(flow.id))
    session[SESSION_KEY] = [i for i in session.get(SESSION_KEY, []) if i != flow.id]


def redirect_uri_for(endpoint: str) -> str:
    """The OAuth redirect URI: PUBLIC_URL in production (what the Meta/Google/Microsoft apps list), else the address
    the browser is using, so the session cookie survives the round trip on a laptop."""
    path = url_for(endpoint)
    base = current_app.config.get("PUBLIC_URL") if current_app.config.get("ENV_NAME") == "production" else None
    return (base or request.host_url).rstrip("/") + path
