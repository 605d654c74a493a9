"""What connecting, reconnecting and disconnecting do to ChatPad's records.

The transaction, per account (docs/connecting.md): check who holds it → subscribe the app to its webhooks → only then
store it, encrypted, as "connected", with the audit entry, in one commit. A subscription that fails stores nothing,
so no row is ever green without webhooks behind it. If the commit fails after a successful subscription, the
subscription is undone unless another account still needs it. Each account is its own transaction: one Page's
failure never rolls back the 24 that worked, and the admin sees exactly which failed and why.

Every function here takes the organization explicitly and checks it: a Page another organization holds is refused
with a message that names nobody.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Agent, Location, Notification, SocialAccount, utcnow

from . import meta
from .meta import ConnectError

log = logging.getLogger("chatpad.integrations")

HELD_ELSEWHERE = (
    "This {what} is already connected to another ChatPad organization, and an account can belong to one "
    "organization at a time."
)
HELD_ELSEWHERE_TODO = "Ask whoever connected it there to disconnect it first, or contact ChatPad support."
LABELS = {
    "facebook": "Page",
    "instagram": "Instagram account",
    "email": "inbox",
    "widget": "site",
    "sms": "number",
    "whatsapp": "WhatsApp number",
}


@dataclass
class Outcome:
    """What happened to one account the admin asked to connect."""

    candidate_id: str
    name: str
    status: str  # connected | reconnected | refused | failed
    what: str | None = None
    todo: str | None = None
    account_id: str | None = None
    resumed: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("connected", "reconnected")


@dataclass
class Holder:
    """Who holds an account already: nobody, this agent, another agent of the organization, another organization."""

    kind: str  # none | this_agent | other_agent | other_org
    account: SocialAccount | None = None

    @property
    def label(self) -> str | None:
        if self.kind == "other_org":
            return "Connected to another ChatPad organization"
        if self.kind == "other_agent" and self.account is not None:
            return f"Connected to your agent {self.account.agent.name}"
        if self.kind == "this_agent" and self.account is not None:
            return {
                "connected": "Already connected",
                "needs_reauth": "Needs reconnection: selecting it reconnects it",
                "error": "Has an error: selecting it reconnects it",
                "disconnected": "Disconnected: selecting it connects it again",
            }.get(self.account.status, "Already connected")
        return None

    @property
    def selectable(self) -> bool:
        """Whether the selection screen offers it: new, or this agent's own account that needs a new token."""
        if self.kind == "none":
            return True
        if self.kind == "this_agent" and self.account is not None:
            return self.account.status != "connected" or not self.account.is_active
        if self.kind == "other_agent" and self.account is not None:
            return self.account.status == "disconnected"
        return False


def holders(org_id: int, agent_id, channel: str, platform_ids: list[str]) -> dict[str, Holder]:
    """For each platform id, who holds it (one query; unscoped on purpose, to refuse other organizations' accounts)."""
    result = {pid: Holder("none") for pid in platform_ids}
    if not platform_ids:
        return result
    rows = db.session.scalars(
        select(SocialAccount).where(SocialAccount.channel == channel, SocialAccount.account_id.in_(platform_ids))
    )
    for account in rows:
        if account.organization_id != org_id:
            result[account.account_id] = Holder("other_org")  # never expose the other organization's row
        elif str(account.agent_id) == str(agent_id):
            result[account.account_id] = Holder("this_agent", account)
        else:
            result[account.account_id] = Holder("other_agent", account)
    return result


def agent_locations(agent: Agent) -> list[Location]:
    return list(db.session.scalars(select(Location).where(Location.agent_id == agent.id).order_by(Location.name)))


def resolve_location(agent: Agent, location_id: str | None) -> Location | None:
    """The agent's location with this id; None for General. A location of any other agent is refused."""
    if not location_id:
        return None
    try:
        key = uuid.UUID(str(location_id))
    except ValueError:
        raise ValueError("Unknown location.") from None
    location = db.session.scalar(select(Location).where(Location.id == key, Location.agent_id == agent.id))
    if location is None:
        raise ValueError("Unknown location.")
    return location


def _page_fields_for_instagram(page_id: str) -> tuple[str, ...]:
    """Fields to subscribe a Page with for its Instagram account: Messenger's when the Page is served on Messenger
    (by anyone: the subscription is the app's, shared), else the one field Instagram needs."""
    served = db.session.scalar(
        select(SocialAccount.id).where(
            SocialAccount.channel == "facebook",
            SocialAccount.account_id == page_id,
            SocialAccount.is_active.is_(True),
            SocialAccount.status != "disconnected",
        )
    )
    return meta.MESSENGER_FIELDS if served else meta.INSTAGRAM_PAGE_FIELDS


def _subscription_needed_by_others(page_id: str, except_account_id=None) -> bool:
    """Whether another live account (the Page on Messenger, or an Instagram account linked to it) still uses the
    Page's webhook subscription."""
    query = select(SocialAccount).where(
        SocialAccount.channel.in_(("facebook", "instagram")),
        SocialAccount.is_active.is_(True),
        SocialAccount.status != "disconnected",
    )
    if except_account_id is not None:
        query = query.where(SocialAccount.id != except_account_id)
    for account in db.session.scalars(query):
        if account.channel == "facebook" and account.account_id == page_id:
            return True
        if account.channel == "instagram" and (account.meta or {}).get("page_id") == page_id:
            return True
    return False


def _resolve_reauth_notices(account: SocialAccount) -> None:
    db.session.execute(
        update(Notification)
        .where(
            Notification.social_account_id == account.id,
            Notification.kind == "account_needs_reauth",
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )


def connect_meta(
    *,
    kind: str,
    org_id: int,
    agent: Agent,
    user_id: int | None,
    selections: list[tuple[dict[str, Any], str | None]],
    platform_user: dict[str, Any] | None = None,
    granted_scopes: list[str] | None = None,
    ip: str | None = None,
) -> list[Outcome]:
    """Connect Facebook Pages (kind "facebook") or Page-linked Instagram accounts (kind "instagram").

    `selections` are (candidate, location id or None) where a candidate is what the flow read from /me/accounts:
    {"id", "name", "page_id", "page_name", "access_token", "category", "tasks", "username"}. Returns one Outcome per
    selection, in order.
    """
    if agent.organization_id != org_id:
        raise PermissionError("agent of another organization")
    channel = "facebook" if kind == "facebook" else "instagram"
    what = LABELS[channel]
    held = holders(org_id, agent.id, channel, [c["id"] for c, _ in selections])
    outcomes: dict[str, Outcome] = {}
    to_subscribe: list[tuple[str, str, tuple[str, ...], bool]] = []
    locations: dict[str, Location | None] = {}

    for candidate, location_id in selections:
        cid, name = candidate["id"], candidate["name"]
        holder = held[cid]
        if holder.kind == "other_org":
            outcomes[cid] = Outcome(cid, name, "refused", HELD_ELSEWHERE.format(what=what), HELD_ELSEWHERE_TODO)
            continue
        if holder.kind == "other_agent" and holder.account.status != "disconnected":
            outcomes[cid] = Outcome(
                cid,
                name,
                "refused",
                f"This {what} is already connected to your agent {holder.account.agent.name}.",
                "Disconnect it there first if it should answer for this agent instead.",
            )
            continue
        if not candidate.get("access_token"):
            outcomes[cid] = Outcome(
                cid,
                name,
                "failed",
                f"Facebook gave no access token for this {what}.",
                "Your role on the Page may not allow it: you need full control or the Messaging task.",
            )
            continue
        try:
            locations[cid] = resolve_location(agent, location_id)
        except ValueError:
            outcomes[cid] = Outcome(cid, name, "failed", "That location does not exist.", "Pick another location.")
            continue
        page_id = candidate.get("page_id") or cid
        if channel == "facebook":
            to_subscribe.append((page_id, candidate["access_token"], meta.MESSENGER_FIELDS, False))
        else:
            # Instagram rides on its Page's subscription: add what it needs, never take away what Messenger uses.
            to_subscribe.append((page_id, candidate["access_token"], _page_fields_for_instagram(page_id), True))

    # Subscribing first: only a subscribed account is stored (and shown green).
    errors = meta.subscribe_many(list({item[0]: item for item in to_subscribe}.values()))

    now = utcnow()
    for candidate, _location_id in selections:
        cid = candidate["id"]
        if cid in outcomes:
            continue
        page_id = candidate.get("page_id") or cid
        error = errors.get(page_id)
        if error is not None:
            outcomes[cid] = Outcome(cid, candidate["name"], "failed", error.what, error.todo)
            continue
        outcomes[cid] = _store(
            channel,
            candidate,
            page_id,
            agent,
            locations[cid],
            held[cid],
            user_id=user_id,
            org_id=org_id,
            now=now,
            platform_user=platform_user or {},
            granted_scopes=granted_scopes or [],
            ip=ip,
        )
    return [outcomes[c["id"]] for c, _ in selections]


def _store(
    channel: str,
    candidate: dict[str, Any],
    page_id: str,
    agent: Agent,
    location: Location | None,
    holder: Holder,
    *,
    user_id: int | None,
    org_id: int,
    now,
    platform_user: dict[str, Any],
    granted_scopes: list[str],
    ip: str | None,
) -> Outcome:
    cid, name = candidate["id"], candidate["name"]
    account_name = f"@{candidate['username']}" if channel == "instagram" and candidate.get("username") else name
    info = {
        "connected_at": now.isoformat(),
        "connected_by": user_id,
        "platform_user_id": platform_user.get("id"),
        "scopes": sorted(granted_scopes),
        "category": candidate.get("category"),
        "tasks": candidate.get("tasks") or [],
    }
    if channel == "instagram":
        info.update(page_id=page_id, page_name=candidate.get("page_name"), username=candidate.get("username"))

    def undo_subscription() -> None:
        if not _subscription_needed_by_others(page_id):
            try:
                meta.unsubscribe(page_id, candidate["access_token"])
            except ConnectError:
                log.warning("could not undo the subscription of page %s", page_id)

    # Page tokens read with a long-lived user token never expire.
    return store_account(
        channel,
        cid,
        holder,
        agent,
        location,
        label=name,
        account_name=account_name,
        access_token=candidate["access_token"],
        refresh_token=None,
        info=info,
        audit_detail={},
        user_id=user_id,
        org_id=org_id,
        ip=ip,
        what=LABELS[channel],
        failed=("ChatPad could not save the account (database error).", "Nothing was kept. Try again."),
        on_db_error=undo_subscription,
    )


_KEEP = object()


def store_account(
    channel: str,
    account_id: str,
    holder: Holder,
    agent: Agent,
    location: Location | None,
    *,
    label: str,
    account_name: str,
    access_token: str,
    refresh_token: Any = _KEEP,
    info: dict[str, Any],
    audit_detail: dict[str, Any],
    user_id: int | None,
    org_id: int,
    ip: str | None,
    what: str,
    failed: tuple[str, str],
    before_commit: Callable[[SocialAccount], None] | None = None,
    on_db_error: Callable[[], None] | None = None,
) -> Outcome:
    """Store a tested account as connected, for every channel's connect flow: created or taken over from the holder,
    its tokens and metadata set, audited as connect or reconnect, reauth notices resolved and held-back replies
    resumed. One who connected it first elsewhere (the unique key) is "refused"; a database error is "failed" with
    `failed` (what, todo) and `on_db_error` to undo what the platform was told."""
    account = holder.account if holder.kind in ("this_agent", "other_agent") else None
    was = account.status if account is not None else None
    try:
        if account is None:
            account = SocialAccount(channel=channel, account_id=account_id, agent_id=agent.id)
            db.session.add(account)
        account.agent_id = agent.id
        account.account_name = account_name
        account.location_id = location.id if location else None
        account.access_token = access_token
        if refresh_token is not _KEEP:
            account.refresh_token = refresh_token
        account.token_expires_at = None
        account.is_active = True
        account.status = "connected"
        account.last_error = None
        account.meta = {**(account.meta or {}), **info}
        db.session.flush()
        record_audit(
            f"account.{'reconnect' if was is not None else 'connect'}",
            organization_id=org_id,
            user_id=user_id,
            target=account,
            detail={
                "channel": channel,
                "account_id": account_id,
                "name": account_name,
                "location_id": str(location.id) if location else None,
                "previous_status": was,
                **audit_detail,
            },
            ip=ip,
        )
        if was is not None:
            _resolve_reauth_notices(account)
        if before_commit is not None:
            before_commit(account)
        db.session.commit()
    except IntegrityError:
        # Someone connected it between our check and our commit; theirs stays.
        db.session.rollback()
        return Outcome(account_id, label, "refused", HELD_ELSEWHERE.format(what=what), HELD_ELSEWHERE_TODO)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("storing %s account %s failed", channel, account_id)
        if on_db_error is not None:
            on_db_error()
        return Outcome(account_id, label, "failed", *failed)
    resumed = _resume(account) if was in ("needs_reauth", "error", "disconnected") else 0
    return Outcome(
        account_id,
        label,
        "reconnected" if was is not None else "connected",
        account_id=str(account.id),
        resumed=resumed,
    )


def _resume(account: SocialAccount) -> int:
    """Send what waited for this account (the pipeline's resume_account), never failing the connection over it."""
    from chatpad.pipeline import resume_account

    try:
        return resume_account(account)
    except Exception:  # Redis down: the sweeper re-queues pending messages later
        log.warning("could not queue the messages waiting for account %s", account.id, exc_info=True)
        return 0


def disconnect(
    account: SocialAccount, *, user_id: int | None, ip: str | None = None, warning: str | None = None
) -> str | None:
    """Unsubscribe (when nothing else needs the subscription), deactivate, drop the tokens, keep the history.

    Returns a warning for the admin when the platform could not be told (or the one a channel's own release gave);
    the account is disconnected regardless.
    """
    if account.channel in ("facebook", "instagram") and account.access_token:
        page_id = account.account_id if account.channel == "facebook" else (account.meta or {}).get("page_id")
        if page_id and not _subscription_needed_by_others(page_id, except_account_id=account.id):
            try:
                meta.unsubscribe(page_id, account.access_token)
            except ConnectError as exc:
                warning = (
                    f"ChatPad stopped using {account.account_name}, but Facebook could not be told ({exc.what}). "
                    "To remove ChatPad completely, open the Page's settings → Business integrations."
                )
    account.is_active = False
    account.status = "disconnected"
    account.last_error = None
    account.access_token = None
    account.refresh_token = None
    account.token_expires_at = None
    account.meta = {**(account.meta or {}), "disconnected_at": utcnow().isoformat(), "disconnected_by": user_id}
    _resolve_reauth_notices(account)
    record_audit(
        "account.disconnected",
        organization_id=account.organization_id,
        user_id=user_id,
        target=account,
        detail={"channel": account.channel, "account_id": account.account_id, "name": account.account_name},
        ip=ip,
    )
    db.session.commit()
    return warning


def set_active(account: SocialAccount, active: bool, *, user_id: int | None, ip: str | None = None) -> int:
    """Pause or resume an account (paused: its messages are ignored, nothing is sent). Returns messages resumed."""
    if account.status == "disconnected":
        raise ValueError("A disconnected account must be connected again first.")
    if account.is_active == active:
        return 0
    account.is_active = active
    record_audit(
        f"account.{'activate' if active else 'deactivate'}",
        organization_id=account.organization_id,
        user_id=user_id,
        target=account,
        detail={"channel": account.channel, "account_id": account.account_id},
        ip=ip,
    )
    db.session.commit()
    return _resume(account) if active and account.status == "connected" else 0


def set_location(account: SocialAccount, location: Location | None, *, user_id: int | None, ip: str | None = None):
    """Move an account to another location of its agent (or General)."""
    if location is not None and location.agent_id != account.agent_id:
        raise ValueError("That location belongs to another agent.")
    previous = account.location_id
    account.location_id = location.id if location else None
    record_audit(
        "account.location",
        organization_id=account.organization_id,
        user_id=user_id,
        target=account,
        detail={"from": str(previous) if previous else None, "to": str(location.id) if location else None},
        ip=ip,
    )
    db.session.commit()
