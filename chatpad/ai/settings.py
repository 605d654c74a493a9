"""Which provider and model answer for an agent: the app's AI_* config, overridden by Agent.ai_settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import AIError

# What an agent may override. Never the endpoint or the key: an organization's admin edits ai_settings, and pointing
# the app's API key at a URL of their choosing would hand them the key.
AGENT_OVERRIDABLE = ("provider", "model", "temperature", "max_tokens")

# Names operators reach for; they are all the same Chat Completions client.
PROVIDER_ALIASES = {
    "openai": "openai",
    "openai-compatible": "openai",
    "azure": "openai",
    "azure-openai": "openai",
    "ollama": "openai",
    "vllm": "openai",
    "llama.cpp": "openai",
    "llamacpp": "openai",
    "offline": "offline",
}


@dataclass(frozen=True)
class AISettings:
    """Everything a provider needs to make one call."""

    provider: str = "offline"
    model: str = "gpt-4o-mini"
    base_url: str = "https://api.openai.com/v1"
    api_key: str | None = None
    api_version: str | None = None  # set for Azure OpenAI's deployment URLs (sent as ?api-version=)
    timeout: float = 30.0
    temperature: float | None = 0.3
    max_tokens: int | None = 600
    max_retries: int = 3
    retry_max_wait: float = 20.0  # a Retry-After longer than this is left to the job's own retry
    json_mode: bool = True  # ask for response_format json_object (dropped automatically if the server refuses it)
    history_messages: int = 20
    knowledge_budget: int = 12000  # characters of FAQs, policies, passages and listings per prompt (retrieval)

    def __repr__(self) -> str:  # never the key
        return (
            f"AISettings(provider={self.provider!r}, model={self.model!r}, base_url={self.base_url!r}, "
            f"api_key={'***' if self.api_key else None})"
        )


def _float(value: Any, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AIError(f"AI setting {name}={value!r} is not a number", permanent=True) from None


def resolve_settings(config: Mapping[str, Any], agent_settings: Mapping[str, Any] | None = None) -> AISettings:
    """The settings for one agent: app config first, then the agent's overrides (provider, model, temperature,
    max_tokens). An unknown provider name raises AIError(permanent=True) so the admin sees why nothing answers."""
    settings = AISettings(
        provider=str(config.get("AI_PROVIDER") or "offline"),
        model=str(config.get("AI_MODEL") or AISettings.model),
        base_url=str(config.get("AI_BASE_URL") or AISettings.base_url).rstrip("/"),
        api_key=config.get("AI_API_KEY") or None,
        api_version=config.get("AI_API_VERSION") or None,
        timeout=float(config.get("AI_TIMEOUT") or AISettings.timeout),
        temperature=_float(config.get("AI_TEMPERATURE", AISettings.temperature), "AI_TEMPERATURE"),
        max_tokens=int(config["AI_MAX_TOKENS"]) if config.get("AI_MAX_TOKENS") else AISettings.max_tokens,
        max_retries=int(config.get("AI_MAX_RETRIES", AISettings.max_retries)),
        retry_max_wait=float(config.get("AI_RETRY_MAX_WAIT", AISettings.retry_max_wait)),
        json_mode=bool(config.get("AI_JSON_MODE", True)),
        history_messages=int(config.get("AI_HISTORY_MESSAGES", AISettings.history_messages)),
        knowledge_budget=int(config.get("AI_KNOWLEDGE_BUDGET") or AISettings.knowledge_budget),
    )
    overrides = {k: v for k, v in (agent_settings or {}).items() if k in AGENT_OVERRIDABLE and v not in (None, "")}
    if "temperature" in overrides:
        overrides["temperature"] = _float(overrides["temperature"], "temperature")
    if "max_tokens" in overrides:
        overrides["max_tokens"] = int(_float(overrides["max_tokens"], "max_tokens") or 0) or None
    if overrides:
        settings = replace(settings, **overrides)
    name = PROVIDER_ALIASES.get(str(settings.provider).strip().lower())
    if name is None:
        raise AIError(
            f"Unknown AI provider {settings.provider!r}; expected one of {', '.join(sorted(PROVIDER_ALIASES))}",
            permanent=True,
        )
    return replace(settings, provider=name)
