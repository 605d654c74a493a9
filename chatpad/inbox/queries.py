"""The inbox list: filters that combine, search, and keyset pagination, always inside one organization.

Pages are read newest first along (last_message_at, id), so page N costs what page 1 costs: the cursor is the last
row's pair and the next page starts strictly below it. Each filter has an index that begins (organization_id,
<filter column>, last_message_at, id) (chatpad/models/inbox.py), so a filtered first page is a short backwards
index read, not a sort. Search matches customer names, addresses and phone numbers (trigram indexes) and message
text (full-text index) on PostgreSQL, and falls back to LIKE on SQLite.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import and_, func, literal_column, or_, select, tuple_
from sqlalchemy.orm import contains_eager, joinedload

from chatpad.extensions import db
from chatpad.models import (
    CHANNELS,
    CONVERSATION_STATUSES,
    Contact,
    Conversation,
    Location,
    Message,
    SocialAccount,
)

PAGE_SIZE = 50
# "General": accounts (and so conversations) that belong to no location.
NO_LOCATION = "general"
STATUS_LABELS = {"open": "Open", "waiting": "Waiting on a human", "resolved": "Resolved"}
MAX_SEARCH_TERMS = 8


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox shows. Every field is optional and they combine (AND). Round-trips through the URL."""

    channel: str | None = None
    location: str | None = None  # a location id, or NO_LOCATION
    account: uuid.UUID | None = None
    status: str | None = None
    mine: bool = False
    q: str = ""
    invalid: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> InboxFilters:
        """Filters from query-string arguments. Values that cannot be valid are dropped and named in .invalid, so a
        shared link to a since-deleted location still opens (unfiltered on that field) and says so."""
        invalid: list[str] = []
        channel = (args.get("channel") or "").strip().lower() or None
        if channel and channel not in CHANNELS:
            invalid.append("channel")
            channel = None
        status = (args.get("status") or "").strip().lower() or None
        if status and status not in CONVERSATION_STATUSES:
            invalid.append("status")
            status = None
        location = (args.get("location") or "").strip() or None
        if location and location != NO_LOCATION:
            parsed = _uuid(location)
            if parsed is None:
                invalid.append("location")
            location = str(parsed) if parsed else None
        account = None
        if args.get("account"):
            account = _uuid(args["account"])
            if account is None:
                invalid.append("account")
        mine = (args.get("mine") or "").lower() in {"1", "true", "on", "yes"}
        q = " ".join((args.get("q") or "").split())[:200]
        return cls(channel, location, account, status, mine, q, tuple(invalid))

    def to_args(self) -> dict[str, str]:
        """The query-string arguments that reproduce these filters (empty ones left out)."""
        args = {
            "channel": self.channel or "",
            "location": self.location or "",
            "account": str(self.account) if self.account else "",
            "status": self.status or "",
            "mine": "1" if self.mine else "",
            "q": self.q,
        }
        return {k: v for k, v in args.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.to_args())

    def without(self, name: str) -> InboxFilters:
        return replace(self, **{name: False if name == "mine" else ("" if name == "q" else None)})


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


# --- keyset cursor ---


def encode_cursor(conversation: Conversation) -> str:
    """An opaque, URL-safe position just after this conversation in newest-first order."""
    raw = f"{conversation.last_message_at.astimezone(UTC).isoformat()}|{conversation.id.hex}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (last_message_at, id) a cursor points after; None for a missing or malformed cursor (the first page)."""
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            return None
        return when.astimezone(UTC), uuid.UUID(hex=ident)
    except (ValueError, UnicodeDecodeError):
        return None


# --- search ---


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def tsquery_text(q: str) -> str | None:
    """A safe to_tsquery() string: every word of q as a prefix ("pool hou" finds "pool house"), all required.
    Only \\w characters reach the query, so user input can never be tsquery syntax."""
    words = re.findall(r"\w+", q.lower())[:MAX_SEARCH_TERMS]
    return " & ".join(f"{w}:*" for w in words) or None


def search_clause(org_id: int, q: str):
    """Conversations whose customer (name, email, phone), subject or any message text matches q."""
    pattern = _like_pattern(q)
    # A contact merged into another (chatpad.contacts) still finds the person it now belongs to.
    contact_ids = select(func.coalesce(Contact.merged_into_id, Contact.id)).where(
        Contact.organization_id == org_id,
        or_(
            Contact.name.ilike(pattern, escape="\\"),
            Contact.email.ilike(pattern, escape="\\"),
            Contact.phone.ilike(pattern, escape="\\"),
        ),
    )
    clauses = [Conversation.contact_id.in_(contact_ids), Conversation.subject.ilike(pattern, escape="\\")]
    if db.engine.dialect.name == "postgresql":
        query = tsquery_text(q)
        if query:
            # Must match the index expression in the migration exactly, regconfig literal included.
            simple = literal_column("'simple'::regconfig")
            matched = func.to_tsvector(simple, Message.content).op("@@")(func.to_tsquery(simple, query))
            clauses.append(
                Conversation.id.in_(select(Message.conversation_id).where(matched, Message.deleted_at.is_(None)))
            )
    else:
        clauses.append(
            Conversation.id.in_(
                select(Message.conversation_id).where(
                    Message.content.ilike(pattern, escape="\\"), Message.deleted_at.is_(None)
                )
            )
        )
    return or_(*clauses)


# --- the page ---


@dataclass
class InboxPage:
    conversations: list[Conversation]
    next_cursor: str | None
    is_first: bool


def filter_clauses(org_id: int, filters: InboxFilters, user_id: int | None) -> list:
    """The WHERE clauses for these filters, tenancy first."""
    clauses = [Conversation.organization_id == org_id]
    if filters.channel:
        clauses.append(Conversation.channel == filters.channel)
    if filters.location == NO_LOCATION:
        clauses.append(Conversation.location_id.is_(None))
    elif filters.location:
        clauses.append(Conversation.location_id == uuid.UUID(filters.location))
    if filters.account:
        clauses.append(Conversation.social_account_id == filters.account)
    if filters.status:
        clauses.append(Conversation.status == filters.status)
    if filters.mine:
        clauses.append(Conversation.assigned_user_id == user_id)
    if filters.q:
        clauses.append(search_clause(org_id, filters.q))
    return clauses


def inbox_page(
    org_id: int,
    filters: InboxFilters,
    *,
    user_id: int | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> InboxPage:
    """One page of the organization's conversations, newest first, after `cursor` (None: the first page)."""
    position = decode_cursor(cursor)
    clauses = filter_clauses(org_id, filters, user_id)
    if position:
        clauses.append(tuple_(Conversation.last_message_at, Conversation.id) < tuple_(*position))
    stmt = (
        select(Conversation)
        .join(Conversation.contact)
        .options(
            contains_eager(Conversation.contact),
            joinedload(Conversation.social_account),
            joinedload(Conversation.location),
        )
        .where(and_(*clauses))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(limit + 1)
    )
    rows = list(db.session.scalars(stmt).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return InboxPage(rows, encode_cursor(rows[-1]) if more and rows else None, position is None)


def waiting_count(org_id: int) -> int:
    """How many conversations wait on a human (an index-only count)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.organization_id == org_id, Conversation.status == "waiting")
    )


@dataclass
class FilterChoices:
    locations: list[Location]
    accounts: list[SocialAccount]
    channels: list[str]


def filter_choices(org_id: int) -> FilterChoices:
    """The organization's locations, accounts and channels in use, for the filter dropdowns."""
    locations = db.session.scalars(select(Location).where(Location.tenant_clause(org_id)).order_by(Location.name)).all()
    accounts = db.session.scalars(
        select(SocialAccount)
        .where(SocialAccount.tenant_clause(org_id))
        .order_by(SocialAccount.channel, SocialAccount.account_name)
    ).all()
    used = {a.channel for a in accounts}
    channels = [c for c in CHANNELS if c in used] or list(CHANNELS)
    return FilterChoices(list(locations), list(accounts), channels)
