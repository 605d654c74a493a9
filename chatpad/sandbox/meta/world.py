"""The sandbox's Meta: Pages, Instagram accounts, people, tokens, threads, and everything it was asked.

One World per sandbox app, in memory, guarded by one lock. It is seeded from chatpad.demo_data, so the demo's Page
ids and tokens (sandbox_token(app_secret, "page", page_id)) are valid here exactly as ChatPad stored them. Modules
add behaviour around it: graph.py (the Graph API router), send_api.py (Send API, profiles), webhooks.py (signed
posts to the app), control.py (the test/demo API), messenger.py (the customer's web page). Later modules (the OAuth
dialog, /me/accounts, subscribed_apps, debug_token, Instagram messaging) add their routes and use the same records:
users own pages, pages link Instagram accounts, tokens say what they grant.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from chatpad import demo_data as D
from chatpad.sandbox.recording import Recorder

# Messenger webhook fields a Page can be subscribed to (Page-level subscribed_apps), in Meta's names.
MESSENGER_FIELDS = (
    "messages",
    "messaging_postbacks",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "message_reactions",
    "messaging_referrals",
    "messaging_handovers",
    "standby",
    "message_edits",
)

STANDARD_WINDOW_S = 24 * 3600
HUMAN_AGENT_WINDOW_S = 7 * 24 * 3600
MAX_REQUESTS = 5000  # the request log is a ring buffer


def now_ms() -> int:
    return int(time.time() * 1000)


def _digits(seed: str, n: int) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:n]


# The demo operator's business portfolio: it owns the 20 communities' Pages and the company's other Pages; the demo
# user's own hobby Pages (oauth.PERSONAL_PAGES) belong to no portfolio.
DEMO_BUSINESS = {"id": "9" + _digits("business:demo", 14), "name": D.ORG_NAME}


def new_mid() -> str:
    """A Messenger-looking message id."""
    return "m_" + secrets.token_urlsafe(42)


@dataclass
class Token:
    """What an access token grants. kind: page | user | app. Dead tokens answer code 190 with their subcode."""

    value: str
    kind: str
    subject: str  # the Page id, user id or app id
    expires_at: float | None = None  # epoch seconds; None: never (Page tokens from long-lived user tokens)
    invalid_subcode: int | None = None  # 460 password changed, 458 app removed, 463 expired…
    scopes: tuple[str, ...] = ()

    def dead_subcode(self) -> int | None:
        if self.invalid_subcode is not None:
            return self.invalid_subcode
        if self.expires_at is not None and self.expires_at <= time.time():
            return 463
        return None


@dataclass
class Page:
    id: str
    name: str
    access_token: str
    category: str = "Real Estate"
    instagram_id: str | None = None
    # Fields our app is subscribed to on this Page (POST /<PAGE_ID>/subscribed_apps).
    subscribed_fields: set[str] = field(default_factory=lambda: set(MESSENGER_FIELDS))
    location_slug: str | None = None
    # The business portfolio (Meta Business Manager) that owns the Page, as Graph's Page `business` field gives it
    # ({"id", "name"}); None for a Page a person owns on their own, for which Graph leaves the field out.
    business: dict[str, str] | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "business": self.business,
            "instagram_id": self.instagram_id,
            "subscribed_fields": sorted(self.subscribed_fields),
        }


@dataclass
class InstagramAccount:
    id: str
    username: str
    name: str
    page_id: str


@dataclass
class MetaUser:
    """A Facebook user who manages Pages (the person who connects them in ChatPad)."""

    id: str
    name: str
    email: str
    page_ids: list[str]


@dataclass
class Person:
    """A simulated customer. Each Page sees them under its own page-scoped id (PSID)."""

    id: str
    name: str
    first_name: str
    last_name: str
    blocked_pages: set[str] = field(default_factory=set)

    def profile_pic(self, base_url: str) -> str:
        return f"{base_url}/sandbox-api/meta/avatar/{self.id}.svg"


@dataclass
class ThreadMessage:
    mid: str
    sender: str  # "customer" | "page"
    timestamp: int  # epoch ms
    text: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    quick_replies: list[dict[str, Any]] = field(default_factory=list)
    template: dict[str, Any] | None = None
    app_id: str | None = None  # page messages: the sending app (None: a person in the Page inbox)
    metadata: str | None = None
    messaging_type: str | None = None
    tag: str | None = None
    kind: str = "message"  # message | postback | reaction
    payload: str | None = None  # quick reply / postback payload
    reply_to: str | None = None
    reactions: dict[str, str] = field(default_factory=dict)  # who ("customer"/"page") → emoji


@dataclass
class Thread:
    page_id: str
    psid: str
    person_id: str
    messages: list[ThreadMessage] = field(default_factory=list)
    last_customer_at: int | None = None  # epoch ms of the customer's last message: opens the windows
    delivered_watermark: int = 0
    read_watermark: int = 0
    typing_until: float = 0.0
    page_seen_at: int = 0  # the Page's mark_seen

    def public(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "psid": self.psid,
            "person_id": self.person_id,
            "last_customer_at": self.last_customer_at,
            "delivered_watermark": self.delivered_watermark,
            "read_watermark": self.read_watermark,
            "typing": self.typing_until > time.time(),
            "messages": [asdict(m) for m in self.messages],
        }


FAILURE_KINDS = (
    "server_error",  # HTTP 500, code 2 (is_transient)
    "unknown_error",  # HTTP 500, code 1
    "service_unavailable",  # HTTP 503, not JSON (a proxy in front of Graph)
    "rate_limit",  # code 613 with X-Business-Use-Case-Usage
    "app_rate_limit",  # code 4 with X-App-Usage
    "too_many_requests",  # HTTP 429 with Retry-After
    "expired_token",  # 190/463
    "invalid_token",  # 190/460 (password changed)
    "permission",  # code 10: permission missing or revoked
    "blocked",  # 551/1545041: the person isn't available
    "window",  # 10/2018278 outside the allowed window
    "policy_block",  # 368 temporarily blocked
    "slow",  # answer normally after `delay` seconds
    "timeout",  # hang for `delay` seconds (past the client's timeout), then answer 504 or process
    "ig_rate_limit",  # Instagram: 613/2534040
    "ig_window",  # Instagram: 10/2534022 outside the allowed window
    "ig_no_user",  # Instagram: 100/2534014 no matching user
)


@dataclass
class FailureRule:
    id: int
    kind: str
    count: int | None = 1  # how many matching requests fail; None with percent
    percent: float | None = None
    path: str = "/messages"  # substring of the (version-less) Graph path
    method: str | None = "POST"
    delay: float = 0.0
    retry_after: int = 60  # seconds, for rate-limit kinds
    process: bool = False  # timeout/slow: whether the request still takes effect
    skip: int = 0  # let this many matching requests through first (fail the second token exchange, not the first)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.path in path


@dataclass
class RequestRecord:
    id: int
    at: float
    method: str
    path: str  # without the /graph prefix and the version
    version: str | None
    query: dict[str, Any]
    json: Any
    form: dict[str, Any]
    token: str | None
    token_source: str | None  # "query" | "bearer" | "form" | "batch"
    batch: bool = False  # one request of a batch: its URL and parameters came in a POST body
    status: int | None = None
    response: Any = None
    failure: str | None = None


@dataclass
class Delivery:
    """A webhook POST the sandbox makes to the app, with its attempts (Meta retries non-200 answers)."""

    id: int
    object: str
    url: str | None
    body: str
    headers: dict[str, str]
    created_at: float
    attempts: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"  # pending | delivered | failed | no_target
    generation: int = 0

    def public(self, with_body: bool = True) -> dict[str, Any]:
        data = {
            "id": self.id,
            "object": self.object,
            "url": self.url,
            "state": self.state,
            "attempts": list(self.attempts),
            "created_at": self.created_at,
        }
        if with_body:
            data["body"] = self.body
        return data


# Called with the world at the end of every seeding (reset included): modules that add records or state of their own
# (the OAuth dialog's extra Pages and codes) register here, so a reset restores them too.
SEED_HOOKS: list[Callable[[World], None]] = []

DEFAULT_SETTINGS: dict[str, Any] = {
    "require_appsecret_proof": True,
    "auto_echo": True,  # post message_echoes after a send, like Meta
    "auto_delivery": True,  # post message_deliveries after a send
    "retry_delays": [1.0, 5.0, 30.0, 120.0],  # Meta retries failed webhook posts; seconds between attempts
    "webhook_timeout": 20.0,  # Meta's FAQ: a callback times out at 20 s
    "story_ttl_seconds": 24 * 3600,  # Instagram: how long a story's CDN link works (Meta: about 24 h)
    "ig_echo_app_id": False,  # Instagram echoes carry our app_id (unconfirmed on Meta's side: off by default)
}


class World(Recorder):
    """All of the sandbox's Meta state. Every public method takes the lock."""

    FAILURE_KINDS = FAILURE_KINDS
    FailureRule = FailureRule
    RequestRecord = RequestRecord

    def __init__(self, app_id: str, app_secret: str, base_url: str = "", webhook_base: str | None = None):
        self.lock = threading.RLock()
        self.app_id = str(app_id)
        self.app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.default_webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self._ids = itertools.count(1)
        self.reset()

    # --- seeding and reset ---

    def reset(self) -> None:
        """Back to the seeded demo world: no threads, requests, failures or deliveries."""
        with self.lock:
            self.pages: dict[str, Page] = {}
            self.instagram: dict[str, InstagramAccount] = {}
            self.users: dict[str, MetaUser] = {}
            self.tokens: dict[str, Token] = {}
            self.people: dict[str, Person] = {}
            self.psids: dict[str, tuple[str, str]] = {}  # psid -> (page id, person id)
            self.threads: dict[tuple[str, str], Thread] = {}
            # Instagram (chatpad/sandbox/meta/instagram.py): IGSIDs, DM threads keyed (IG id, IGSID), stories.
            self.igsids: dict[str, tuple[str, str]] = {}
            self.ig_threads: dict[tuple[str, str], Thread] = {}
            self.stories: dict[str, Any] = {}
            self.requests: deque[RequestRecord] = deque(maxlen=MAX_REQUESTS)
            self.failures: list[FailureRule] = []
            self.deliveries: deque[Delivery] = deque(maxlen=1000)
            self.settings: dict[str, Any] = {
                k: (list(v) if isinstance(v, list) else v) for k, v in DEFAULT_SETTINGS.items()
            }
            self.webhook_urls: dict[str, str | None] = {
                "page": f"{self.default_webhook_base}/api/webhooks/facebook" if self.default_webhook_base else None,
                "instagram": f"{self.default_webhook_base}/api/webhooks/instagram"
                if self.default_webhook_base
                else None,
            }
            self.generation = getattr(self, "generation", 0) + 1
            self._seed()

    def _seed(self) -> None:
        page_ids = []
        for loc in D.LOCATIONS:
            page_id = D.page_id(loc)
            ig_id = D.instagram_id(loc)
            self.add_page(page_id, loc.page_name, instagram_id=ig_id, location_slug=loc.slug, business=DEMO_BUSINESS)
            self.instagram[ig_id] = InstagramAccount(ig_id, loc.ig_username, loc.name, page_id)
            page_ids.append(page_id)
        user_id = "10" + _digits("user:demo", 13)
        self.users[user_id] = MetaUser(user_id, "Dana Demo", f"dana@{D.EMAIL_DOMAIN}", page_ids)
        self.issue_token("user", user_id, scopes=("pages_show_list", "pages_messaging", "pages_manage_metadata"))
        self.demo_user_id = user_id
        for hook in SEED_HOOKS:
            hook(self)

    # --- records ---

    def token_value(self, kind: str, subject: str) -> str:
        return D.sandbox_token(self.app_secret, kind, subject)

    def issue_token(self, kind: str, subject: str, *, expires_in: float | None = None, scopes=()) -> Token:
        with self.lock:
            value = self.token_value(kind, subject)
            token = Token(value, kind, subject, time.time() + expires_in if expires_in else None, None, tuple(scopes))
            self.tokens[value] = token
            return token

    def add_page(self, page_id: str | None, name: str, *, instagram_id: str | None = None, **kw) -> Page:
        with self.lock:
            page_id = page_id or "1" + _digits(f"page:{name}:{next(self._ids)}:{time.time()}", 14)
            token = self.issue_token("page", page_id)
            page = Page(page_id, name, token.value, instagram_id=instagram_id, **kw)
            self.pages[page_id] = page
            return page

    def find_page(self, ref: str) -> Page | None:
        """A Page by id or (case-insensitive) name."""
        with self.lock:
            if ref in self.pages:
                return self.pages[ref]
            lowered = ref.strip().lower()
            return next((p for p in self.pages.values() if p.name.lower() == lowered), None)

    def person(self, name: str) -> Person:
        """The simulated person with this name (the same name is always the same person)."""
        with self.lock:
            slug = re.sub(r"\s+", " ", name.strip()).lower() or "anonymous"
            person_id = "p" + _digits("person:" + slug, 12)
            person = self.people.get(person_id)
            if person is None:
                first, _, last = name.strip().partition(" ")
                person = Person(person_id, name.strip() or "Anonymous", first or "Anonymous", last)
                self.people[person_id] = person
            return person

    def psid(self, page_id: str, person_id: str) -> str:
        """The page-scoped id of a person on a Page: different on every Page, stable on one."""
        with self.lock:
            psid = "2" + _digits(f"psid:{page_id}:{person_id}", 15)
            self.psids[psid] = (page_id, person_id)
            return psid

    def thread(self, page_id: str, person_id: str) -> Thread:
        with self.lock:
            psid = self.psid(page_id, person_id)
            key = (page_id, psid)
            if key not in self.threads:
                self.threads[key] = Thread(page_id, psid, person_id)
            return self.threads[key]

    def thread_by_psid(self, page_id: str, psid: str) -> Thread | None:
        with self.lock:
            owner = self.psids.get(psid)
            if owner is None or owner[0] != page_id:
                return None
            return self.thread(page_id, owner[1])

    def person_by_psid(self, psid: str) -> tuple[Page, Person] | None:
        with self.lock:
            owner = self.psids.get(psid)
            if owner is None:
                return None
            return self.pages[owner[0]], self.people[owner[1]]
