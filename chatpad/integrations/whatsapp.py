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
from chatpad.models import Agent, Location, MessageTemplate, SocialAccount, utcnow

from .connect import HELD_ELSEWHERE, HELD_ELSEWHERE_TODO, Outcome, store_account

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


# --- Connect WhatsApp: Embedded Signup -------------------------------------------------------------------------


@dataclass
class NumberCheck:
    """The checks of one number before it is called connected."""

    ok: bool
    what: str | None = None
    todo: str | None = None


def signup_numbers(bearer: str) -> tuple[list[str], list[dict]]:
    """After Embedded Signup: the WhatsApp Business Accounts the business token reaches (debug_token's
    granular_scopes, the "shared WABA id from the access token" way) and every phone number of each, as candidates
    {"id" (phone number id), "waba_id", "display", "name", "quality"}. meta.ConnectError / SendError on failure."""
    from . import meta

    info = meta.debug_token(bearer)
    if not info.is_valid:
        raise meta.ConnectError(
            f"Facebook says the WhatsApp login is not valid: {info.error_message or 'no reason given'}.",
            "Nothing was connected. Press Connect WhatsApp again.",
        )
    missing = [s for s in meta.WHATSAPP_SCOPES if s not in info.scopes]
    if missing:
        raise meta.ConnectError(
            "Some permissions ChatPad needs were switched off in Facebook's dialog, so nothing was connected: "
            + ", ".join(f"{s} ({meta.SCOPE_REASONS.get(s, '')})" for s in missing)
            + ".",
            "Press Connect WhatsApp again and keep them on.",
        )
    wabas = info.targets.get("whatsapp_business_management") or []
    candidates = []
    for waba_id in wabas:
        for n in client.phone_numbers(waba_id, bearer):
            candidates.append(
                {
                    "id": str(n.get("id")),
                    "waba_id": waba_id,
                    "display": str(n.get("display_phone_number") or n.get("id")),
                    "name": str(n.get("verified_name") or n.get("display_phone_number") or n.get("id")),
                    "quality": n.get("quality_rating"),
                }
            )
    return wabas, candidates


def check_number(waba_id: str, number_id: str, bearer: str) -> NumberCheck:
    """Test before "Connected": the app is subscribed to the WABA (its webhooks reach ChatPad) and the number is on
    the Cloud API and reachable with this token."""
    from chatpad.channels.errors import SendError

    try:
        if not client.app_subscribed(waba_id, bearer):
            return NumberCheck(
                False,
                "WhatsApp does not list ChatPad among the WhatsApp Business Account's subscribed apps, so its "
                "messages would not reach ChatPad.",
                "Try again; if it persists, check the app's webhooks in Meta's App Dashboard.",
            )
        number = client.phone_number(number_id, bearer)
    except SendError as exc:
        return NumberCheck(False, f"WhatsApp refused the check: {exc}", "Try again in a minute.")
    if str(number.get("platform_type") or "CLOUD_API") != "CLOUD_API":
        return NumberCheck(
            False,
            f"The number is on {number.get('platform_type')}, not on WhatsApp's Cloud API.",
            "Migrate it to the Cloud API in WhatsApp Manager, then try again.",
        )
    status = str(number.get("status") or "CONNECTED").upper()
    if status not in ("CONNECTED", "FLAGGED"):
        return NumberCheck(
            False,
            f"WhatsApp shows the number as {status.lower()}, so it cannot send or receive yet.",
            "Finish its registration in WhatsApp Manager, then try again.",
        )
    return NumberCheck(True)


def connect_numbers(
    *,
    org_id: int,
    agent: Agent,
    user_id: int | None,
    bearer: str,
    selections: list[tuple[dict, Location | None]],
    ip: str | None = None,
) -> list[Outcome]:
    """Subscribe the app to each chosen number's WABA (POST /{waba-id}/subscribed_apps), check each number
    (check_number), and store only those that pass, as connected; then sync each WABA's templates. One Outcome per
    selection, in order; one number's failure never undoes another's."""
    from chatpad.channels.errors import SendError

    from .connect import holders

    if agent.organization_id != org_id:
        raise PermissionError("agent of another organization")
    held = holders(org_id, agent.id, CHANNEL, [c["id"] for c, _ in selections])
    subscribed: dict[str, str | None] = {}
    outcomes: list[Outcome] = []
    for candidate, location in selections:
        name = f"{candidate['name']} ({candidate['display']})"
        holder = held[candidate["id"]]
        if holder.kind == "other_org":
            outcomes.append(
                Outcome(candidate["id"], name, "refused", HELD_ELSEWHERE.format(what="number"), HELD_ELSEWHERE_TODO)
            )
            continue
        if holder.kind == "other_agent" and holder.account.status != "disconnected":
            outcomes.append(
                Outcome(
                    candidate["id"],
                    name,
                    "refused",
                    f"This number is already connected to your agent {holder.account.agent.name}.",
                    "Disconnect it there first if it should answer for this agent instead.",
                )
            )
            continue
        waba_id = candidate["waba_id"]
        if waba_id not in subscribed:
            try:
                client.subscribe_app(waba_id, bearer)
                subscribed[waba_id] = None
            except SendError as exc:
                subscribed[waba_id] = f"WhatsApp refused to subscribe ChatPad to the WhatsApp Business Account: {exc}"
        if subscribed[waba_id]:
            outcomes.append(Outcome(candidate["id"], name, "failed", subscribed[waba_id], "Try again in a minute."))
            continue
        check = check_number(waba_id, candidate["id"], bearer)
        if not check.ok:
            outcomes.append(Outcome(candidate["id"], name, "failed", check.what, check.todo))
            continue
        outcomes.append(_store(candidate, location, agent, holder, bearer, user_id, org_id, ip, name))
    for waba_id in [w for w, error in subscribed.items() if error is None]:
        try:
            sync_templates(org_id, waba_id, bearer)
        except SendError as exc:  # the numbers are connected all the same; the button retries
            log.warning("templates of WABA %s not synced on connect: %s", waba_id, exc)
    return outcomes


def _store(candidate, location, agent, holder, bearer, user_id, org_id, ip, name) -> Outcome:
    now = utcnow().isoformat()
    info = {
        "waba_id": candidate["waba_id"],
        "display_phone_number": candidate["display"],
        "verified_name": candidate["name"],
        "quality_rating": candidate.get("quality"),
        "connected_at": now,
        "connected_by": user_id,
        "tested_at": now,
        "login": "embedded_signup",
    }
    # A business integration system user token does not expire.
    return store_account(
        CHANNEL,
        candidate["id"],
        holder,
        agent,
        location,
        label=name,
        account_name=candidate["name"],
        access_token=bearer,
        info=info,
        audit_detail={"waba_id": candidate["waba_id"]},
        user_id=user_id,
        org_id=org_id,
        ip=ip,
        what="number",
        failed=("ChatPad could not save the number (database error).", "Try again."),
    )
