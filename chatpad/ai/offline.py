"""The offline provider: answers from the location's hours, listings and knowledge with no network at all.

It is the default, so the demo answers like a real assistant on a laptop with no API key, and it is deterministic,
so tests can assert on its words. It recognises what the customer asks (greeting, hours, address, phone, a tour,
homes, FAQs and policies: several at once if the message asks several things), answers each from the context, and
hands off to a person when it cannot answer confidently, when a policy says a person must handle it, or when the
customer asks for one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from chatpad.messages import Button

from . import offline_es as es
from .context import KnowledgeEntry, Listing, LocationInfo, ReplyContext, day_label, weekday_date
from .language import HANDOFF_TEXTS, language_name
from .providers import Provider, ProviderReply
from .settings import AISettings
from .text import STOPWORDS, TfIdf, any_phrase, fold, has_phrase, normalize, terms, words
from .topics import match_topic

OFFLINE_LANGUAGES = ("en", "es")  # the languages these rules read and write

GREETING_WORDS = frozenset(
    "hi hello hey hiya howdy yo greetings good morning afternoon evening there hola sup whats what's up".split()
)
THANKS_WORDS = frozenset(
    "thanks thank you ty thx great ok okay awesome perfect cool got it sounds good appreciate that very much so a lot "
    "again all guys y'all yall gracias muchas perfecto".split()
)
BYE_WORDS = frozenset("bye goodbye later see ya cya take care night".split())

# Asking for a person. Checked as phrases on the normalised text.
PERSON_PHRASES = (
    "real person",
    "a person",
    "a human",
    "human being",
    "representative",
    "live agent",
    "real agent",
    "someone real",
    "call me",
    "call me back",
    "team member",
    "talk to someone",
    "speak to someone",
    "talk to somebody",
    "speak to somebody",
    "speak with someone",
    "the manager",
    "a manager",
    "your manager",
    "staff member",
)
PERSON_RE = re.compile(
    r"\b(talk|speak|chat)\s+(to|with)\s+(a|an|the|your|someone|somebody|person|human|manager|agent|rep|staff)\b"
)

# Where one message asks several things: question marks, semicolons, new lines, "and" or a comma before a question.
SPLIT_PARTS_RE = re.compile(
    r"[?;\n]+|,?\s+and\s+(?=(?:do|does|is|are|can|what|whats|what's|how|when|where|will|any)\b)"
    r"|,\s+(?=(?:do you|does|is there|are there|can i|what|whats|what's|how|when|where|any)\b)",
    re.IGNORECASE,
)

# A complaint or a report that something is wrong: a person acts on it (English and Spanish, accents folded).
PROBLEM_PHRASES = (
    "broken",
    "not working",
    "doesn't work",
    "does not work",
    "isn't working",
    "stopped working",
    "has been out",
    "been out for",
    "hasn't been",
    "haven't been",
    "still not",
    "nobody does",
    "no one does",
    "nobody called",
    "no one called",
    "nobody came",
    "ridiculous",
    "unacceptable",
    "disappointed",
    "complaint",
    "complain",
    "rude",
    "fix it",
    "going to fix",
    "gonna fix",
    "never fixed",
    "what am i paying for",
    "without notice",
    "too high",
    "keeps parking",
    "no funciona",
    "descompuesto",
    "descompuesta",
    "queja",
    "nadie hace",
    "inaceptable",
    "nunca arreglan",
)
PROBLEM_RE = re.compile(
    r"\b(?:keeps|keep)\s+\w+ing\b.*\b(?:my|our)\b|\bwhy (?:did|does|is) (?:my|the)\b.*\b(?:go up|went up|increase)"
)

HOURS_WORDS = ("open", "opens", "opened", "hours", "close", "closes", "closed", "closing", "what time")
# "open" that is not about the office: open lots, open floor plan, open house…
NOT_HOURS_RE = re.compile(
    r"\bopen\s+(lots?|homes?|houses?|floor|concept|kitchen|plans?|space|layout|spots?|sites?|positions?)\b"
)
NOW_PHRASES = ("now", "right now", "currently", "still open", "are you open", "is the office open", "open today")
DAY_WORDS = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
ADDRESS_PHRASES = (
    "address",
    "directions",
    "located",
    "where are you",
    "where is the office",
    "where's the office",
    "where is the community",
    "how do i get there",
    "how to get there",
    "find you",
    "your location",
)
PHONE_PHRASES = ("phone", "phone number", "telephone", "number to call", "can i call", "call you", "contact number")
EMAIL_PHRASES = ("email address", "your email", "e mail")
BOOKING_PHRASES = (
    "tour",
    "visit",
    "showing",
    "schedule",
    "appointment",
    "book",
    "booking",
    "come by",
    "stop by",
    "come see",
    "see the home",
    "see the house",
    "see it",
    "viewing",
    "look at",
    "walk through",
    "walkthrough",
)
LISTING_PHRASES = (
    "home",
    "house",
    "listing",
    "for sale",
    "available homes",
    "bedroom",
    "bed",
    "bath",
    "bathroom",
    "sq ft",
    "square feet",
    "inventory",
    "buy",
    "purchase",
    "mobile home",
    "manufactured home",
    "trailer",
    "floor plan",
    "move in ready",
    "what do you have",
    "what's available",
    "whats available",
    "anything available",
)

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "studio": 0}
BEDS_RE = re.compile(r"\b(\d|one|two|three|four|five|six)\s*\+?\s*(?:or more\s+)?(?:bed(?:room)?s?|br|bd|bdrm?s?)\b")
BEDS_MIN_RE = re.compile(
    r"\b(?:at least|min(?:imum)?|\d\s*\+|(?:\d|one|two|three|four|five)\s+or more)\s*(\d|one|two|three|four|five)?"
)
BATHS_RE = re.compile(r"\b(\d(?:\.5)?|one|two|three)\s*(?:full\s+)?(?:bath(?:room)?s?|ba)\b")
PRICE_MAX_RE = re.compile(
    r"(?:under|below|less than|max(?:imum)?|up to|no more than|within|<|budget(?: is| of)?|afford)\s*"
    r"\$?\s*(\d[\d,]*(?:\.\d+)?)\s*(k|thousand)?"
)
PRICE_MAX_AFTER_RE = re.compile(r"\$\s*(\d[\d,]*(?:\.\d+)?)\s*(k|thousand)?\s*(?:or less|or under|max|and under)")
PRICE_MIN_RE = re.compile(
    r"(?:over|above|more than|at least|starting at|from)\s*\$\s*(\d[\d,]*(?:\.\d+)?)\s*(k|thousand)?"
)
EXISTENCE_RE = re.compile(
    r"\b(?:is there|are there|do you have|do y'?all have|have you got|you got)\s+(?:an?\s+|any\s+)?([a-z]+)"
)
NOT_RENT_RE = re.compile(r"\brent(?:ing)?\s+(?:it\s+|(?:my|our|the)\s+\w+\s+)?out\b|\bsub\s?(?:let|lease)\w*")
OWN_HOME_RE = re.compile(
    r"\b(?:my|our)\s+(?:own\s+)?(?:mobile\s+|manufactured\s+)?(?:home|house|trailer)s?\b|\b(?:from|at) home\b"
)
LOT_RE = re.compile(r"\b(?:lot|site|space)\s*(?:#|no\.?|number)?\s*(\d+[a-z]?)\b")

US_STATES = dict(
    pair.split(":")
    for pair in (
        "AL:Alabama AK:Alaska AZ:Arizona AR:Arkansas CA:California CO:Colorado CT:Connecticut DE:Delaware "
        "FL:Florida GA:Georgia HI:Hawaii ID:Idaho IL:Illinois IN:Indiana IA:Iowa KS:Kansas KY:Kentucky "
        "LA:Louisiana ME:Maine MD:Maryland MA:Massachusetts MI:Michigan MN:Minnesota MS:Mississippi MO:Missouri "
        "MT:Montana NE:Nebraska NV:Nevada NH:New_Hampshire NJ:New_Jersey NM:New_Mexico NY:New_York "
        "NC:North_Carolina ND:North_Dakota OH:Ohio OK:Oklahoma OR:Oregon PA:Pennsylvania RI:Rhode_Island "
        "SC:South_Carolina SD:South_Dakota TN:Tennessee TX:Texas UT:Utah VT:Vermont VA:Virginia WA:Washington "
        "WV:West_Virginia WI:Wisconsin WY:Wyoming"
    ).split()
)
US_STATES = {k: v.replace("_", " ") for k, v in US_STATES.items()}

GENERIC_NAME_WORDS = frozenset(
    "the at of and estates estate village villages meadows meadow ranch community communities park homes home mhp "
    "mhc lake lakes grove cove flats hills hill pines pine oaks oak creek springs place point landing manor".split()
)

QR_HOMES, QR_HOURS, QR_TOUR, QR_RENT, QR_PERSON = (
    "Available homes",
    "Office hours",
    "Book a tour",
    "Lot rent",
    ("Talk to a person"),
)
QR_DIRECTIONS, QR_FINANCING, QR_PETS = "Directions", "Financing", "Pet policy"
# The same suggestions in Spanish (each is understood when tapped: chatpad/ai/offline_es.py reads it back).
QR_ES = {
    QR_HOMES: "Casas disponibles",
    QR_HOURS: "Horario",
    QR_TOUR: "Agendar visita",
    QR_RENT: "Renta del lote",
    QR_PERSON: "Hablar con alguien",
    QR_DIRECTIONS: "Dirección",
    QR_FINANCING: "Financiamiento",
    QR_PETS: "Mascotas",
}

GREETING_SUGGESTIONS = (QR_HOMES, QR_HOURS, QR_TOUR, QR_RENT)

FAQ_MIN_SCORE = 0.34  # TF-IDF cosine needed when no keyword matched
ADD_ON_FAQ_SCORE = 1.5  # an FAQ added to an hours/listings answer must match this well (not one generic word)


def clock(value: datetime) -> str:
    """'9 AM', '5:30 PM'."""
    text = value.strftime("%I:%M %p").lstrip("0")
    return text.replace(":00 ", " ")


def _money(text: str, unit: str | None) -> int:
    value = float(text.replace(",", ""))
    if unit in ("k", "thousand") or value < 1000:
        value *= 1000
    return int(value)


@dataclass
class ListingQuery:
    beds: int | None = None
    beds_min: bool = False
    baths: float | None = None
    max_price: int | None = None
    min_price: int | None = None
    lot: str | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.beds, self.baths, self.max_price, self.min_price, self.lot))

    def describe(self) -> str:
        bits = []
        if self.beds is not None:
            bits.append(f"{self.beds}{'+' if self.beds_min else ''}-bedroom")
        if self.baths is not None:
            bits.append(f"{self.baths:g}-bath")
        text = " ".join(bits) + (" homes" if bits else "homes")
        if self.max_price:
            text += f" under ${self.max_price:,}"
        if self.min_price:
            text += f" over ${self.min_price:,}"
        return text

    def describe_es(self) -> str:
        bits = []
        if self.beds is not None:
            bits.append(f"de {self.beds}{' o más' if self.beds_min else ''} habitaciones")
        if self.baths is not None:
            bits.append(f"{'y' if bits else 'de'} {self.baths:g} baños")
        text = "casas" + (" " + " ".join(bits) if bits else "")
        if self.max_price:
            text += f" de menos de ${self.max_price:,}"
        if self.min_price:
            text += f" de más de ${self.min_price:,}"
        return text

    def matches(self, listing: Listing) -> bool:
        if self.beds is not None:
            if listing.beds is None:
                return False
            if self.beds_min and listing.beds < self.beds:
                return False
            if not self.beds_min and listing.beds != self.beds:
                return False
        if self.baths is not None and (listing.baths is None or listing.baths < self.baths):
            return False
        if self.max_price is not None and (listing.price is None or listing.price > self.max_price):
            return False
        if self.min_price is not None and (listing.price is None or listing.price < self.min_price):
            return False
        return True


def parse_listing_query(q: str) -> ListingQuery:
    """Beds, baths, price bounds and a lot number from a customer's question (normalised text)."""
    query = ListingQuery()
    lot = LOT_RE.search(q)
    if lot and not has_phrase(q[lot.start() :], "lot rent"):
        query.lot = lot.group(1)
    beds = BEDS_RE.search(q)
    if beds:
        raw = beds.group(1)
        query.beds = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]
        window = q[max(0, beds.start() - 12) : beds.end() + 12]
        query.beds_min = bool(re.search(r"\+|at least|or more|minimum", window))
    baths = BATHS_RE.search(q)
    if baths:
        raw = baths.group(1)
        query.baths = float(raw) if raw[0].isdigit() else float(NUMBER_WORDS[raw])
    price = PRICE_MAX_RE.search(q) or PRICE_MAX_AFTER_RE.search(q)
    if price:
        query.max_price = _money(price.group(1), price.group(2))
    low = PRICE_MIN_RE.search(q)
    if low:
        query.min_price = _money(low.group(1), low.group(2))
    return query


@dataclass
class Answer:
    """The reply being assembled: paragraphs, suggestions, a handoff flag and the trace of what matched."""

    parts: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    handoff: bool = False
    reason: str | None = None
    topic: str | None = None  # the handoff topic that caused the handoff
    intents: list[str] = field(default_factory=list)
    knowledge_ids: list[int] = field(default_factory=list)

    def say(self, text: str) -> None:
        if text and text not in self.parts:
            self.parts.append(text)

    def suggest(self, *titles: str) -> None:
        for t in titles:
            if t not in self.quick:
                self.quick.append(t)

    def hand_off(self, reason: str, topic: str | None = None) -> None:
        if not self.handoff:
            self.handoff, self.reason, self.topic = True, reason, topic


class OfflineResponder:
    """Answers one ReplyContext. Pure: the same context always gives the same reply."""

    def __init__(self, ctx: ReplyContext, question: str | None = None):
        self.ctx = ctx
        self.raw = ctx.question if question is None else question
        # Spanish is answered in Spanish and read through its English equivalents (offline_es.GLOSS).
        self.es = ctx.language == "es"
        self.q = normalize(es.gloss(self.raw) if self.es else self.raw)
        self.words = words(self.q)
        # A General inbox conversation that names a community is answered with that community's details.
        self.loc: LocationInfo | None = ctx.location or self._mentioned_location()
        self.general = ctx.location is None

    def _t(self, en: str, spanish: str) -> str:
        """The text in the customer's language (English or Spanish)."""
        return spanish if self.es else en

    def _qr(self, *titles: str) -> list[str]:
        return [QR_ES.get(t, t) for t in titles] if self.es else list(titles)

    def _summary(self, listing: Listing) -> str:
        return es.listing_summary_es(listing) if self.es else listing.summary()

    def _body(self, entry: KnowledgeEntry) -> str:
        """An FAQ's or policy's text in the customer's language: the admin's translation, else the business's
        text with a lead-in saying so."""
        if self.ctx.language == self.ctx.business_language:
            return entry.body
        own = entry.translations.get(self.ctx.language)
        if own:
            return own
        if self.es:
            return f"Esta información la tenemos en inglés: {entry.body}"
        return entry.body

    # --- entry point ---

    def answer(self) -> ProviderReply:
        ans = Answer()
        ctx = self.ctx
        if ctx.story_reply:
            ans.say(self._t("Thanks for replying to our story! 💙", "¡Gracias por responder a nuestra historia! 💙"))
            ans.intents.append("story_reply")

        if ctx.booking is not None and ctx.booking.own_reply:  # a step of the booking flow (booking_flow.py)
            return self._booking_turn(ans, ctx.booking)

        # No question to answer: Messenger's Get Started, a first tap from an ig.me/m.me link or an ad, an empty or
        # emoji-only message. Greeted, never handed off.
        if ctx.trigger in ("get_started", "referral") or self.q in ("", "get started") or self._emoji_only():
            if self._emoji_only() and not ctx.first_contact:
                ans.intents.append("thanks")
                ans.say(self._t("Is there anything else I can help with?", "¿Le puedo ayudar con algo más?"))
                ans.suggest(*self._qr(QR_HOMES, QR_HOURS, QR_TOUR))
            else:
                self._greet(ans)
            return self._finish(ans)
        reply = self._answer_question(ans)
        if not reply.handoff:
            reply = self._hand_off_open_parts(reply)
        if ctx.trigger == "postback" and ctx.first_contact and reply.handoff_reason != "Customer asked for a person":
            # An Instagram icebreaker (or a persistent-menu button) opens the conversation with a question: greeted,
            # and answered when the knowledge answers it; what it cannot answer is a greeting, not a handoff.
            if "unknown" in reply.trace.get("intents", []):
                ans = Answer()
                self._greet(ans)
                return self._finish(ans)
            if not reply.handoff:
                reply.text = self._intro() + " " + reply.text if not ctx.channel.email else reply.text
                reply.trace["intents"].insert(0, "greeting")
        return reply

    def _answer_question(self, ans: Answer) -> ProviderReply:
        if self._wants_person():
            ans.intents.append("person")
            ans.say(
                self._t(
                    f"Of course — I'm bringing in a member of the {self._team()} team. {self._when_reply()}",
                    f"Por supuesto — le paso con un miembro del equipo de {self._team()}. {self._when_reply()}",
                )
            )
            ans.hand_off("Customer asked for a person")
            return self._finish(ans)

        faq = self._match_knowledge()
        topic = match_topic(f"{self.raw}\n{self.q}", self.ctx.handoff_topics)
        urgent = [k for k, hits in faq if k.handoff and hits]  # a policy's own words, not one shared word of its text
        if urgent:
            policy = urgent[0]
            ans.intents.append("policy_handoff")
            ans.knowledge_ids.append(policy.id)
            ans.say(self._body(policy))
            ans.say(
                self._t(
                    f"I'm alerting the {self._team()} team right now so someone can help you directly.",
                    f"Estoy avisando ahora mismo al equipo de {self._team()} para que alguien le ayude directamente.",
                )
            )
            ans.hand_off(f"Policy: {policy.title}", topic.name if topic else None)
            return self._finish(ans)
        if topic is None and self._reports_problem():
            # A complaint or a report of something wrong (a broken streetlight, a neighbour's dog, a bill that is too
            # high) is for a person to act on: the knowledge would only answer the words around it.
            ans.intents.append("problem_report")
            ans.say(
                self._t(
                    f"I'm sorry about that — thanks for telling us. I've passed this to the {self._team()} team so "
                    f"someone can look into it. {self._when_reply()}",
                    f"Lamento mucho la situación — gracias por avisarnos. Ya le pasé esto al equipo de {self._team()} "
                    f"para que alguien lo revise. {self._when_reply()}",
                )
            )
            ans.hand_off("Complaint or problem report")
            return self._finish(ans)
        if topic is not None:
            # A handoff topic (billing disputes, legal…) goes to a person even when the knowledge seems to answer it:
            # "I was charged twice for lot rent" is not a question about the lot rent.
            ans.intents.append("topic_handoff")
            ans.say(
                self._t(
                    f"Thanks for letting us know. A member of the {self._team()} team handles this personally, so "
                    f"I've passed your message on. {self._when_reply()}",
                    f"Gracias por avisarnos. Un miembro del equipo de {self._team()} se encarga de esto personalmente, "
                    f"así que ya le pasé su mensaje. {self._when_reply()}",
                )
            )
            ans.hand_off(f"Handoff topic: {topic.name}", topic.name)
            return self._finish(ans)

        if self._only(GREETING_WORDS):
            self._greet(ans)
            return self._finish(ans)
        if self._only(THANKS_WORDS | BYE_WORDS):
            ans.intents.append("thanks")
            if any(w in BYE_WORDS for w in self.words):
                ans.say(
                    self._t(
                        "Thanks for chatting with us — have a great day!",
                        "¡Gracias por escribirnos, que tenga un buen día!",
                    )
                )
            else:
                ans.say(
                    self._t(
                        "You're welcome! Is there anything else I can help with?",
                        "¡Con gusto! ¿Le puedo ayudar con algo más?",
                    )
                )
                ans.suggest(*self._qr(QR_HOMES, QR_HOURS, QR_TOUR))
            return self._finish(ans)

        faq_blocks_hours = any("hours" in normalize(k.title) and kw for k, kw in faq)
        asked_hours = self._asks_hours() and not faq_blocks_hours
        asked_address = any_phrase(self.q, ADDRESS_PHRASES) or self.q in ("where", "where?")
        asked_phone = any_phrase(self.q, PHONE_PHRASES) and not has_phrase(self.q, "call me")
        asked_email = any_phrase(self.q, EMAIL_PHRASES)
        listing_query = parse_listing_query(self.q)
        # "my home", "my house": the customer's own home (moving it in, renting it out), not our listings.
        listing_text = OWN_HOME_RE.sub(" ", self.q)
        asked_listings = listing_query.any or any_phrase(listing_text, LISTING_PHRASES)
        # The booking flow saw a visit asked for ("see a home Thursday at 11"): its slots are the booking answer.
        asked_booking = any_phrase(self.q, BOOKING_PHRASES) or (self.ctx.booking is not None and not self.general)
        # "How much is lot rent?" is the FAQ, not the listings, unless the customer also says home/bedroom/lot N.
        if asked_listings and not listing_query.any and any(kw for _, kw in faq):
            strong_listing_words = ("home", "house", "bedroom", "listing", "for sale", "available homes")
            asked_listings = any(
                has_phrase(listing_text, w) and not any(has_phrase(kw, w) for _, hits in faq for kw in hits)
                for w in strong_listing_words
            )

        state = self._mentioned_state() if self.general and self.loc is None else None
        if self.general and self.loc is None and asked_listings and (listing_query.any or state):
            self._listings_everywhere(ans, listing_query, state)
            return self._finish(ans)
        if self.general and self.loc is None and (asked_hours or asked_address or asked_phone or asked_listings):
            self._which_location(ans)
            self._add_faq(ans, [(k, hits) for k, hits in faq if hits and self._faq_score(k, hits) >= ADD_ON_FAQ_SCORE])
            return self._finish(ans)
        if state:
            self._locations_in_state(ans, state)
            return self._finish(ans)

        if asked_hours:
            self._hours(ans)
        if asked_address:
            self._address(ans)
        if asked_phone:
            self._phone(ans)
        if asked_email:
            self._email(ans)
        if asked_listings:
            self._listings(ans, listing_query, booking_too=asked_booking)
        if ans.parts and ans.intents != ["story_reply"]:
            # Already answered from hours/listings/contact details: add an FAQ only if its own keywords matched,
            # not because "hours" or "available" happened to occur in its text.
            faq = [(k, hits) for k, hits in faq if hits and self._faq_score(k, hits) >= ADD_ON_FAQ_SCORE]
        self._add_faq(ans, faq)
        if asked_booking:
            self._booking(ans)

        if not ans.parts or ans.parts == ["Thanks for replying to our story! 💙"]:
            if self.general and self.loc is not None:
                self._location_overview(ans)
            else:
                ans.intents.append("unknown")
                ans.say(
                    self._t(
                        f"I'm not sure about that one, so I'll get a member of the {self._team()} team to help. "
                        f"{self._when_reply()}",
                        f"No estoy seguro de eso, así que le pediré a un miembro del equipo de {self._team()} que le "
                        f"ayude. {self._when_reply()}",
                    )
                )
                ans.hand_off("No confident answer")
        return self._finish(ans)

    def _hand_off_open_parts(self, reply: ProviderReply) -> ProviderReply:
        """A message of several questions ("office hours? lake access?"): each part the reply did not answer is said
        to be open and handed to a person, so nothing is dropped silently and analytics does not count it answered."""
        parts = [p.strip(" ,.!-") for p in SPLIT_PARTS_RE.split(self.raw)]
        parts = [p for p in parts if len(words(p)) >= 1 and any(ch.isalpha() for ch in p)]
        if len(parts) < 2:
            return reply
        open_parts = []
        for part in parts:
            sub = OfflineResponder(self.ctx, question=part)._answer_question(Answer())
            if "unknown" in sub.trace.get("intents", []):
                open_parts.append(part)
            elif not sub.handoff:
                # A part the whole-message matching left out ("what's the rent and do you allow pets?"): its answer
                # is added, so every part the knowledge answers is answered.
                missing = [p for p in sub.text.split("\n\n") if p.strip() and p.strip() not in reply.text]
                if missing and len(missing) == len([p for p in sub.text.split("\n\n") if p.strip()]):
                    reply.text = "\n\n".join([reply.text, *missing])
                    reply.trace.setdefault("intents", []).extend(sub.trace.get("intents", []))
                    reply.trace.setdefault("knowledge_ids", []).extend(sub.trace.get("knowledge_ids", []))
        if not open_parts or len(open_parts) == len(parts):
            return reply
        listed = "; ".join(f"\u201c{p}\u201d" for p in open_parts)
        reply.text = (
            reply.text
            + "\n\n"
            + self._t(
                f"I don't have an answer for {listed}, so I've asked a member of the {self._team()} team "
                f"to follow up on that. {self._when_reply()}",
                f"No tengo una respuesta para {listed}, así que le pedí a un miembro del equipo de {self._team()} "
                f"que le dé seguimiento. {self._when_reply()}",
            )
        )
        reply.handoff = True
        reply.handoff_reason = "Still open: " + "; ".join(open_parts)
        reply.quick_replies = []
        reply.trace.setdefault("intents", []).append("open_parts")
        reply.trace["open_parts"] = open_parts
        return reply

    # --- understanding ---

    def _emoji_only(self) -> bool:
        """Only emoji, symbols and punctuation: no letter or digit in the customer's words."""
        return bool(self.raw.strip()) and not any(ch.isalnum() for ch in self.raw)

    def _only(self, vocabulary: frozenset[str]) -> bool:
        return bool(self.words) and all(w in vocabulary for w in self.words)

    def _wants_person(self) -> bool:
        return (
            any_phrase(self.q, PERSON_PHRASES)
            or PERSON_RE.search(self.q) is not None
            or self.q
            in (
                "human",
                "agent",
                "person",
                "operator",
            )
        )

    def _reports_problem(self) -> bool:
        """A complaint or a report that something is wrong (not a question the knowledge answers)."""
        text = f"{self.q} {fold(self.raw)}"
        return any_phrase(text, PROBLEM_PHRASES) or PROBLEM_RE.search(text) is not None

    def _asks_hours(self) -> bool:
        text = NOT_HOURS_RE.sub(" ", self.q)
        if any_phrase(text, HOURS_WORDS):
            return True
        return any(d in self.words for d in DAY_WORDS) and any_phrase(text, ("open", "there", "come in", "available"))

    def _match_knowledge(self) -> list[tuple[KnowledgeEntry, list[str]]]:
        """FAQs and policies that answer the question, best first, with the keywords that matched."""
        entries = self.ctx.knowledge
        if not entries or not self.q:
            return []
        # "rent out my home", "sublet": letting one's home to others, not the lot rent.
        keyword_text = NOT_RENT_RE.sub(" ", self.q)
        docs = [f"{k.title} {k.title} {k.body} {' '.join(k.keywords)}" for k in entries]
        tfidf = TfIdf(docs)
        cosines = tfidf.scores(self.q)
        asked = set(terms(self.q))
        doc_terms = [set(terms(d)) for d in docs]
        bigrams = _bigrams(self.q)
        existence = {t for m in EXISTENCE_RE.finditer(self.q) for t in terms(m.group(1))}
        scored = []
        self._scores: dict[int, float] = {}
        for entry, cosine, own_terms in zip(entries, cosines, doc_terms, strict=True):
            hits = [kw for kw in entry.keywords if has_phrase(keyword_text, kw) or _loose_phrase(keyword_text, kw)]
            # Two words of the question together in the entry's text ("dog park" in the amenities) say more than
            # one keyword ("dog" of the pet policy).
            body = normalize(f"{entry.title} {entry.body}")
            pairs = [b for b in bigrams if has_phrase(body, b)]
            # Longer keyword phrases are more specific; a location's own entry beats the agent-wide one on a tie.
            score = sum(1.0 + 0.5 * (len(kw.split()) - 1) for kw in hits) + 1.5 * len(pairs) + 3.0 * cosine
            score += 0.01 if entry.location_wide else 0.0
            self._scores[entry.id] = score
            # Without a keyword, the text must share two of the question's words, or one no other entry has
            # ("playground"): one common word ("lots" in "how big are the lots?") is not an answer.
            shared = asked & own_terms
            unique = [t for t in shared if len(t) >= 5 and sum(t in d for d in doc_terms) == 1]
            confident = len(shared) >= 2 or bool(unique) or bool(pairs)
            # "Is there a playground?": the thing asked about named in one entry's text only (the amenities) is that
            # entry's to answer, however weak the whole question's score.
            named = [t for t in unique if t in existence]
            if named and not hits:
                hits = [*hits, *named]
                score += 1.0
                self._scores[entry.id] = score
            if hits or pairs or (cosine >= FAQ_MIN_SCORE and confident):
                scored.append((score, entry, hits + pairs))
        scored.sort(key=lambda t: -t[0])
        if not scored:
            return []
        best_score, best, _ = scored[0]
        chosen = [(best, scored[0][2])]
        # A second entry answers a second question ("pets and financing?"): it needs keywords of its own that the
        # first entry's text does not already explain ("offer" in "do you offer financing" is not about amenities).
        best_text = normalize(f"{best.title} {best.body} {' '.join(best.keywords)}")
        for score, entry, hits in scored[1:2]:
            own = [kw for kw in hits if not has_phrase(best_text, kw)]
            if own and score >= 0.5 * best_score:
                chosen.append((entry, own))
        return chosen

    def _faq_score(self, entry: KnowledgeEntry, hits: list[str]) -> float:
        return self._scores.get(entry.id, 0.0)

    def _faq_says_it(self, faq: list[tuple[KnowledgeEntry, list[str]]]) -> bool:
        return any(len(kw.split()) > 1 for _, hits in faq for kw in hits)

    def _mentioned_location(self) -> LocationInfo | None:
        q = normalize(self.ctx.question)
        if not q or not self.ctx.locations:
            return None
        firsts: dict[str, list[LocationInfo]] = {}
        for loc in self.ctx.locations:
            distinctive = [w for w in words(loc.name) if w not in GENERIC_NAME_WORDS and len(w) >= 4]
            if distinctive:
                firsts.setdefault(distinctive[0], []).append(loc)
        for loc in self.ctx.locations:
            if has_phrase(q, loc.name) or (loc.city and has_phrase(q, loc.city)):
                return loc
        for word, locs in firsts.items():
            if len(locs) == 1 and has_phrase(q, word):
                return locs[0]
        return None

    def _mentioned_state(self) -> str | None:
        present = {loc.state for loc in self.ctx.locations if loc.state}
        for code in sorted(present):
            # The two-letter code only after "in" ("homes in TX"): codes like OK, HI and ME are ordinary words.
            if has_phrase(self.q, US_STATES.get(code, code)) or has_phrase(self.q, f"in {code.lower()}"):
                return code
        return None

    # --- answering ---

    def _team(self) -> str:
        return self.loc.name if self.loc else self.ctx.organization_name or "our"

    def _when_reply(self) -> str:
        loc = self.loc
        urgent = (
            self._t(f" If it's urgent, you can call {loc.phone}.", f" Si es urgente, puede llamar al {loc.phone}.")
            if loc and loc.phone
            else ""
        )
        if loc and loc.hours.known and not loc.hours.open_now and loc.hours.next_opening:
            when = self._moment(loc.hours.next_opening, loc)
            return self._t(
                f"The office is closed right now, so they'll reply here when it opens ({when}).{urgent}",
                f"La oficina está cerrada ahora, así que le responderán aquí cuando abra ({when}).{urgent}",
            )
        return self._t(f"They'll reply right here shortly.{urgent}", f"Le responderán aquí en breve.{urgent}")

    def _moment(self, at: datetime, loc: LocationInfo) -> str:
        if self.es:
            return f"{es.day_label_es(at.date(), loc.hours.local_now.date())} {es.at_es(at)}"
        return f"{day_label(at.date(), loc.hours.local_now.date())} at {clock(at)}"

    def _who(self) -> str:
        """Who is answering: "the MHP Communities Assistant" (the agent's name), honest that it is an assistant."""
        name = self.ctx.agent_name.strip()
        if not name:
            return "the virtual assistant"
        return name if name.lower().startswith("the ") else f"the {name}"

    def _intro(self) -> str:
        """'Hi Jamie! I'm the MHP Communities Assistant for Forge at the Lake.' (no 'Hi' on email: it opens with one)"""
        name = f" {self.ctx.first_name}" if self.ctx.first_name else ""
        hi = "" if self.ctx.channel.email else self._t(f"Hi{name}! ", f"¡Hola{name}! ")
        org = self.ctx.organization_name
        if self.es:
            who = self.ctx.agent_name.strip() or "el asistente virtual"
            place = self.loc.name if self.loc is not None and not self.general else org
            return f"{hi}Soy {who}, el asistente virtual de {place}." if place else f"{hi}Soy {who}."
        if self.loc is not None and not self.general:
            return f"{hi}I'm {self._who()} for {self.loc.name}."
        for_org = f" for {org}" if org and org.lower() not in self._who().lower() else ""
        return f"{hi}I'm {self._who()}{for_org}."

    def _greet(self, ans: Answer) -> None:
        ans.intents.append("greeting")
        if self.loc is not None and not self.general:
            ans.say(
                self._t(
                    f"{self._intro()} I can help with available homes, lot rent, office hours or booking a tour. "
                    "What can I do for you?",
                    f"{self._intro()} Puedo ayudarle con las casas disponibles, la renta del lote, el horario de la "
                    "oficina o agendar una visita. ¿En qué le puedo ayudar?",
                )
            )
            ans.suggest(*self._qr(*GREETING_SUGGESTIONS))
            return
        states = sorted({loc.state for loc in self.ctx.locations if loc.state})
        names = [US_STATES.get(s, s) for s in states]
        where = f" in {names[0]}" if len(names) == 1 else ""
        if len(names) > 1:
            where = f" in {', '.join(names[:-1])} and {names[-1]}"
        count = len(self.ctx.locations)
        ans.say(
            self._t(
                f"{self._intro()} We have {count} communit{'y' if count == 1 else 'ies'}{where}. "
                "Which one are you interested in?",
                f"{self._intro()} Tenemos {count} comunidad{'' if count == 1 else 'es'}"
                f"{where.replace(' in ', ' en ').replace(' and ', ' y ')}. ¿Cuál le interesa?",
            )
        )
        if 1 < len(names) <= 13:
            ans.suggest(*names)
        else:
            ans.suggest(*[loc.name for loc in self.ctx.locations][:13])

    def _hours(self, ans: Answer) -> None:
        ans.intents.append("hours")
        loc = self.loc
        if loc is None:
            return
        h = loc.hours
        if not h.known:
            ans.say(
                self._t(
                    f"I don't have {loc.name}'s office hours on file, so I'll ask a team member to confirm them.",
                    f"No tengo el horario de la oficina de {loc.name}, así que le pediré a un miembro del equipo "
                    "que se lo confirme.",
                )
            )
            ans.hand_off("Office hours not on file")
            return
        today = h.local_now.date()
        days: list[date] = []
        for word, key in DAY_WORDS.items():
            if word in self.words:
                days.append(weekday_date(today, key))
        if "weekend" in self.words:
            days += [weekday_date(today, "sat"), weekday_date(today, "sun")]
        if "tomorrow" in self.words:
            days.append(today + timedelta(days=1))
        if "today" in self.words or "tonight" in self.words:
            days.append(today)
        days = sorted(set(days))
        if days:  # "are you open tomorrow?" is about tomorrow; "are you open now and Saturday?" about both
            asks_now = any_phrase(self.q, ("now", "right now", "currently", "still open"))
        else:
            asks_now = any_phrase(self.q, NOW_PHRASES) or not has_phrase(self.q, "hours")

        if asks_now or not days:
            if h.open_now:
                if self.es:
                    until = f" hasta {es.at_es(h.closes_at)} de hoy" if h.closes_at else ""
                    ans.say(f"{'Sí, la' if asks_now else 'La'} oficina de {loc.name} está abierta ahora{until}.")
                else:
                    until = f" until {clock(h.closes_at)} today" if h.closes_at else ""
                    yes = "Yes, the" if asks_now else "The"
                    ans.say(f"{yes} {loc.name} office is open right now{until}.")
            else:
                if self.es:
                    nxt = f" Abrimos de nuevo {self._moment(h.next_opening, loc)}." if h.next_opening else ""
                    ans.say(f"La oficina de {loc.name} está cerrada ahora.{nxt}")
                else:
                    nxt = f" We open again {self._moment(h.next_opening, loc)}." if h.next_opening else ""
                    ans.say(f"The {loc.name} office is closed right now.{nxt}")
        for day in days:
            label = es.day_label_es(day, today) if self.es else day_label(day, today)
            label = label[0].upper() + label[1:]
            intervals, note = h.schedule.intervals_on(day)
            if intervals:
                span = h.schedule.describe_day(day).split(" (")[0]
                extra = f" ({note})" if note else ""
                ans.say(self._t(f"{label} we're open {span}{extra}.", f"{label} abrimos de {span}{extra}."))
            else:
                why = self._t(f" for {note}", f" por {note}") if note else ""
                ans.say(self._t(f"{label} the office is closed{why}.", f"{label} la oficina está cerrada{why}."))
        if not days and has_phrase(self.q, "hours") or (not days and not asks_now):
            week = [es.hours_es(line) for line in h.week] if self.es else h.week
            head = self._t("Office hours this week:", "Horario de la oficina esta semana:")
            ans.say(head + "\n" + "\n".join(f"• {line}" for line in week))
        ans.suggest(*self._qr(QR_TOUR, QR_HOMES, QR_DIRECTIONS))

    def _address(self, ans: Answer) -> None:
        ans.intents.append("address")
        loc = self.loc
        if loc is None:
            return
        if loc.address:
            maps = "https://maps.google.com/?q=" + re.sub(r"\s+", "+", loc.address.replace(",", ""))
            ans.say(
                self._t(
                    f"{loc.name} is at {loc.address}. Directions: {maps}",
                    f"{loc.name} está en {loc.address}. Cómo llegar: {maps}",
                )
            )
        else:
            ans.say(
                self._t(
                    f"I don't have {loc.name}'s street address on file; I'll ask the team to send it.",
                    f"No tengo la dirección de {loc.name}; le pediré al equipo que se la envíe.",
                )
            )
            ans.hand_off("Address not on file")
        ans.suggest(*self._qr(QR_HOURS, QR_TOUR))

    def _phone(self, ans: Answer) -> None:
        ans.intents.append("phone")
        loc = self.loc
        if loc is None:
            return
        if loc.phone:
            ans.say(
                self._t(
                    f"You can call the {loc.name} office at {loc.phone}.",
                    f"Puede llamar a la oficina de {loc.name} al {loc.phone}.",
                )
            )
            title = self._t("Call the office", "Llamar a la oficina")
            ans.buttons.append(Button(type="phone_number", title=title, payload=_e164(loc.phone)))
        else:
            ans.say(
                self._t(
                    "I don't have a phone number on file for this office; a team member will reach out here.",
                    "No tengo un teléfono de esta oficina; un miembro del equipo le escribirá aquí.",
                )
            )
            ans.hand_off("Phone not on file")
        ans.suggest(*self._qr(QR_HOURS))

    def _email(self, ans: Answer) -> None:
        ans.intents.append("email")
        if self.loc and self.loc.email:
            ans.say(
                self._t(
                    f"You can email the {self.loc.name} office at {self.loc.email}.",
                    f"Puede escribir a la oficina de {self.loc.name} a {self.loc.email}.",
                )
            )

    def _booking_turn(self, ans: Answer, turn) -> ProviderReply:
        """The booking flow's own reply: a pick, the details asked, the tour booked, moved or cancelled."""
        ans.intents += ["booking", f"booking_{turn.kind}"]
        ans.say(turn.text)
        ans.quick = list(turn.quick_replies)
        ans.buttons += turn.buttons
        if turn.handoff:
            ans.hand_off(turn.handoff_reason or "Booking")
        return self._finish(ans)

    def _booking(self, ans: Answer) -> None:
        ans.intents.append("booking")
        loc = self.loc
        if loc is None:
            return
        turn = self.ctx.booking
        if turn is not None and not self.general:  # slots from the calendar, in place of the booking link
            ans.intents.append(f"booking_{turn.kind}")
            ans.say(turn.text)
            if turn.quick_replies:  # the slots alone, so "2" on SMS is the second slot
                ans.quick = list(turn.quick_replies)
            ans.buttons += turn.buttons
            return
        if loc.booking_url:
            ans.say(
                self._t(
                    f"You can book a tour of {loc.name} here: {loc.booking_url} — pick any time that suits you.",
                    f"Puede agendar una visita a {loc.name} aquí: {loc.booking_url} — elija la hora que le convenga.",
                )
            )
            ans.buttons.append(
                Button(type="web_url", title=self._t("Book a tour", "Agendar visita"), payload=loc.booking_url)
            )
        else:
            ans.say(
                self._t(
                    "Tell me a day and time that suits you and a team member will confirm your tour.",
                    "Dígame qué día y hora le convienen y un miembro del equipo le confirmará la visita.",
                )
            )
            ans.hand_off("Tour request (no booking link)")
        ans.suggest(*self._qr(QR_HOMES, QR_HOURS))

    def _listings(self, ans: Answer, query: ListingQuery, *, booking_too: bool) -> None:
        ans.intents.append("listings")
        loc = self.loc
        if loc is None:
            return
        listings = self.ctx.listings
        if self.general:  # the General inbox lists every community's homes: this community's are the ones asked for
            listings = [x for x in listings if x.location_id == loc.id]
        tour = (
            ""
            if booking_too or not loc.booking_url
            else self._t(
                f"Want to see it in person? Book a tour: {loc.booking_url}",
                f"¿Quiere verla en persona? Agende una visita: {loc.booking_url}",
            )
        )
        summary = self._summary
        if query.lot:
            match = next((x for x in listings if (x.lot or "").lower() == query.lot.lower()), None)
            if match is None:
                ans.say(
                    self._t(
                        f"I don't see Lot {query.lot} among our current listings, so I'll have the team check on it.",
                        f"No veo el lote {query.lot} entre las casas que tenemos ahora, así que le pediré al equipo "
                        "que lo revise.",
                    )
                )
                ans.hand_off(f"Asked about Lot {query.lot}, not listed")
                return
            ans.knowledge_ids.append(match.id)
            if match.status == "available":
                ans.say(
                    self._t(
                        f"Yes — Lot {match.lot} is available: {match.summary()}. {match.body}".strip(),
                        f"Sí — el lote {match.lot} está disponible: {summary(match)}.",
                    )
                )
                ans.say(tour)
            elif match.status == "pending":
                ans.say(
                    self._t(
                        f"Lot {match.lot} is pending (under contract) right now: {match.summary()}. "
                        "I can let you know if it comes back on the market.",
                        f"El lote {match.lot} está pendiente (bajo contrato) ahora: {summary(match)}. "
                        "Le puedo avisar si vuelve a estar disponible.",
                    )
                )
            else:
                ans.say(
                    self._t(
                        f"Lot {match.lot} has been {match.status}, sorry!",
                        f"Lo siento, el lote {match.lot} ya está {es.STATUS_ES.get(match.status, match.status)}.",
                    )
                )
            others = [x for x in listings if x.status == "available" and x is not match]
            if match.status != "available" and others:
                head = self._t("Here's what is available:", "Esto es lo que tenemos disponible:")
                ans.say(head + "\n" + "\n".join(f"• {summary(x)}" for x in _cheapest(others, 3)))
            ans.suggest(*self._qr(QR_TOUR, QR_FINANCING, QR_RENT))
            return

        available = [x for x in listings if x.status == "available"]
        pending = [x for x in listings if x.status == "pending"]
        if not listings or not (available or pending):
            ans.say(
                self._t(
                    f"We don't have any homes listed at {loc.name} right now. New homes come up often — a team "
                    "member can let you know when one does.",
                    f"Ahora no tenemos casas a la venta en {loc.name}. Salen casas nuevas seguido — un miembro del "
                    "equipo le puede avisar cuando haya una.",
                )
            )
            ans.suggest(*self._qr(QR_PERSON, QR_RENT))
            return
        matches = [x for x in available if query.matches(x)]
        if matches:
            if self.es:
                head = (
                    f"Estas son las {query.describe_es()} disponibles en {loc.name}:"
                    if query.any
                    else f"Esto es lo que tenemos disponible en {loc.name}:"
                )
            else:
                head = (
                    f"Here are the {query.describe()} available at {loc.name}:"
                    if query.any
                    else (f"Here's what's available at {loc.name}:")
                )
            ans.knowledge_ids += [x.id for x in matches]
            ans.say(head + "\n" + "\n".join(f"• {summary(x)}" for x in _cheapest(matches, 5)))
            also = [x for x in pending if query.matches(x)]
            if also:
                lots = ", ".join(self._t(f"Lot {x.lot}", f"lote {x.lot}") for x in also)
                ans.say(
                    self._t(f"Also pending (under contract): {lots}.", f"También pendientes (bajo contrato): {lots}.")
                )
            ans.say(tour)
        else:
            ans.say(
                self._t(
                    f"We don't have any {query.describe()} available at {loc.name} right now.",
                    f"Ahora no tenemos {query.describe_es()} disponibles en {loc.name}.",
                )
            )
            if available:
                head = self._t("Here's what is available:", "Esto es lo que tenemos disponible:")
                ans.say(head + "\n" + "\n".join(f"• {summary(x)}" for x in _cheapest(available, 3)))
        ans.suggest(*self._qr(QR_TOUR, QR_FINANCING, QR_RENT))

    def _add_faq(self, ans: Answer, faq: list[tuple[KnowledgeEntry, list[str]]]) -> None:
        for entry, _hits in faq:
            ans.intents.append(entry.kind)
            ans.knowledge_ids.append(entry.id)
            ans.say(self._body(entry))
        if faq:
            ans.suggest(*self._qr(QR_HOMES, QR_TOUR, QR_HOURS))

    def _listings_everywhere(self, ans: Answer, query: ListingQuery, state: str | None) -> None:
        """The General inbox, asked for homes with a budget, a size or a state: search every community's."""
        ans.intents.append("listings")
        where = {loc.id: loc for loc in self.ctx.locations}
        homes = [
            x
            for x in self.ctx.listings
            if x.status == "available" and x.location_id in where and (not state or where[x.location_id].state == state)
        ]
        matches = [x for x in homes if query.matches(x)]
        area = self._t(" in ", " en ") + US_STATES.get(state, state) if state else ""
        what = (query.describe_es() if self.es else query.describe()) if query.any else self._t("homes", "casas")
        if not matches:
            ans.say(
                self._t(
                    f"We don't have any {what} available{area} right now.",
                    f"Ahora no tenemos {what} disponibles{area}.",
                )
            )
            if homes:
                head = self._t("The most affordable ones:", "Las más económicas:")
                ans.say(head + "\n" + "\n".join(self._home_line(x, where) for x in _cheapest(homes, 3)))
            ans.suggest(*self._qr(QR_PERSON))
            return
        shown = _cheapest(matches, 6)
        ans.knowledge_ids += [x.id for x in shown]
        count = (
            self._t(
                f" ({len(matches)} in all; here are the most affordable)",
                f" ({len(matches)} en total; estas son las más económicas)",
            )
            if len(matches) > len(shown)
            else ""
        )
        head = self._t(
            f"Here are the {what} available{area}{count}:", f"Estas son las {what} disponibles{area}{count}:"
        )
        ans.say(head + "\n" + "\n".join(self._home_line(x, where) for x in shown))
        communities = list(dict.fromkeys(where[x.location_id].name for x in shown))
        ans.say(
            self._t(
                "Which community would you like to know more about, or book a tour at?",
                "¿De qué comunidad le gustaría saber más, o en cuál quiere agendar una visita?",
            )
        )
        ans.suggest(*[name for name in communities if len(name) <= 20])  # Messenger's quick-reply title limit

    def _home_line(self, listing: Listing, where: dict) -> str:
        loc = where[listing.location_id]
        place = f"{loc.name} ({loc.city}, {loc.state})" if loc.city else loc.name
        return f"• {place}: {self._summary(listing)}"

    def _which_location(self, ans: Answer) -> None:
        ans.intents.append("which_location")
        lines = [
            f"• {loc.name} — {loc.city}, {loc.state}" if loc.city else f"• {loc.name}" for loc in self.ctx.locations
        ]
        head = self._t(
            "Happy to help! Which community do you mean? We have:", "¡Con gusto! ¿De qué comunidad habla? Tenemos:"
        )
        ans.say(head + "\n" + "\n".join(lines))
        states = sorted({US_STATES.get(loc.state, loc.state) for loc in self.ctx.locations if loc.state})
        if 1 < len(states) <= 13:
            ans.suggest(*states)

    def _locations_in_state(self, ans: Answer, code: str) -> None:
        ans.intents.append("state")
        here = [loc for loc in self.ctx.locations if loc.state == code]
        lines = [f"• {loc.name} — {loc.city} ({loc.phone})" if loc.phone else f"• {loc.name}" for loc in here]
        state = US_STATES.get(code, code)
        ans.say(
            self._t(f"Our communities in {state}:\n", f"Nuestras comunidades en {state}:\n")
            + "\n".join(lines)
            + self._t("\nWhich one can I help with?", "\n¿Con cuál le puedo ayudar?")
        )
        ans.suggest(*[loc.name for loc in here][:13])

    def _location_overview(self, ans: Answer) -> None:
        loc = self.loc
        assert loc is not None
        ans.intents.append("location")
        where = self._t(f"{loc.name} is at {loc.address}.", f"{loc.name} está en {loc.address}.")
        bits = [where if loc.address else loc.name + "."]
        if loc.phone:
            bits.append(self._t(f"Call the office at {loc.phone}.", f"Llame a la oficina al {loc.phone}."))
        if loc.hours.known:
            today = es.hours_es(loc.hours.today or "") if self.es else loc.hours.today
            bits.append(self._t(f"Today's hours: {today}.", f"Horario de hoy: {today}."))
        if loc.booking_url:
            bits.append(self._t(f"Book a tour: {loc.booking_url}", f"Agende una visita: {loc.booking_url}"))
        ans.say(" ".join(bits))
        ans.suggest(*self._qr(QR_PERSON))

    # --- the reply ---

    def _finish(self, ans: Answer) -> ProviderReply:
        ctx = self.ctx
        parts = list(ans.parts)
        if ctx.channel.email:
            name = ctx.first_name
            parts.insert(0, self._t(f"Hi {name}," if name else "Hello,", f"Hola {name}:" if name else "Hola:"))
            if not ans.handoff:
                parts.append(
                    self._t(
                        "Let us know if there's anything else we can help with.",
                        "Avísenos si le podemos ayudar con algo más.",
                    )
                )
        text = "\n\n".join(p.strip() for p in parts if p.strip())
        quick = [] if ans.handoff else [q for q in ans.quick if not _answered(q, ans.intents)][:5]
        return ProviderReply(
            text=text,
            quick_replies=quick,
            buttons=ans.buttons,
            handoff=ans.handoff,
            handoff_reason=ans.reason,
            handoff_topic=ans.topic,
            trace={"intents": ans.intents, "knowledge_ids": ans.knowledge_ids},
        )


def _bigrams(q: str) -> list[str]:
    """Adjacent pairs of content words of the question ("dog park", "fishing pier")."""
    content = [w for w in words(q) if w not in STOPWORDS and len(w) >= 3]
    return [f"{a} {b}" for a, b in zip(content, content[1:], strict=False)]


def _loose_phrase(q: str, keyword: str) -> bool:
    """A keyword of several words with one more word inside it: "move my mobile home" for "move my home"."""
    parts = normalize(keyword).split()
    if len(parts) < 2:
        return False
    pattern = r"(?<![a-z0-9])" + r"\s+(?:[a-z0-9']+\s+)?".join(re.escape(p) for p in parts) + r"(?:s|es)?(?![a-z0-9])"
    return re.search(pattern, q) is not None


def _answered(quick_reply: str, intents: list[str]) -> bool:
    """Do not suggest what was just answered."""
    answers = {QR_HOURS: "hours", QR_TOUR: "booking", QR_HOMES: "listings", QR_DIRECTIONS: "address"}
    answers.update({QR_ES[k]: v for k, v in list(answers.items())})
    return answers.get(quick_reply) in intents


def _cheapest(listings: list[Listing], n: int) -> list[Listing]:
    return sorted(listings, key=lambda x: (x.price is None, x.price or 0, x.lot or ""))[:n]


def _e164(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return "+1" + digits if len(digits) == 10 else "+" + digits


class OfflineProvider(Provider):
    """Rule-based answers from the context; never calls out."""

    name = "offline"

    def generate(self, context: ReplyContext, settings: AISettings) -> ProviderReply:
        if context.language not in OFFLINE_LANGUAGES and context.question.strip():
            # A location may answer in French (a language model writes it); these rules write English and Spanish
            # only, so a person answers rather than the customer getting English.
            return ProviderReply(
                text=HANDOFF_TEXTS.get(context.language) or HANDOFF_TEXTS["en"],
                handoff=True,
                handoff_reason=f"Wrote in {language_name(context.language)}; the offline AI answers in English "
                "and Spanish only",
                trace={"intents": ["language_handoff"], "language": context.language},
            )
        return OfflineResponder(context).answer()
