"""A stand-in for an OpenAI-compatible Chat Completions endpoint, for tests, benchmarks and offline demos.

POST /openai/v1/chat/completions (OpenAI style, Bearer key) and
POST /openai/deployments/<deployment>/chat/completions?api-version=… (Azure style, api-key header) answer in the
Chat Completions shape. How it behaves is set over HTTP, so a test or a benchmark in another process can steer it:

    POST /openai/_control  {"latency": 2.0,                 seconds to think before answering
                            "mode": "json"|"plain"|"fenced"|"truncated",
                            "reply": "…", "quick_replies": […], "handoff": false,   a fixed answer
                            "handoff_topic": "billing dispute",  hand off with this topic
                            "api_key": "sk-…",              require this key (401 otherwise)
                            "refuse": ["response_format"],  400 when the request carries these parameters
                            "script": [{"status": 429, "retry_after": 1}, {"status": 500}, {"sleep": 3}],
                                                            one entry consumed per request, before normal answers
                            "fail": {"status": 503},        every request fails this way until changed
                            "tool_script": [{"tool_calls": [{"name": "find_slots", "arguments": {…}}]},
                                            {"reply": "…"}]}   function calling: one entry per request
                                                            that offers tools; "$slot:N" in an argument is the
                                                            start of slot N of the latest tool result
    POST /openai/_reset     back to defaults, request log emptied
    GET  /openai/_requests  every request received: body, auth headers, times
    GET  /openai/_stats     {"requests", "in_flight", "max_in_flight"}: the concurrency callers achieved

With tools in the request and no tool_script entry left, a request whose last message is a tool result is answered
with that result's "say" line (a deterministic model that repeats what the tool said); otherwise as without tools.

Failure responses follow OpenAI's error shape ({"error": {"message", "type", "code"}}) and send Retry-After on 429.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from flask import Blueprint, current_app, jsonify, request

bp = Blueprint("sandbox_openai", __name__, url_prefix="/openai")

DEFAULTS: dict[str, Any] = {
    "latency": 0.0,
    "mode": "json",
    "reply": None,
    "quick_replies": None,
    "handoff": None,
    "handoff_topic": None,
    "api_key": None,
    "refuse": [],
    "script": [],
    "fail": None,
    "tool_script": [],
}


class StandIn:
    """The stand-in's state, shared by the server's request threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.settings = json.loads(json.dumps(DEFAULTS))
            self.requests: list[dict[str, Any]] = []
            self.in_flight = 0
            self.max_in_flight = 0

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        with self.lock:
            self.settings.update(changes)
            return dict(self.settings)

    def begin(self, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Log a request, count it in flight, and take this request's scripted behaviour (if any)."""
        with self.lock:
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            step = self.settings["script"].pop(0) if self.settings["script"] else None
            return dict(self.settings), step

    def tool_step(self) -> dict[str, Any] | None:
        with self.lock:
            return self.settings["tool_script"].pop(0) if self.settings["tool_script"] else None

    def end(self, record: dict[str, Any], status: int) -> None:
        with self.lock:
            self.in_flight -= 1
            record["finished_at"] = time.time()
            record["status"] = status


@bp.record_once
def _init(setup_state) -> None:
    setup_state.app.extensions["sandbox.openai"] = StandIn()


def _state() -> StandIn:
    return current_app.extensions["sandbox.openai"]


def _error(status: int, message: str, code: str, retry_after: float | None = None):
    kind = {
        401: "invalid_request_error",
        404: "invalid_request_error",
        400: "invalid_request_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error")
    response = jsonify({"error": {"message": message, "type": kind, "param": None, "code": code}})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def _question(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _location(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            for line in message["content"].splitlines():
                if line.startswith("Location: "):
                    return line.removeprefix("Location: ").strip()
    return None


def _answer(settings: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    """The assistant's content in the configured format: deterministic, derived from the request."""
    question = _question(messages)
    where = _location(messages)
    reply = settings["reply"] or (
        f"Thanks for your message{' to ' + where if where else ''}! (sandbox model) You asked: {question[:200]}"
    )
    handoff = settings["handoff"]
    if handoff is None:
        handoff = "person" in question.lower()
    quick = settings["quick_replies"] if settings["quick_replies"] is not None else ["Book a tour", "Office hours"]
    obj = {"reply": reply, "quick_replies": quick, "handoff": bool(handoff), "handoff_reason": None}
    if handoff:
        obj["handoff_reason"] = "Customer asked for a person"
    if settings["handoff_topic"]:
        obj.update(handoff=True, handoff_reason="A handoff topic", handoff_topic=settings["handoff_topic"])
    mode = settings["mode"]
    if mode == "plain":
        return reply
    if mode == "fenced":
        return "```json\n" + json.dumps(obj) + "\n```"
    if mode == "truncated":
        return json.dumps(obj)[:-12]
    return json.dumps(obj)


def _completion(deployment: str | None = None):
    state = _state()
    body = request.get_json(silent=True)
    record: dict[str, Any] = {
        "path": request.path,
        "query": request.args.to_dict(),
        "authorization": request.headers.get("Authorization"),
        "api_key": request.headers.get("api-key"),
        "body": body,
        "received_at": time.time(),
    }
    settings, step = state.begin(record)
    status = 200
    try:
        if step and step.get("sleep"):
            time.sleep(float(step["sleep"]))
            step = None
        elif settings["latency"]:
            time.sleep(float(settings["latency"]))
        failure = step or settings["fail"]
        if failure and failure.get("status"):
            status = int(failure["status"])
            return _error(
                status,
                failure.get("message") or ("Rate limit reached" if status == 429 else "The server had an error"),
                "rate_limit_exceeded" if status == 429 else "server_error",
                failure.get("retry_after", 1 if status == 429 else None),
            )
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            status = 400
            return _error(400, "'model' and 'messages' are required", "invalid_request")
        if deployment is not None and not request.args.get("api-version"):
            status = 404
            return _error(404, "Resource not found (api-version missing)", "404")
        key = settings["api_key"]
        if key:
            given = request.headers.get("api-key") if deployment is not None else None
            auth = request.headers.get("Authorization", "")
            given = given or (auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None)
            if given != key:
                status = 401
                # Real endpoints echo (part of) the wrong key back; the client must not log it.
                return _error(401, f"Incorrect API key provided: {given}", "invalid_api_key")
        for param in settings["refuse"]:
            if param in body:
                status = 400
                return _error(400, f"Unrecognized request argument supplied: {param}", "invalid_request_error")
        if body.get("tools"):
            message = _tool_message(state.tool_step(), body["messages"])
            if message is not None:
                return _chat(body, deployment, message, "tool_calls" if message.get("tool_calls") else "stop")
        content = _answer(settings, body["messages"])
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion_tokens = len(content.split())
        return jsonify(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": deployment or body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "length" if settings["mode"] == "truncated" else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )
    finally:
        state.end(record, status)


def _latest_tool_result(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    for message in reversed(messages):
        if message.get("role") == "tool":
            try:
                value = json.loads(message.get("content") or "")
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _fill(value: Any, result: dict[str, Any] | None) -> Any:
    """ "$slot:N" → the start of slot N (or alternative N) of the latest tool result."""
    if isinstance(value, str) and value.startswith("$slot:") and result:
        slots = result.get("slots") or result.get("alternatives") or []
        index = int(value.split(":", 1)[1])
        return slots[index]["start"] if index < len(slots) else value
    return value


def _tool_message(step: dict[str, Any] | None, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The assistant message for a request that offers tools: the scripted step, else (after a tool result) the
    result's "say" line as the JSON answer; None to answer as usual."""
    result = _latest_tool_result(messages)
    if step and step.get("tool_calls"):
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": json.dumps({k: _fill(v, result) for k, v in (c.get("arguments") or {}).items()}),
                },
            }
            for c in step["tool_calls"]
        ]
        return {"role": "assistant", "content": None, "tool_calls": calls}
    if step and step.get("reply") is not None:
        return {"role": "assistant", "content": json.dumps({"reply": step["reply"], "handoff": False})}
    if messages and messages[-1].get("role") == "tool" and result is not None:
        return {"role": "assistant", "content": json.dumps({"reply": str(result.get("say") or ""), "handoff": False})}
    return None


def _chat(body: dict[str, Any], deployment: str | None, message: dict[str, Any], finish: str):
    return jsonify(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": deployment or body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
    )


@bp.post("/v1/chat/completions")
def chat_completions():
    return _completion()


@bp.post("/deployments/<deployment>/chat/completions")
def azure_chat_completions(deployment: str):
    return _completion(deployment)


@bp.get("/")
def index():
    state = _state()
    with state.lock:
        settings = {k: v for k, v in state.settings.items() if k != "api_key"}
        return jsonify(
            {
                "endpoints": ["/openai/v1/chat/completions", "/openai/deployments/<deployment>/chat/completions"],
                "settings": settings,
                "requests": len(state.requests),
            }
        )


@bp.post("/_control")
def control():
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return jsonify({"error": "send a JSON object of settings"}), 400
    try:
        return jsonify(_state().update(changes))
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400


@bp.post("/_reset")
def reset():
    _state().reset()
    return jsonify({"ok": True})


@bp.get("/_requests")
def requests_received():
    state = _state()
    with state.lock:
        return jsonify(list(state.requests))


@bp.get("/_stats")
def stats():
    state = _state()
    with state.lock:
        return jsonify(
            {"requests": len(state.requests), "in_flight": state.in_flight, "max_in_flight": state.max_in_flight}
        )
