"""The inbox list: filters that combine, search, and keyset pagination, always inside one Scope (an organization,
narrowed to the person's locations when they are limited to some).

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

from markupsafe import Markup, escape
from sqlalchemy import String, and_, any_, cast, func, literal_column, or_, select, true, tuple_
from sqlalchemy import false as sa_false
from sqlalchemy.orm import aliased

from chatpad.extensions import db
from chatpad.http import parse_uuid
from chatpad.models import (
    CHANNELS,
    CONVERSATION_STATUSES,
    Contact,
    Conversation,
    ConversationLabel,
    Location,
    Message,
    Scope,
    SocialAccount,
    User,
)
from chatpad.team import colleagues

PAGE_SIZE = 50
# "General": accounts (and so conversations) that belong to no location.
NO_LOCATION = "general"
STATUS_LABELS = {"open": "Open", "waiting": "Waiting on a human", "resolved": "Resolved"}
# The assignee filter's value for conversations assigned to nobody.
UNASSIGNED = "none"
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
    # Assigned to: a user id (as text), UNASSIGNED, or None for anyone. mine=1 is the same as the signed-in person.
    assignee: str | None = None
    label: str | None = None
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
        assignee = (args.get("assignee") or "").strip().lower() or None
        if assignee == "me":
            assignee, mine = None, True
        elif assignee and assignee != UNASSIGNED and not (assignee.isdigit() and len(assignee) < 12):
            invalid.append("assignee")
            assignee = None
        label = clean_label(args.get("label") or "") or None
        return cls(channel, location, account, status, mine, q, assignee, label, tuple(invalid))

    def to_args(self) -> dict[str, str]:
        """The query-string arguments that reproduce these filters (empty ones left out)."""
        args = {
            "channel": self.channel or "",
            "location": self.location or "",
            "account": str(self.account) if self.account else "",
            "status": self.status or "",
            "mine": "1" if self.mine else "",
            "assignee": self.assignee or "",
            "label": self.label or "",
            "q": self.q,
        }
        return {k: v for k, v in args.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.to_args())

    @property
    def assignee_value(self) -> str:
        """The assignee dropdown's value: "me", "none", a user id, or "" (anyone)."""
        return "me" if self.mine else (self.assignee or "")

    def without(self, name: str) -> InboxFilters:
        return replace(self, **{name: False if name == "mine" else ("" if name == "q" else None)})


MAX_LABEL = 40


def clean_label(text: str) -> str:
    """A label as stored: one line, spaces collapsed, lower case, at most MAX_LABEL characters ("" for none)."""
    return " ".join(str(text).split()).lower()[:MAX_LABEL]


def _uuid(value: str) -> uuid.UUID | None:
    return parse_uuid(value)


# --- keyset cursor ---


def encode_cursor(conversation) -> str:
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
    subject = Conversation.subject.ilike(pattern, escape="\\")
    if db.engine.dialect.name == "postgresql":
        # Every arm can use an index (ANY(ARRAY(subquery)) is computed once, then a btree lookup; the stored
        # per-conversation tsvector has GIN; the subject has trigrams), so PostgreSQL may either OR three bitmaps
        # (a rare word) or walk the inbox index newest first and test each row cheaply (a common word).
        clauses = [Conversation.contact_id == any_(func.array(contact_ids.scalar_subquery())), subject]
        query = tsquery_text(q)
        if query:
            clauses.append(SEARCH_VECTOR.op("@@")(func.to_tsquery(literal_column("'simple'::regconfig"), query)))
        return or_(*clauses)
    messages = select(Message.conversation_id).where(
        Message.content.ilike(pattern, escape="\\"), Message.deleted_at.is_(None), Message.sender_type != "system"
    )
    return or_(Conversation.contact_id.in_(contact_ids), subject, Conversation.id.in_(messages))


# PostgreSQL only: the conversation's words, kept by triggers on messages (migrations/versions/0002_inbox.py).
SEARCH_VECTOR = literal_column("conversations.search_vector")


# --- the page ---


@dataclass(slots=True)
class InboxRow:
    """One line of the list: plain values (fifty ORM objects with their relations cost more than the query)."""

    id: uuid.UUID
    channel: str
    status: str
    human_takeover: bool
    last_message_at: datetime
    last_message_preview: str | None
    unread_count: int
    subject: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    account_name: str | None
    location_name: str | None
    assigned_user_id: int | None
    assignee_name: str | None
    labels: list[str] = field(default_factory=list)
    waited_since: datetime | None = None  # the "waiting on a human" list: when the customer's wait began

    @property
    def display_name(self) -> str:
        return self.contact_name or self.contact_email or self.contact_phone or "Unknown customer"


ASSIGNEE = aliased(User, name="assignee")

ROW_COLUMNS = (
    Conversation.id,
    Conversation.channel,
    Conversation.status,
    Conversation.human_takeover,
    Conversation.last_message_at,
    Conversation.last_message_preview,
    Conversation.unread_count,
    Conversation.subject,
    Contact.name,
    Contact.email,
    Contact.phone,
    SocialAccount.account_name,
    Location.name,
    Conversation.assigned_user_id,
    func.coalesce(ASSIGNEE.name, ASSIGNEE.email),
)


@dataclass
class InboxPage:
    conversations: list[InboxRow]
    next_cursor: str | None
    is_first: bool
    by_wait: bool = False  # ordered by how long each customer has waited (the "waiting on a human" list)
    capped: bool = False  # more are waiting than the list shows


# The "waiting on a human" list shows the longest waits first, at most this many (a queue, not an archive).
MAX_WAITING_ROWS = 200
ANSWERED_STATUSES = ("sent", "delivered", "read")


def waited_since_column():
    """When the customer's wait began: their first message after our last answer that was not the handoff itself
    (the AI's "a person will get back to you" ends no wait); the first message at all when nobody answered."""
    reply = aliased(Message, name="answer")
    customer = aliased(Message, name="asked")
    last_answer = (
        select(func.max(reply.created_at))
        .where(
            reply.conversation_id == customer.conversation_id,
            reply.direction == "outbound",
            reply.sender_type.in_(("ai", "human")),
            reply.status.in_(ANSWERED_STATUSES),
            func.coalesce(reply.meta["handoff"].as_boolean(), sa_false()) == sa_false(),
        )
        .scalar_subquery()
    )
    first_unanswered = (
        select(func.min(customer.created_at))
        .where(
            customer.conversation_id == Conversation.id,
            customer.direction == "inbound",
            or_(last_answer.is_(None), customer.created_at > last_answer),
        )
        .scalar_subquery()
    )
    return func.coalesce(first_unanswered, Conversation.last_inbound_at, Conversation.last_message_at)


def filter_clauses(scope: Scope | int, filters: InboxFilters, user_id: int | None) -> list:
    """The WHERE clauses for these filters, tenancy first: the organization, and the person's locations when they
    are limited to some (chatpad.models.scope)."""
    scope = Scope.coerce(scope)
    org_id = scope.organization_id
    clauses = [scope.where(Conversation)]
    if filters.channel:
        clauses.append(Conversation.channel == filters.channel)
    if filters.location == NO_LOCATION:
        clauses.append(Conversation.location_id.is_(None))
    elif filters.location:
        wanted = parse_uuid(filters.location)  # not a UUID: no conversation is at that location
        clauses.append(Conversation.location_id == wanted if wanted is not None else sa_false())
    if filters.account:
        clauses.append(Conversation.social_account_id == filters.account)
    if filters.status:
        clauses.append(Conversation.status == filters.status)
    if filters.mine:
        clauses.append(Conversation.assigned_user_id == user_id)
    if filters.assignee == UNASSIGNED:
        clauses.append(Conversation.assigned_user_id.is_(None))
    elif filters.assignee:
        clauses.append(Conversation.assigned_user_id == int(filters.assignee))
    if filters.label:
        clauses.append(
            Conversation.id.in_(
                select(ConversationLabel.conversation_id).where(
                    ConversationLabel.organization_id == org_id, ConversationLabel.name == filters.label
                )
            )
        )
    if filters.q:
        clauses.append(search_clause(org_id, filters.q))
    return clauses


def inbox_page(
    scope: Scope | int,
    filters: InboxFilters,
    *,
    user_id: int | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> InboxPage:
    """One page of the conversations in scope, newest first, after `cursor` (None: the first page)."""
    if filters.status == "waiting":
        return _waiting_page(scope, filters, user_id)
    position = decode_cursor(cursor)
    clauses = filter_clauses(scope, filters, user_id)
    if position:
        clauses.append(tuple_(Conversation.last_message_at, Conversation.id) < tuple_(*position))
    stmt = (
        select(*ROW_COLUMNS)
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(SocialAccount, SocialAccount.id == Conversation.social_account_id)
        .outerjoin(Location, Location.id == Conversation.location_id)
        .outerjoin(ASSIGNEE, ASSIGNEE.id == Conversation.assigned_user_id)
        .where(and_(*clauses))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(limit + 1)
    )
    rows = [InboxRow(*row) for row in db.session.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    attach_labels(rows)
    return InboxPage(rows, encode_cursor(rows[-1]) if more and rows else None, position is None)


def _waiting_page(scope: Scope | int, filters: InboxFilters, user_id: int | None) -> InboxPage:
    """The "waiting on a human" list, longest wait first. Waiting conversations are few (people answer them), so
    the wait is computed per row; beyond MAX_WAITING_ROWS the list says so instead of paging."""
    waited = waited_since_column().label("waited_since")
    stmt = (
        select(*ROW_COLUMNS, waited)
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(SocialAccount, SocialAccount.id == Conversation.social_account_id)
        .outerjoin(Location, Location.id == Conversation.location_id)
        .outerjoin(ASSIGNEE, ASSIGNEE.id == Conversation.assigned_user_id)
        .where(and_(*filter_clauses(scope, filters, user_id)))
        .order_by(waited.asc(), Conversation.id)
        .limit(MAX_WAITING_ROWS + 1)
    )
    rows = []
    for row in db.session.execute(stmt):
        item = InboxRow(*row[:-1])
        item.waited_since = row[-1]
        rows.append(item)
    capped = len(rows) > MAX_WAITING_ROWS
    rows = rows[:MAX_WAITING_ROWS]
    attach_labels(rows)
    return InboxPage(rows, None, True, by_wait=True, capped=capped)


def attach_labels(rows: list[InboxRow]) -> None:
    """Each row's labels, in one query for the page."""
    if not rows:
        return
    by_id = {row.id: row for row in rows}
    found = db.session.execute(
        select(ConversationLabel.conversation_id, ConversationLabel.name)
        .where(ConversationLabel.conversation_id.in_(list(by_id)))
        .order_by(ConversationLabel.name)
    )
    for conversation_id, name in found:
        by_id[conversation_id].labels.append(name)


def label_choices(scope: Scope | int, limit: int = 200) -> list[str]:
    """The labels in use in scope, for the label filter and the bulk form."""
    scope = Scope.coerce(scope)
    return list(
        db.session.scalars(
            select(ConversationLabel.name)
            .where(scope.where(ConversationLabel))
            .distinct()
            .order_by(ConversationLabel.name)
            .limit(limit)
        )
    )


def waiting_count(scope: Scope | int) -> int:
    """How many conversations in scope wait on a human (an index-only count)."""
    scope = Scope.coerce(scope)
    return db.session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(scope.where(Conversation), Conversation.status == "waiting")
    )


@dataclass(frozen=True)
class Choice:
    id: uuid.UUID
    label: str
    channel: str | None = None
    location_id: uuid.UUID | None = None


@dataclass
class FilterChoices:
    locations: list  # (id, name) rows
    accounts: list[Choice]
    channels: list[str]
    accounts_need_location: bool = False  # too many accounts to list them all: pick a location first
    people: list = field(default_factory=list)  # (id, name) of the colleagues in scope, for the assignee filter
    general: bool = True  # offer "General (no location)": not to a person limited to locations
    labels: list[str] = field(default_factory=list)


# Above this many accounts, the account filter lists one location's accounts (a dropdown of thousands helps nobody).
MAX_ACCOUNT_CHOICES = 200


def _org_choices(scope: Scope) -> tuple[list, list[Choice], list[str], bool]:
    """(locations, accounts or [] when there are too many, channels in use, too many accounts), in scope."""
    # Ids as text and a Core (not ORM) execution: for hundreds of rows the conversions cost more than the query.
    locations = (
        db.session.connection()
        .execute(select(cast(Location.id, String), Location.name).where(scope.where(Location)).order_by(Location.name))
        .all()
    )
    used = set(db.session.scalars(select(SocialAccount.channel).where(scope.where(SocialAccount)).distinct()))
    capped = select(SocialAccount.id).where(scope.where(SocialAccount)).limit(MAX_ACCOUNT_CHOICES + 1)
    too_many = db.session.scalar(select(func.count()).select_from(capped.subquery())) > MAX_ACCOUNT_CHOICES
    accounts = [] if too_many else _accounts(scope, True)
    return locations, accounts, [c for c in CHANNELS if c in used] or list(CHANNELS), too_many


def _accounts(scope: Scope, where) -> list[Choice]:
    rows = db.session.execute(
        select(SocialAccount.id, SocialAccount.account_name, SocialAccount.channel, SocialAccount.location_id)
        .where(scope.where(SocialAccount), true() if where is True else where)
        .order_by(SocialAccount.channel, SocialAccount.account_name)
        .limit(MAX_ACCOUNT_CHOICES)
    ).all()
    return [Choice(r.id, r.account_name, r.channel, r.location_id) for r in rows]


def filter_choices(scope: Scope | int, location: str | None = None) -> FilterChoices:
    """The locations, accounts and channels in use in scope, for the filter dropdowns (ids and names only).
    With many accounts, the account dropdown lists the chosen location's accounts only."""
    scope = Scope.coerce(scope)
    locations, accounts, channels, too_many = _org_choices(scope)
    if location == NO_LOCATION:
        if too_many:
            accounts = _accounts(scope, SocialAccount.location_id.is_(None))
        else:
            accounts = [a for a in accounts if a.location_id is None]
    elif location:
        if too_many:
            wanted = parse_uuid(location)
            accounts = _accounts(scope, SocialAccount.location_id == wanted) if wanted is not None else []
        else:
            accounts = [a for a in accounts if str(a.location_id) == location]
    people = [(u.id, str(u)) for u in colleagues(scope)]
    return FilterChoices(
        locations,
        accounts,
        channels,
        too_many and not location,
        people=people,
        general=not scope.limited,
        labels=label_choices(scope),
    )


def options_html(rows, selected: str | None) -> Markup:
    """<option> tags for (id, name) rows, built in Python: a Jinja loop over hundreds of locations costs
    milliseconds on every page."""
    parts = []
    # The database renders ids with dashes (PostgreSQL) or as bare hex (SQLite); both parse back as the same UUID.
    wanted = (selected or "").replace("-", "")
    for ident, name in rows:
        value = str(ident)
        mark = " selected" if value.replace("-", "") == wanted else ""
        parts.append(f'<option value="{value}"{mark}>{escape(name)}</option>')
    return Markup("".join(parts))  # noqa: S704 (ids are UUIDs, names escaped)
