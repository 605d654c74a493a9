"""The reply box outside WhatsApp's 24-hour window: only "send a template". A person picks one of the number's
WhatsApp Business Account's APPROVED templates (synced into message_templates), fills its variables beside its
body, and it goes out as type=template (chatpad.channels.whatsapp.templates). docs/channels/whatsapp.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from chatpad.channels.whatsapp import templates as wa_templates
from chatpad.extensions import db
from chatpad.models import Conversation, MessageTemplate


class TemplateFormError(ValueError):
    """What is wrong with the picked template or its values, in the words the reply box shows."""


@dataclass
class TemplateChoice:
    """One template as the reply box offers it."""

    id: int
    name: str
    language: str
    category: str | None
    body: str
    variables: list[dict[str, Any]]
    unsupported: str | None
    footer: str = ""
    header: str = ""
    buttons: list[str] = field(default_factory=list)


def _waba(conversation: Conversation) -> str | None:
    account = conversation.social_account
    return str((account.meta or {}).get("waba_id") or "") or None if account is not None else None


def template_choices(conversation: Conversation) -> list[TemplateChoice]:
    """The APPROVED templates of the conversation's WhatsApp number's WABA, in this organization, by name."""
    waba_id = _waba(conversation)
    if conversation.channel != "whatsapp" or not waba_id:
        return []
    rows = db.session.scalars(
        select(MessageTemplate)
        .where(
            MessageTemplate.organization_id == conversation.organization_id,
            MessageTemplate.channel == "whatsapp",
            MessageTemplate.platform_account_id == waba_id,
            MessageTemplate.status == "APPROVED",
        )
        .order_by(MessageTemplate.name, MessageTemplate.language)
    )
    return [_choice(t) for t in rows]


def _choice(t: MessageTemplate) -> TemplateChoice:
    components = t.components or []
    buttons = (wa_templates.component(components, "BUTTONS") or {}).get("buttons") or []
    return TemplateChoice(
        id=t.id,
        name=t.name,
        language=t.language,
        category=t.category,
        body=wa_templates.body_text(components),
        variables=wa_templates.variables(components),
        unsupported=wa_templates.unsupported(components),
        header=str((wa_templates.component(components, "HEADER") or {}).get("text") or ""),
        footer=str((wa_templates.component(components, "FOOTER") or {}).get("text") or ""),
        buttons=[str(b.get("text") or "") for b in buttons if isinstance(b, dict)],
    )


def read_template_form(conversation: Conversation, form: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """(what the customer will read, the send's "template" object) from the posted template_id and var-N fields;
    TemplateFormError when the template is not one this number may send or a value is missing or malformed."""
    try:
        template_id = int(form.get("template_id") or "")
    except ValueError:
        raise TemplateFormError("Pick a template to send.") from None
    waba_id = _waba(conversation)
    template = db.session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.id == template_id,
            MessageTemplate.organization_id == conversation.organization_id,
            MessageTemplate.channel == "whatsapp",
            MessageTemplate.platform_account_id == (waba_id or ""),
        )
    )
    if template is None:
        raise TemplateFormError("That template is not one of this WhatsApp number's templates.")
    if template.status != "APPROVED":
        raise TemplateFormError(f"The template {template.name} is {template.status.lower()} on WhatsApp, not approved.")
    components = template.components or []
    why = wa_templates.unsupported(components)
    if why:
        raise TemplateFormError(f"The template {template.name} cannot be sent from ChatPad: {why}.")
    values = []
    for variable in wa_templates.variables(components):
        slot = f"{{{{{variable['index']}}}}}"
        value = str(form.get(f"var-{variable['index']}") or "").strip()
        if not value:
            raise TemplateFormError(f"Fill in {slot} of {template.name}.")
        if any(ch in value for ch in "\n\r\t") or "    " in value:
            raise TemplateFormError(
                f"{slot} cannot hold line breaks, tabs or more than three spaces in a row "
                "(WhatsApp refuses them in a template's variables)."
            )
        if len(value) > wa_templates.MAX_PARAMETER:
            raise TemplateFormError(
                f"{{{{{variable['index']}}}}} is longer than {wa_templates.MAX_PARAMETER} characters."
            )
        values.append(value)
    return wa_templates.render(components, values), wa_templates.send_block(template.name, template.language, values)
