"""What the AI knows when it answers one conversation, read from the database into plain dataclasses.

build_context() does every query up front, so a provider never touches the database (the model call may take
seconds and runs in one of many worker threads). The same ReplyContext feeds the offline responder directly and is
rendered into the system prompt for a language model (chatpad/ai/prompt.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from chatpad.extensions import db
from chatpad.hours import DAY_NAMES, DAYS, HoursError, Schedule
from chatpad.models import Agent, Contact, Conversation, KnowledgeItem, Location, Message, Organization

from .language import detect_language
from .retrieval import CHUNK_CHARS, KnowledgeIndex, Selection, Unit, cached_index, chunk_text, query_terms
from .topics import HandoffTopic, topic_from


@dataclass(frozen=True)
class ChannelProfile:
    """How replies on a channel should look. The adapter enforces the limits; the AI aims inside them."""

    key: str
    label: str
    max_length: int | None  # None: no hard limit
    length_unit: str  # characters | bytes
    quick_replies: bool  # can show tappable suggestions
    buttons: bool  # can show link/call buttons
    style: str  # one line for the system prompt
    email: bool = False
    numbered_choices: bool = False  # quick replies go out as numbered lines the customer answers with a digit (SMS)


# Limits from docs/platform-reference (shared) B.2: Messenger 2000 characters, Instagram 1000 bytes (UTF-8),
# quick-reply titles 20 characters, at most 13 of them.
CHANNEL_PROFILES: dict[str, ChannelProfile] = {
    "facebook": ChannelProfile(
        "facebook",
        "Facebook Messenger",
        2000,
        "characters",
        True,
        True,
        "Chat message: friendly, short paragraphs, plain text (no Markdown), at most 2000 characters.",
    ),
    "instagram": ChannelProfile(
        "instagram",
        "Instagram Direct",
        1000,
        "bytes",
        True,
        False,
        "Instagram DM: casual and brief, plain text (no Markdown), at most 1000 bytes (emoji count double).",
    ),
    "email": ChannelProfile(
        "email",
        "Email",
        None,
        "characters",
        False,
        False,
        "Email: start with a greeting using the customer's first name if known, answer in short paragraphs, "
        "plain text; the signature is added for you.",
        email=True,
    ),
    "widget": ChannelProfile(
        "widget",
        "Website chat",
        1000,
        "characters",
        True,
        True,
        "Website chat bubble: very short (two or three sentences), plain text.",
    ),
    # SMS: Twilio's hard limit is 1,600 characters (the adapter splits there); it recommends at most 320, which
    # is what the AI aims for. https://www.twilio.com/docs/glossary/what-sms-character-limit
    "sms": ChannelProfile(
        "sms",
        "SMS",
        320,
        "characters",
        True,
        False,
        "Text message: at most 320 characters, one or two short sentences, plain text, no emoji (an emoji makes "
        "every segment hold 70 characters instead of 160), links written out.",
        numbered_choices=True,
    ),
    # WhatsApp: 4,096 characters per text; quick replies become reply buttons (at most 3) or a list (at most 10).
    "whatsapp": ChannelProfile(
        "whatsapp",
        "WhatsApp",
        4096,
        "characters",
        True,
        False,
        "WhatsApp message: friendly and short, plain text (WhatsApp shows *bold* but no Markdown links), at most a "
        "few short paragraphs.",
    ),
}
QUICK_REPLY_MAX = 13
QUICK_REPLY_TITLE_MAX = 20


def channel_profile(key: str | None) -> ChannelProfile:
    return CHANNEL_PROFILES.get(key or "", CHANNEL_PROFILES["widget"])


@dataclass
class HoursInfo:
    """A location's hours as the AI needs them: parsed schedule, local time, today and this week."""

    timezone: str
    local_now: datetime
    schedule: Schedule | None  # None: no hours on file (or unreadable)
    open_now: bool | None
    today: str | None  # "9 AM–5 PM" / "Closed (Thanksgiving)"
    week: list[str] = field(default_factory=list)  # seven lines from today
    next_opening: datetime | None = None
    closes_at: datetime | None = None  # when the current opening interval ends

    @property
    def known(self) -> bool:
        return self.schedule is not None

    def day_hours(self, day: date) -> str | None:
        return self.schedule.describe_day(day) if self.schedule else None


@dataclass
class LocationInfo:
    id: uuid.UUID
    name: str
    address: str | None
    phone: str | None
    email: str | None
    website: str | None
    booking_url: str | None
    hours: HoursInfo
    city: str | None = None
    state: str | None = None


@dataclass
class Listing:
    """A property (KnowledgeItem kind "property"): a home for sale or rent at a location."""

    id: int
    title: str
    body: str
    lot: str | None
    beds: float | None
    baths: float | None
    sqft: int | None
    price: int | None
    status: str  # available | pending | sold | …
    year: int | None = None
    location_name: str | None = None
    location_id: uuid.UUID | None = None  # set in a General inbox's context, where every community's homes are listed

    def summary(self) -> str:
        """One line: 'Lot 14 — 3BR/2BA, 1,480 sq ft, $79,900 (available)'."""
        parts = []
        if self.beds is not None or self.baths is not None:
            parts.append(f"{_num(self.beds)}BR/{_num(self.baths)}BA")
        if self.sqft:
            parts.append(f"{self.sqft:,} sq ft")
        if self.year:
            parts.append(str(self.year))
        head = f"Lot {self.lot}" if self.lot else self.title
        price = f"${self.price:,}" if self.price else "price on request"
        details = ", ".join(parts)
        return f"{head} — {details + ', ' if details else ''}{price} ({self.status})"


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class KnowledgeEntry:
    """An FAQ or a policy the AI may quote."""

    id: int
    kind: str  # faq | policy
    title: str
    body: str
    keywords: list[str] = field(default_factory=list)
    handoff: bool = False  # a policy that says: a person must take this
    location_wide: bool = False  # True: this location's own; False: agent-wide (location_id NULL)
    passage: int | None = None  # a document's passage: its number (the id is the document's)
    # The body in other languages an admin wrote (data["translations"]: {"es": "…"}); the body is in the business's.
    translations: dict[str, str] = field(default_factory=dict)


@dataclass
class HistoryMessage:
    """One earlier message, from this conversation or the same customer's conversations on other channels."""

    created_at: datetime
    channel: str
    direction: str  # inbound | outbound
    sender_type: str  # contact | ai | human | system
    content: str
    conversation_id: uuid.UUID
    current: bool  # in the conversation being answered
    story: dict[str, Any] | None = None  # an Instagram story this message replies to ({"id", "url"})
    media: list[str] = field(default_factory=list)  # attachment types: image, story_mention, …
    # How the customer started it, when not by typing: "get_started" (Messenger's button), "postback" (a button or
    # an Instagram icebreaker: the content is its title), "quick_reply", "referral" (arrived from an m.me/ig.me link
    # or an ad: a system note with no text, the "first tap").
    trigger: str | None = None
    id: int | None = None
    language: str | None = None  # as detected when the AI answered it (Message.language)

    @property
    def speaker(self) -> str:
        return {"contact": "customer", "ai": "assistant", "human": "team member", "system": "system"}.get(
            self.sender_type, self.sender_type
        )

    def describe(self) -> str:
        """The content with what a model cannot see spelled out (story replies, attachments)."""
        text = self.content.strip()
        notes = []
        if self.story:
            url = self.story.get("url") or self.story.get("link")
            notes.append(f"replying to the business's Instagram story {self.story.get('id') or ''}".strip())
            if url:
                notes[-1] += f" ({url})"
        for kind in self.media:
            if kind == "story_mention":
                notes.append("mentioned the business in their Instagram story")
            else:
                notes.append(f"sent {'an' if kind[:1] in 'aeiou' else 'a'} {kind.replace('_', ' ')}")
        if notes:
            text = f"[{'; '.join(notes)}] {text}".strip()
        return text


@dataclass
class ReplyContext:
    """Everything the AI may use to answer one conversation. No ORM objects: safe to use off the session."""

    conversation_id: uuid.UUID
    organization_name: str
    agent_name: str
    instructions: str
    channel: ChannelProfile
    now: datetime  # aware UTC
    contact_name: str | None
    location: LocationInfo | None  # None: a General inbox (no location)
    listings: list[Listing]
    knowledge: list[KnowledgeEntry]
    locations: list[LocationInfo]  # General inbox: every location of the agent; else empty
    history: list[HistoryMessage]  # oldest first, deleted messages excluded
    pending: list[HistoryMessage]  # the customer's messages this reply answers (the burst since our last reply)
    account_name: str | None = None
    # The booking flow's turn for this message (chatpad/ai/booking_flow.py: BookingTurn), for the offline provider;
    # the booking tools a language model may call (chatpad/ai/booking_tools.py). None: no calendar to book with.
    booking: Any = None
    booking_tools: Any = None
    # What retrieval chose for this reply, with its figures (chatpad/ai/retrieval.py); None for a hand-made context.
    retrieval: Selection | None = field(default=None, repr=False)

    @property
    def prompt_listings(self) -> list[Listing]:
        """The listings a prompt shows: all of them, or those retrieval chose when they did not all fit."""
        if self.retrieval is None or self.retrieval.complete:
            return self.listings
        return self.retrieval.payloads("property")

    # Languages (chatpad/ai/language.py): the customer's, the ones the location answers in, the business's.
    language: str = "en"
    languages: list[str] = field(default_factory=lambda: ["en"])
    business_language: str = "en"
    handoff_topics: list[HandoffTopic] = field(default_factory=list)

    @property
    def answers_in_language(self) -> bool:
        """Does the location answer in the customer's language?"""
        return self.language in self.languages

    @property
    def question(self) -> str:
        """The customer's latest words, as one text (a burst of messages joined). System notes (a referral's
        "arrived from a link") are not the customer's words."""
        return "\n".join(m.describe() for m in self.pending if m.sender_type == "contact" and m.describe())

    @property
    def first_contact(self) -> bool:
        """Nothing was said to the customer in this conversation yet (by the AI or a person)."""
        return not any(
            m.current and m.direction == "outbound" and m.sender_type in ("ai", "human") for m in self.history
        )

    @property
    def trigger(self) -> str | None:
        """How the latest message came (get_started, postback, quick_reply, referral), None when typed."""
        return self.pending[-1].trigger if self.pending else None

    @property
    def first_name(self) -> str | None:
        if not self.contact_name or "@" in self.contact_name:
            return None
        return self.contact_name.split()[0]

    @property
    def story_reply(self) -> dict[str, Any] | None:
        """The Instagram story the latest message replies to, if any."""
        for message in reversed(self.pending):
            if message.story:
                return message.story
        return None


# --- building it ---


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def hours_info(hours: dict | None, timezone: str | None, now: datetime) -> HoursInfo:
    """Local time, open-now, today's and this week's hours of a location, at `now` (aware)."""
    zone = _zone(timezone)
    local = now.astimezone(zone)
    schedule: Schedule | None
    try:
        schedule = Schedule.from_json(hours or {})
    except HoursError:
        schedule = None
    if schedule is not None and not any(schedule.weekly.values()) and not schedule.exceptions:
        schedule = None  # nothing entered: unknown, not "closed every day"
    if schedule is None:
        return HoursInfo(timezone=zone.key, local_now=local, schedule=None, open_now=None, today=None)
    open_now = schedule.is_open(local)
    closes_at = None
    if open_now:
        intervals, _ = schedule.intervals_on(local.date())
        for opens, closes in intervals:
            if opens <= local.time() < closes:
                closes_at = datetime.combine(local.date(), closes, tzinfo=zone)
    return HoursInfo(
        timezone=zone.key,
        local_now=local,
        schedule=schedule,
        open_now=open_now,
        today=schedule.describe_day(local.date()),
        week=[
            f"{DAY_NAMES[DAYS[d.weekday()]]} {d.strftime('%b')} {d.day}: {schedule.describe_day(d)}"
            for d in (local.date() + timedelta(days=i) for i in range(7))
        ],
        next_opening=None if open_now else schedule.next_opening(local),
        closes_at=closes_at,
    )


def _city_state(address: str | None) -> tuple[str | None, str | None]:
    """'4100 Lakeshore Dr, Conroe, TX 77356' → ('Conroe', 'TX'); best effort."""
    if not address:
        return None, None
    parts = [p.strip() for p in address.split(",")]
    if len(parts) < 3:
        return None, None
    state = parts[-1].split()[0] if parts[-1] else None
    return parts[-2] or None, state


def location_info(location: Location, now: datetime) -> LocationInfo:
    city, state = _city_state(location.address)
    return LocationInfo(
        id=location.id,
        name=location.name,
        address=location.address,
        phone=location.phone,
        email=location.email,
        website=location.website,
        booking_url=location.booking_url,
        hours=hours_info(location.hours, location.timezone, now),
        city=city,
        state=state,
    )


def _as_float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _as_int(value: Any) -> int | None:
    number = _as_float(str(value).replace(",", "").replace("$", "") if isinstance(value, str) else value)
    return int(number) if number is not None else None


# What the context reads of a knowledge item: plain rows, not objects (a location has dozens of items, read for every
# reply; building them as ORM objects cost more than the query).
KNOWLEDGE_COLUMNS = (
    KnowledgeItem.id,
    KnowledgeItem.location_id,
    KnowledgeItem.kind,
    KnowledgeItem.title,
    KnowledgeItem.body,
    KnowledgeItem.data,
)


def listing_from(item: Any, location_name: str | None = None) -> Listing:
    """A property listing from a knowledge item (a KnowledgeItem, or a row of KNOWLEDGE_COLUMNS)."""
    data = item.data or {}
    lot = data.get("lot")
    return Listing(
        id=item.id,
        title=item.title,
        body=item.body or "",
        lot=str(lot) if lot not in (None, "") else None,
        beds=_as_float(data.get("beds")),
        baths=_as_float(data.get("baths")),
        sqft=_as_int(data.get("sqft")),
        price=_as_int(data.get("price")),
        status=str(data.get("status") or "available").lower(),
        year=_as_int(data.get("year")),
        location_name=location_name,
    )


def knowledge_from(item: Any) -> KnowledgeEntry:
    """An FAQ or policy entry from a knowledge item (a KnowledgeItem, or a row of KNOWLEDGE_COLUMNS)."""
    data = item.data or {}
    keywords = data.get("keywords") or []
    if isinstance(keywords, str):
        keywords = [k.strip() for k in keywords.split(",")]
    return KnowledgeEntry(
        id=item.id,
        kind=item.kind,
        title=item.title,
        body=item.body or "",
        keywords=[str(k) for k in keywords if str(k).strip()],
        handoff=bool(data.get("handoff")),
        location_wide=item.location_id is not None,
        translations={
            str(k): str(v) for k, v in (data.get("translations") or {}).items() if isinstance(v, str) and v.strip()
        }
        if isinstance(data.get("translations"), dict)
        else {},
    )


HISTORY_COLUMNS = (
    Message.created_at,
    Message.channel,
    Message.direction,
    Message.sender_type,
    Message.content,
    Message.conversation_id,
    Message.meta,
    Message.media,
    Message.id,
    Message.language,
)


def _history_message(message: Any, current_id: uuid.UUID) -> HistoryMessage:
    """One message of the history (a Message, or a row of HISTORY_COLUMNS) as the prompt sees it."""
    meta = message.meta or {}
    reply_to = meta.get("reply_to") if isinstance(meta.get("reply_to"), dict) else {}
    story = reply_to.get("story") if isinstance(reply_to.get("story"), dict) else None
    if story is None and isinstance(meta.get("story"), dict):
        story = meta["story"]
    media = [str(m.get("type")) for m in (message.media or []) if isinstance(m, dict) and m.get("type")]
    content = message.content or ""
    choice = meta.get("choice") if isinstance(meta.get("choice"), dict) else None
    if choice and choice.get("title"):
        # "2" on SMS picks the second numbered option of the last reply: the AI reads what it picked.
        content = f'{content} (picked option {choice.get("number")}: "{choice["title"]}")'
    return HistoryMessage(
        trigger=_trigger(message.sender_type, meta),
        created_at=message.created_at,
        channel=message.channel,
        direction=message.direction,
        sender_type=message.sender_type,
        content=content,
        conversation_id=message.conversation_id,
        current=message.conversation_id == current_id,
        story=story,
        media=media,
        id=message.id,
        language=message.language,
    )


def _trigger(sender_type: str, meta: dict) -> str | None:
    if sender_type == "system":
        return "referral" if isinstance(meta.get("referral"), dict) else None
    if meta.get("get_started"):
        return "get_started"
    if isinstance(meta.get("postback"), dict):
        return "postback"
    if isinstance(meta.get("quick_reply"), dict):
        return "quick_reply"
    return None


# --- the knowledge of a location, indexed for retrieval (chatpad/ai/retrieval.py) ---

# Characters of knowledge (FAQs, policies, document passages, listings) one prompt carries at most, about 3,000
# tokens; AI_KNOWLEDGE_BUDGET sets it. The location's name, address, phone, hours and this week's hours are always
# in the prompt besides it.
DEFAULT_KNOWLEDGE_BUDGET = 12000


def faq_line(entry: KnowledgeEntry) -> str:
    return f"- Q: {entry.title}\n  A: {entry.body}"


def policy_line(entry: KnowledgeEntry) -> str:
    flag = " (a team member must handle this: set handoff)" if entry.handoff else ""
    return f"- {entry.title}{flag}: {entry.body}"


def document_line(entry: KnowledgeEntry) -> str:
    return f"- {entry.title}: {entry.body}"


def listing_line(listing: Listing, general: bool) -> str:
    """A listing as the prompt shows it: with its community in a General inbox, with its description at a location."""
    if general:
        return f"- {listing.location_name or 'All communities'}: {listing.summary()}"
    return f"- {listing.summary()}. {listing.body}".rstrip()


def _entry_line(entry: KnowledgeEntry) -> str:
    return {"faq": faq_line, "policy": policy_line}.get(entry.kind, document_line)(entry)


def document_entries(item: Any) -> list[KnowledgeEntry]:
    """A document (park rules, lease terms, an imported page) as passages, each an entry of its own titled with the
    document's title and the passage's heading."""
    entries = []
    for number, (heading, text) in enumerate(chunk_text(item.body or "", CHUNK_CHARS)):
        title = f"{item.title} — {heading}" if heading and heading.lower() != item.title.lower() else item.title
        entries.append(
            KnowledgeEntry(
                id=item.id,
                kind="document",
                title=title,
                body=text,
                location_wide=item.location_id is not None,
                passage=number,
            )
        )
    return entries


def _knowledge_where(agent_id: uuid.UUID, location: Location | None):
    clause = KnowledgeItem.agent_id == agent_id
    if location is None:
        return clause  # a General inbox lists every community's homes too
    return clause & (KnowledgeItem.location_id.is_(None) | (KnowledgeItem.location_id == location.id))


def knowledge_version(session: Any, agent_id: uuid.UUID, location: Location | None) -> tuple:
    """What changes whenever the knowledge a location's index holds changes: how many items, the latest updated_at
    and the sum of their ids (an edit, a switch to inactive, an added or a deleted item all move it). A General
    inbox adds its communities' (their names label the listings)."""
    row = session.execute(
        select(func.count(KnowledgeItem.id), func.max(KnowledgeItem.updated_at), func.sum(KnowledgeItem.id)).where(
            _knowledge_where(agent_id, location)
        )
    ).one()
    version: tuple = (tuple(row), location.updated_at if location is not None else None)
    if location is None:
        places = session.execute(
            select(func.count(Location.id), func.max(Location.updated_at)).where(Location.agent_id == agent_id)
        ).one()
        version += (tuple(places),)
    return version


def knowledge_index(session: Any, agent_id: uuid.UUID, location: Location | None) -> KnowledgeIndex:
    """The location's knowledge as a retrieval index, kept in this process until its version changes. Its
    extra["listings"] and extra["knowledge"] are everything (the offline provider filters listings by their fields);
    they are shared by every reply: read them, never change them."""
    key = ("knowledge", agent_id, location.id if location is not None else None)
    return cached_index(
        key, knowledge_version(session, agent_id, location), lambda: _build_index(session, agent_id, location)
    )


def _build_index(session: Any, agent_id: uuid.UUID, location: Location | None) -> KnowledgeIndex:
    items = session.execute(
        select(*KNOWLEDGE_COLUMNS)
        .where(KnowledgeItem.agent_id == agent_id, KnowledgeItem.active.is_(True))
        .where(
            KnowledgeItem.location_id.is_(None)
            if location is None
            else (KnowledgeItem.location_id.is_(None)) | (KnowledgeItem.location_id == location.id)
        )
        .order_by(KnowledgeItem.location_id.is_(None), KnowledgeItem.id)
    ).all()
    listings = [listing_from(i, location.name if location else None) for i in items if i.kind == "property"]
    knowledge: list[KnowledgeEntry] = []
    for item in items:
        if item.kind in ("faq", "policy"):
            knowledge.append(knowledge_from(item))
        elif item.kind == "document":
            knowledge.extend(document_entries(item))
    if location is None:
        # A General inbox answers for every community: "3 bedrooms under $80k in Florida" searches them all.
        rows = session.execute(
            select(*KNOWLEDGE_COLUMNS, Location.name.label("location_name"))
            .join(Location, Location.id == KnowledgeItem.location_id)
            .where(
                KnowledgeItem.agent_id == agent_id,
                Location.agent_id == agent_id,
                KnowledgeItem.active.is_(True),
                KnowledgeItem.kind == "property",
            )
            .order_by(Location.name, KnowledgeItem.id)
        ).all()
        for item in rows:
            listing = listing_from(item, item.location_name)
            if listing.status in ("available", "pending"):
                listing.location_id = item.location_id
                listings.append(listing)
    # Location-specific entries first: they are the more precise answer when both match.
    knowledge.sort(key=lambda k: (not k.location_wide, k.id, k.passage or 0))

    units = []
    for entry in knowledge:
        line = _entry_line(entry)
        text = f"{entry.title} {entry.title} {entry.body} {' '.join(entry.keywords)}"
        key = (entry.kind, entry.id, entry.passage)
        units.append(Unit(key, entry.kind, text, len(line) + 1, entry, pinned=entry.handoff))
    # When not every listing fits, the ones left to fill the budget are the available homes, cheapest first, then
    # pending ones; sold ones last (a prompt rarely needs them).
    status_rank = {"available": 0, "pending": 1}
    for listing in sorted(listings, key=lambda x: (status_rank.get(x.status, 2), x.price is None, x.price or 0)):
        line = listing_line(listing, location is None)
        beds = f"{_num(listing.beds)} bedroom {_num(listing.beds)}br" if listing.beds is not None else ""
        baths = f"{_num(listing.baths)} bath" if listing.baths is not None else ""
        lot = f"lot {listing.lot}" if listing.lot else ""
        text = f"{line} home house listing for sale {beds} {baths} {lot} {listing.status} {listing.location_name or ''}"
        units.append(Unit(("property", listing.id, None), "property", text, len(line) + 1, listing))
    return KnowledgeIndex(units, listings=listings, knowledge=knowledge)


def select_knowledge(context: ReplyContext, index: KnowledgeIndex, budget: int | None = None) -> Selection:
    """Choose what of the index this reply gets, from the customer's latest words (and, at half weight, their
    message before: "and cats?" after "dogs?"), within `budget` characters. Sets context.knowledge to the chosen
    FAQs, policies and passages (everything when everything fits) and context.retrieval to the choice."""
    budget = DEFAULT_KNOWLEDGE_BUDGET if budget is None else max(int(budget), 0)
    earlier = [m.describe() for m in context.history if m.current and m.sender_type == "contact"]
    query = query_terms((context.question, 1.0), *([(earlier[-1], 0.5)] if earlier else []))
    selection = index.select(query, budget)
    if not selection.complete:
        context.knowledge = selection.payloads("faq", "policy", "document")
    context.retrieval = selection
    return selection


def build_context(
    conversation: Conversation,
    *,
    now: datetime | None = None,
    history_limit: int = 20,
    knowledge_budget: int | None = None,
) -> ReplyContext:
    """Read everything the AI may use to answer this conversation. Queries are scoped to its organization.

    The knowledge (FAQs, policies, document passages, listings) the reply gets is what fits `knowledge_budget`
    characters (default DEFAULT_KNOWLEDGE_BUDGET), the most relevant to the customer's words first
    (select_knowledge); all of it when all of it fits."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    session = db.session
    agent = session.get(Agent, conversation.agent_id)
    org = session.get(Organization, conversation.organization_id)
    contact = session.get(Contact, conversation.contact_id)
    location = session.get(Location, conversation.location_id) if conversation.location_id else None
    if location is not None and location.agent_id != conversation.agent_id:
        location = None  # never another agent's context

    # The location's knowledge, indexed for retrieval and kept in this process until it changes (one small query
    # when it has not): what this reply gets of it is chosen below, once the customer's words are known.
    index = knowledge_index(session, conversation.agent_id, location)
    listings = list(index.extra["listings"])
    knowledge = list(index.extra["knowledge"])

    locations: list[LocationInfo] = []
    if location is None:
        rows = session.scalars(
            select(Location).where(Location.agent_id == conversation.agent_id).order_by(Location.name)
        ).all()
        locations = [location_info(loc, now) for loc in rows]

    # History: this customer's messages on every channel of this organization, newest first, then put in order.
    rows = session.execute(
        select(*HISTORY_COLUMNS)  # plain rows: reading up to 40 messages as objects cost more than the query
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(
            Conversation.contact_id == conversation.contact_id,
            Conversation.organization_id == conversation.organization_id,
            Message.deleted_at.is_(None),
            # An outbound message that never left (failed, skipped) is not something the customer saw.
            (Message.direction == "inbound") | (Message.status.notin_(("failed", "skipped"))),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(max(history_limit, 1) * 2)
    )
    recent = [_history_message(m, conversation.id) for m in rows]
    recent.reverse()

    # The burst this reply answers: the current conversation's customer messages after our last outbound one.
    pending: list[HistoryMessage] = []
    for message in reversed(recent):
        if not message.current:
            continue
        if message.direction == "outbound":
            break
        pending.insert(0, message)
    if not pending:
        last_inbound = [m for m in recent if m.current and m.direction == "inbound"]
        pending = last_inbound[-1:]
    history = [m for m in recent if not any(m is p for p in pending)][-history_limit:]

    account = conversation.social_account
    business_language = ((agent.language if agent else None) or "en").lower()
    languages = location.answer_languages() if location is not None else [business_language]
    topics = handoff_topics_of(agent, location)
    question = "\n".join(m.content for m in pending if m.sender_type == "contact" and m.content)
    previous = next(
        (m.language for m in reversed(history) if m.direction == "inbound" and m.language and m.current), None
    )
    language = detect_language(question, previous=previous, default=business_language)
    context = ReplyContext(
        conversation_id=conversation.id,
        organization_name=org.name if org else "",
        agent_name=agent.name if agent else "",
        instructions=(agent.instructions or "").strip() if agent else "",
        channel=channel_profile(conversation.channel),
        now=now,
        contact_name=(contact.name or None) if contact else None,
        location=location_info(location, now) if location else None,
        listings=listings,
        knowledge=knowledge,
        locations=locations,
        history=history,
        pending=pending,
        account_name=account.account_name if account else None,
        language=language,
        languages=languages,
        business_language=business_language,
        handoff_topics=topics,
    )
    select_knowledge(context, index, knowledge_budget)
    return context


def handoff_topics_of(agent: Agent | None, location: Location | None) -> list[HandoffTopic]:
    """The agent's handoff topics, then the location's own (a topic named in both is one, with both's keywords)."""
    merged: dict[str, HandoffTopic] = {}
    for raw in [
        *((agent.handoff_topics or []) if agent else []),
        *((location.handoff_topics or []) if location else []),
    ]:
        topic = topic_from(raw)
        if topic is None:
            continue
        key = topic.name.lower()
        if key in merged:
            merged[key].keywords += [k for k in topic.keywords if k not in merged[key].keywords]
        else:
            merged[key] = topic
    return list(merged.values())


def weekday_date(local_today: date, day_key: str) -> date:
    """The next date (today included) that falls on a weekday key ('sat')."""
    offset = (DAYS.index(day_key) - local_today.weekday()) % 7
    return local_today + timedelta(days=offset)


def day_label(day: date, local_today: date) -> str:
    """'today', 'tomorrow', 'Saturday (Nov 28)'."""
    if day == local_today:
        return "today"
    if day == local_today + timedelta(days=1):
        return "tomorrow"
    name = DAY_NAMES[DAYS[day.weekday()]]
    return f"{name} ({day.strftime('%b')} {day.day})"
