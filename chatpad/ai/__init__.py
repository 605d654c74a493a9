"""The AI: compose_reply(conversation) reads the context, asks the agent's provider, shapes the answer.

Providers (chatpad/ai/providers.py): "offline" answers from the location's knowledge with no network; "openai" is any
OpenAI-compatible Chat Completions endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp). docs/ai.md has the
details and the configuration.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime

from flask import current_app
from sqlalchemy import update

from chatpad.extensions import db
from chatpad.messages import Button, OutboundReply, QuickReply
from chatpad.models import Agent, Conversation, Message

from .booking_flow import attach as attach_booking
from .context import QUICK_REPLY_MAX, QUICK_REPLY_TITLE_MAX, ReplyContext, build_context
from .errors import AIError
from .language import HANDOFF_TEXTS, language_name
from .providers import ProviderReply, get_provider
from .settings import AISettings, resolve_settings

log = logging.getLogger("chatpad.ai")

HANDOFF_FALLBACK_TEXT = "I'll get a team member to help with that — they'll reply right here shortly."


def settings_for(conversation: Conversation) -> AISettings:
    """The provider settings of the conversation's agent (app config plus the agent's overrides)."""
    agent = db.session.get(Agent, conversation.agent_id)
    return resolve_settings(current_app.config, agent.ai_settings if agent else None)


def compose_reply(conversation: Conversation, *, now: datetime | None = None) -> OutboundReply:
    """The AI's reply to the conversation's latest customer message(s).

    Reads the context through db.session (scoped to the conversation's organization), then calls the provider
    without touching the database. Returns text, quick replies and buttons when it offers choices, and
    handoff=True when a person should take over (the reason is in extra["handoff_reason"]). Raises AIError when
    the provider fails after its own retries.

    Before the (possibly slow) model call it ends the session's transaction when the session has nothing pending
    (no new, dirty or deleted objects), so a worker thread does not hold a pooled database connection, idle in
    transaction, while the model thinks: loaded objects stay attached and reload on next use. Row locks taken
    earlier in that transaction end with it; a caller that needs them held must not call this inside it.
    """
    settings = settings_for(conversation)
    context = build_context(
        conversation, now=now, history_limit=settings.history_messages, knowledge_budget=settings.knowledge_budget
    )
    attach_booking(conversation, context, settings.provider)
    _store_language(context)
    session = db.session()  # the scoped session's Session
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
    return generate_reply(context, settings)


def _store_language(context: ReplyContext) -> None:
    """Write the detected language on the customer's messages being answered (shown in the inbox). A plain UPDATE,
    so no loaded object turns dirty and compose_reply can still end its read transaction before the model call."""
    ids = [m.id for m in context.pending if m.id is not None and m.direction == "inbound" and not m.language]
    if ids:
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(language=context.language))


def language_handoff(context: ReplyContext) -> ProviderReply:
    """A message in a language the location does not answer in: a person takes it, and the customer is told so in
    their own language where we have the words (else in the location's first language)."""
    text = HANDOFF_TEXTS.get(context.language) or HANDOFF_TEXTS.get(context.languages[0]) or HANDOFF_TEXTS["en"]
    allowed = ", ".join(language_name(code) for code in context.languages)
    return ProviderReply(
        text=text,
        handoff=True,
        handoff_reason=f"Wrote in {language_name(context.language)}; this location answers in {allowed}",
        trace={"intents": ["language_handoff"], "language": context.language},
    )


def generate_reply(context: ReplyContext, settings: AISettings) -> OutboundReply:
    """Run the provider on an already-built context (no database) and shape its answer for the channel. A message
    in a language the location does not answer in is handed off politely without asking the provider."""
    provider = get_provider(settings.provider)
    started = time.monotonic()
    try:
        if not context.answers_in_language and context.question.strip():
            answer = language_handoff(context)
        else:
            answer = provider.generate(context, settings)
    except AIError as exc:
        exc.provider = exc.provider or settings.provider
        log.warning("ai provider %s failed for conversation %s: %s", settings.provider, context.conversation_id, exc)
        raise
    except Exception as exc:  # a bug in a provider must not lose the message: the job retries, then hands off
        log.exception("ai provider %s crashed for conversation %s", settings.provider, context.conversation_id)
        raise AIError(f"{settings.provider} provider error: {type(exc).__name__}", provider=settings.provider) from exc
    if context.retrieval is not None:
        answer.trace.setdefault("retrieval", context.retrieval.trace())
    reply = shape_reply(answer, context)
    reply.extra.update(
        provider=settings.provider,
        model=settings.model if settings.provider != "offline" else None,
        seconds=round(time.monotonic() - started, 3),
        language=context.language if context.answers_in_language else context.languages[0],
    )
    log.info(
        "ai reply for conversation %s on %s: provider=%s handoff=%s",
        context.conversation_id,
        context.channel.key,
        settings.provider,
        reply.handoff,
    )
    return reply


def greeting_quick_replies() -> list[str]:
    """What a location's greeting offers to tap (a web widget's first open shows them under its greeting)."""
    from .offline import GREETING_SUGGESTIONS

    return list(GREETING_SUGGESTIONS)


def quick_reply_title(title: str) -> str:
    """Fit a suggestion into Meta's 20-character quick-reply title, cutting at a word boundary."""
    title = " ".join(str(title).split())
    if len(title) <= QUICK_REPLY_TITLE_MAX:
        return title
    cut = title[: QUICK_REPLY_TITLE_MAX + 1].rsplit(" ", 1)[0]
    return cut if 0 < len(cut) <= QUICK_REPLY_TITLE_MAX else title[:QUICK_REPLY_TITLE_MAX]


def _payload(title: str) -> str:
    return "QR_" + (re.sub(r"[^A-Z0-9]+", "_", title.upper()).strip("_") or "OPTION")


def shape_reply(answer: ProviderReply, context: ReplyContext) -> OutboundReply:
    """A provider's answer as the channel layer's OutboundReply, within what the channel can show."""
    text = (answer.text or "").strip()
    if not text:
        if not answer.handoff:
            raise AIError("the AI returned an empty reply", provider=None)
        text = HANDOFF_FALLBACK_TEXT
    channel = context.channel
    quick: list[QuickReply] = []
    if channel.quick_replies and not answer.handoff:
        seen: set[str] = set()
        for raw in answer.quick_replies:
            title = quick_reply_title(raw)
            if title and title.lower() not in seen:
                seen.add(title.lower())
                quick.append(QuickReply(title=title, payload=_payload(title)))
            if len(quick) >= QUICK_REPLY_MAX:
                break
    buttons: list[Button] = []
    if channel.buttons:
        buttons = [b for b in answer.buttons if b.payload][:3]  # a button template holds 1–3 buttons
    extra: dict = {"trace": answer.trace}
    if answer.handoff_reason:
        extra["handoff_reason"] = answer.handoff_reason
    if answer.handoff_topic:
        extra["handoff_topic"] = answer.handoff_topic
    return OutboundReply(
        text=text, sender_type="ai", quick_replies=quick, buttons=buttons, handoff=answer.handoff, extra=extra
    )


__all__ = [
    "AIError",
    "AISettings",
    "ProviderReply",
    "ReplyContext",
    "build_context",
    "compose_reply",
    "generate_reply",
    "greeting_quick_replies",
    "resolve_settings",
    "settings_for",
    "shape_reply",
]
