"""The provider interface and the registry of providers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from typing import ClassVar

from chatpad.messages import Button

from .context import ReplyContext
from .errors import AIError
from .settings import AISettings


@dataclass
class ProviderReply:
    """What a provider answers, before compose_reply shapes it for the channel."""

    text: str
    quick_replies: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    handoff: bool = False
    handoff_reason: str | None = None
    handoff_topic: str | None = None  # the handoff topic (Agent/Location.handoff_topics) that caused the handoff
    # Why this answer: matched intents and knowledge ids (offline), model and token usage (LLM). Stored on the message.
    trace: dict = field(default_factory=dict)


class Provider(ABC):
    """Something that turns a ReplyContext into a reply. Must not touch the database: it runs in worker threads,
    possibly for seconds, after the context was read."""

    name: ClassVar[str]

    @abstractmethod
    def generate(self, context: ReplyContext, settings: AISettings) -> ProviderReply:
        """Answer the customer's latest message(s). Raise AIError when no answer can be produced."""


# name -> "module:Class"
PROVIDERS: dict[str, str] = {
    "offline": "chatpad.ai.offline:OfflineProvider",
    "openai": "chatpad.ai.openai_compat:OpenAICompatibleProvider",
}


@cache
def get_provider(name: str) -> Provider:
    """The provider instance for a (resolved) provider name; providers are stateless and shared by threads."""
    try:
        target = PROVIDERS[name]
    except KeyError:
        raise AIError(f"Unknown AI provider {name!r}", permanent=True) from None
    module_name, _, class_name = target.partition(":")
    return getattr(import_module(module_name), class_name)()
