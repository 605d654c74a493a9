"""Connecting WhatsApp: the WhatsApp Business Account's message templates synced into message_templates (on
connect and from the Integrations tab's button), and the numbers of Embedded Signup.

Only APPROVED templates are offered in the reply box; the others are kept with their status so the admin sees why
one is missing. A template no longer listed by the WABA is deleted. docs/channels/whatsapp.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select

from chatpad.channels.whatsapp import client
from chatpad.extensions import db
from chatpad.models import MessageTemplate, SocialAccount, utcnow

log = logging.getLogger("chatpad.integrations.whatsapp")

CHANNEL = "whatsapp"


@dataclass
class TemplateSync:
    """What one sync found: every template of the WABA, and how many of them may be sent."""

    total: int
    approved: int
    removed: int


def sync_templates(org_id: int, waba_id: str, bearer: str, *, page_size: int = 100) -> TemplateSync:
    """Read every template of the WABA (GET /{waba-id}/message_templates, all pages) and store them for the
    organization: new ones added, changed ones (status, components) updated, vanished ones deleted. Commits.
    SendError (from the Graph client) when WhatsApp cannot be asked; nothing is changed then."""
    listed = client.list_templates(waba_id, bearer, page_size=page_size)
    now = utcnow()
    existing = {
        (t.name, t.language): t
        for t in db.session.scalars(
            select(MessageTemplate).where(
                MessageTemplate.organization_id == org_id,
                MessageTemplate.channel == CHANNEL,
                MessageTemplate.platform_account_id == waba_id,
            )
        )
    }
    seen = set()
    approved = 0
    for item in listed:
        name, language = str(item.get("name") or ""), str(item.get("language") or "")
        if not name or not language or (name, language) in seen:
            continue
        seen.add((name, language))
        row = existing.get((name, language))
        if row is None:
            row = MessageTemplate(
                organization_id=org_id, channel=CHANNEL, platform_account_id=waba_id, name=name, language=language
            )
            db.session.add(row)
        row.external_id = str(item.get("id") or "") or None
        row.category = str(item.get("category") or "") or None
        row.status = str(item.get("status") or "UNKNOWN").upper()
        row.components = [c for c in item.get("components") or [] if isinstance(c, dict)]
        row.synced_at = now
        approved += row.status == "APPROVED"
    gone = [t.id for key, t in existing.items() if key not in seen]
    if gone:
        db.session.execute(delete(MessageTemplate).where(MessageTemplate.id.in_(gone)))
    db.session.commit()
    log.info("synced %s WhatsApp templates of WABA %s (%s approved)", len(seen), waba_id, approved)
    return TemplateSync(total=len(seen), approved=approved, removed=len(gone))


def sync_account_templates(account: SocialAccount) -> TemplateSync:
    """sync_templates for the WABA a connected WhatsApp number belongs to, with its token."""
    waba_id = str((account.meta or {}).get("waba_id") or "")
    if not waba_id:
        raise ValueError(f"{account.account_name} has no WhatsApp Business Account id: connect it again")
    return sync_templates(account.organization_id, waba_id, client.token(account))


def approved_templates(account: SocialAccount) -> list[MessageTemplate]:
    """The templates a person may send from this number: its WABA's APPROVED ones, by name."""
    waba_id = str((account.meta or {}).get("waba_id") or "")
    if not waba_id:
        return []
    return list(
        db.session.scalars(
            select(MessageTemplate)
            .where(
                MessageTemplate.organization_id == account.organization_id,
                MessageTemplate.channel == CHANNEL,
                MessageTemplate.platform_account_id == waba_id,
                MessageTemplate.status == "APPROVED",
            )
            .order_by(MessageTemplate.name, MessageTemplate.language)
        )
    )


def template_summary(org_id: int) -> dict[str, dict]:
    """Per WABA id: {"approved", "total", "synced_at"} of the organization's stored templates (Integrations tab)."""
    rows = db.session.execute(
        select(MessageTemplate.platform_account_id, MessageTemplate.status, MessageTemplate.synced_at).where(
            MessageTemplate.organization_id == org_id, MessageTemplate.channel == CHANNEL
        )
    )
    summary: dict[str, dict] = {}
    for waba_id, status, synced_at in rows:
        item = summary.setdefault(waba_id, {"approved": 0, "total": 0, "synced_at": None})
        item["total"] += 1
        item["approved"] += status == "APPROVED"
        if synced_at is not None and (item["synced_at"] is None or synced_at > item["synced_at"]):
            item["synced_at"] = synced_at
    return summary
