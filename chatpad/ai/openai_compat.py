"""An OpenAI-compatible Chat Completions client: OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp server and friends.

POST {AI_BASE_URL}/chat/completions with the context as the system prompt, asking for a small JSON object
({reply, quick_replies, handoff, handoff_reason, handoff_topic}); a model that answers in plain text is used as plain
text.
Timeouts, connection errors, 429 and 5xx are retried with exponential backoff, honouring Retry-After; a 400 that
names an optional parameter the server does not support (response_format, max_tokens) is retried without it.
The API key goes in a header only and never into a log line or an error message.

Wire format: https://platform.openai.com/docs/api-reference/chat/create. Azure OpenAI: the deployment URL
(https://<resource>.openai.azure.com/openai/deployments/<deployment>) with ?api-version= and an api-key header:
https://learn.microsoft.com/azure/ai-services/openai/reference.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from chatpad.http import PooledSession, retry_after_seconds

from .context import ReplyContext
from .errors import AIError
from .prompt import build_messages
from .providers import Provider, ProviderReply
from .settings import AISettings

log = logging.getLogger("chatpad.ai.openai")

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
CONNECT_TIMEOUT = 5.0

# Servers that refused an optional parameter once are not sent it again (per base URL, per process).
_unsupported: dict[str, set[str]] = {}
_sessions: dict[str, requests.Session] = {}
_lock = threading.Lock()


def _session(base_url: str) -> requests.Session:
    """One pooled session per endpoint, shared by the worker's threads (enough pooled connections for all)."""
    with _lock:
        session = _sessions.get(base_url)
        if session is None:
            session = _sessions[base_url] = PooledSession(256)
        return session


def _uses_api_key_header(settings: AISettings) -> bool:
    host = urlsplit(settings.base_url).hostname or ""
    return bool(settings.api_version) or host.endswith(".azure.com") or host.endswith(".azure-api.net")


def _scrub(text: str, settings: AISettings) -> str:
    """An error text fit for logs and admins: no API key, one line, bounded."""
    text = " ".join(str(text).split())
    if settings.api_key:
        text = text.replace(settings.api_key, "***")
    text = re.sub(r"\b(sk|key)-[A-Za-z0-9_\-]{8,}", r"\1-***", text)
    return text[:300]


def _error_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason or ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    if error:
        return str(error)
    return str(data.get("message") or data.get("detail") or "")[:200] if isinstance(data, dict) else ""


class ChatCompletionsClient:
    """Calls one Chat Completions endpoint with retries. Thread-safe; one per call is fine."""

    def __init__(self, settings: AISettings):
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.settings.api_key
        if key:
            if _uses_api_key_header(self.settings):
                headers["api-key"] = key
            else:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, messages: list[dict[str, Any]], json_mode: bool, tools: list | None = None) -> dict[str, Any]:
        s = self.settings
        refused = _unsupported.get(s.base_url, set())
        body: dict[str, Any] = {"model": s.model, "messages": messages}
        if tools and "tools" not in refused:
            body["tools"] = tools  # function calling (chatpad/ai/booking_tools.py)
        if s.temperature is not None and "temperature" not in refused:
            body["temperature"] = s.temperature
        if s.max_tokens:
            if "max_tokens" in refused:
                body["max_completion_tokens"] = s.max_tokens
            else:
                body["max_tokens"] = s.max_tokens
        if json_mode and "response_format" not in refused:
            body["response_format"] = {"type": "json_object"}
        return body

    def _refused_param(self, message: str, body: dict[str, Any]) -> str | None:
        """The optional parameter a 400 complains about, if it is one we can do without."""
        lowered = message.lower()
        for param in ("response_format", "max_tokens", "temperature", "tools"):
            if param in body and param in lowered:
                return param
        if "response_format" in body and ("json_object" in lowered or "json mode" in lowered):
            return "response_format"
        return None

    def complete(
        self, messages: list[dict[str, Any]], *, json_mode: bool = True, tools: list | None = None, raw: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """The assistant message's text and a trace (model, usage, attempts). Raises AIError after the retries.
        With tools (function calling), raw=True returns the whole assistant message (its tool_calls) instead."""
        s = self.settings
        host = urlsplit(self.url).netloc
        params = {"api-version": s.api_version} if s.api_version else None
        attempt = 0
        downgrades = 0
        while True:
            body = self._body(messages, json_mode, tools)
            retry_after: float | None = None
            try:
                response = _session(s.base_url).post(
                    self.url,
                    params=params,
                    json=body,
                    headers=self._headers(),
                    timeout=(min(CONNECT_TIMEOUT, s.timeout), s.timeout),
                )
            except requests.Timeout:
                problem, status = f"no answer from {host} within {s.timeout:g}s", None
            except requests.ConnectionError as exc:
                problem, status = f"could not reach {host}: {type(exc).__name__}", None
            except requests.RequestException as exc:
                raise AIError(f"AI request to {host} failed: {_scrub(str(exc), s)}", permanent=True) from None
            else:
                status = response.status_code
                if status == 200:
                    try:
                        data = response.json()
                        if raw:
                            return dict(data["choices"][0]["message"]), self._trace(data, attempt)
                        return self._content(data), self._trace(data, attempt)
                    except (ValueError, KeyError, IndexError, TypeError):
                        problem = f"{host} answered 200 with a body that is not a chat completion"
                        status = None
                else:
                    message = _scrub(_error_message(response), s)
                    if status == 400 and downgrades < 3:
                        param = self._refused_param(message, body)
                        if param:
                            downgrades += 1
                            with _lock:
                                _unsupported.setdefault(s.base_url, set()).add(param)
                            log.info("AI endpoint %s refused %s; retrying without it", host, param)
                            continue
                    if status not in RETRY_STATUSES:
                        raise AIError(
                            f"AI endpoint {host} refused the request: HTTP {status} {message}".strip(),
                            permanent=status in (400, 401, 403, 404, 422),
                            status=status,
                        )
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                    problem = f"HTTP {status} from {host}" + (f": {message}" if message else "")
            if attempt >= s.max_retries:
                raise AIError(
                    f"AI call failed after {attempt + 1} attempts: {problem}", status=status, retry_after=retry_after
                )
            if retry_after is not None and retry_after > s.retry_max_wait:
                raise AIError(
                    f"{problem}; the endpoint asks to wait {retry_after:g}s, longer than AI_RETRY_MAX_WAIT",
                    status=status,
                    retry_after=retry_after,
                )
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            log.warning(
                "AI call attempt %d/%d failed (%s); retrying in %.1fs", attempt + 1, s.max_retries + 1, problem, delay
            )
            time.sleep(delay)
            attempt += 1

    @staticmethod
    def _backoff(attempt: int) -> float:
        """Exponential backoff with jitter, so many threads that failed together do not retry together."""
        return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * (0.75 + random.random() / 2)

    @staticmethod
    def _content(data: dict[str, Any]) -> str:
        message = data["choices"][0]["message"]
        content = message.get("content")
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not content and message.get("refusal"):
            return json.dumps({"reply": "", "handoff": True, "handoff_reason": f"Model refused: {message['refusal']}"})
        return content or ""

    def _trace(self, data: dict[str, Any], attempt: int) -> dict[str, Any]:
        choice = (data.get("choices") or [{}])[0]
        return {
            "model": data.get("model") or self.settings.model,
            "usage": data.get("usage"),
            "finish_reason": choice.get("finish_reason"),
            "attempts": attempt + 1,
        }


_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_REPLY_RE = re.compile(r'"(?:reply|text|message|answer)"\s*:\s*"((?:[^"\\]|\\.)*)', re.S)
REPLY_KEYS = ("reply", "text", "message", "answer", "response")


def _json_object(text: str) -> dict[str, Any] | None:
    fenced = _FENCE_RE.match(text)
    candidates = [fenced.group(1)] if fenced else [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1"}
    return bool(value)


def parse_answer(content: str, trace: dict[str, Any] | None = None) -> ProviderReply:
    """The model's text as a ProviderReply: the JSON object we asked for, or plain text from a model that ignored
    the format. JSON cut off mid-way (max_tokens) still yields its reply text; unreadable JSON raises AIError rather
    than sending braces to a customer."""
    text = (content or "").strip()
    trace = dict(trace or {})
    obj = _json_object(text)
    if obj is not None:
        reply = next((obj[k] for k in REPLY_KEYS if isinstance(obj.get(k), str)), None)
        if reply is None and not _truthy(obj.get("handoff")):
            raise AIError("the model answered JSON without a reply field")
        raw_quick = obj.get("quick_replies") or []
        if isinstance(raw_quick, str):
            raw_quick = [raw_quick]
        quick = []
        for item in raw_quick if isinstance(raw_quick, list) else []:
            title = item.get("title") if isinstance(item, dict) else item
            if isinstance(title, str | int | float) and str(title).strip():
                quick.append(str(title).strip())
        reason = obj.get("handoff_reason")
        topic = obj.get("handoff_topic")
        handoff = _truthy(obj.get("handoff"))
        trace["format"] = "json"
        return ProviderReply(
            text=(reply or "").strip(),
            quick_replies=quick,
            handoff=handoff,
            handoff_reason=str(reason) if reason else None,
            handoff_topic=str(topic).strip() if handoff and isinstance(topic, str) and topic.strip() else None,
            trace=trace,
        )
    stripped = _FENCE_RE.sub(r"\1", text).strip()
    if stripped.startswith("{"):
        match = _REPLY_RE.search(stripped)
        if match:
            try:
                reply = json.loads(f'"{match.group(1)}"')
            except ValueError:
                reply = match.group(1).replace('\\"', '"').replace("\\n", "\n")
            trace["format"] = "json-truncated"
            return ProviderReply(text=reply.strip(), trace=trace)
        raise AIError("the model answered with unreadable JSON")
    trace["format"] = "text"
    return ProviderReply(text=text, trace=trace)


class OpenAICompatibleProvider(Provider):
    """Any Chat Completions endpoint, chosen by AI_BASE_URL."""

    name = "openai"

    def generate(self, context: ReplyContext, settings: AISettings) -> ProviderReply:
        client = ChatCompletionsClient(settings)
        if context.booking_tools is not None:  # a calendar to book with: find_slots, book, reschedule, cancel
            from .booking_tools import generate_with_tools

            return _known_topic(generate_with_tools(client, context, settings, parse_answer), context)
        content, trace = client.complete(build_messages(context), json_mode=settings.json_mode)
        return _known_topic(parse_answer(content, trace), context)


def _known_topic(answer: ProviderReply, context: ReplyContext) -> ProviderReply:
    """A handoff topic the model names, in the list's spelling (a model may change the case); another is kept."""
    if answer.handoff_topic:
        known = {t.name.lower(): t.name for t in context.handoff_topics}
        answer.handoff_topic = known.get(answer.handoff_topic.lower(), answer.handoff_topic)
    return answer
