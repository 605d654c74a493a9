"""The seed's example business, "MHP Communities": 20 mobile-home communities across 5 states.

One definition, used by `flask chatpad demo` (the database) and by the sandbox (the Pages, Instagram accounts and
inboxes Meta and the mail servers would hold), so the demo's accounts and the sandbox's agree by construction.
Everything is deterministic: the same input always yields the same ids, listings and hours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass, field

ORG_NAME = "MHP Communities"
AGENT_NAME = "MHP Communities Assistant"
EMAIL_DOMAIN = "mhpcommunities.com"
ADMIN_EMAIL = f"admin@{EMAIL_DOMAIN}"
ADMIN_PASSWORD = "chatpad-demo-2026"  # noqa: S105 (the demo's, printed by `chatpad demo`)
GENERAL_INBOX = f"info@{EMAIL_DOMAIN}"

AGENT_INSTRUCTIONS = """You are the friendly leasing assistant for MHP Communities, a family of manufactured-home
communities. Answer questions about available homes, lot rent, amenities, office hours, pets and applications for the
community the customer wrote to. Be warm and brief. Offer a tour with the booking link when someone is interested in
a home. Never invent prices or availability: if the listings do not say, offer to have the community manager follow
up. Hand the conversation to a team member for maintenance emergencies, billing disputes, legal questions, or when the
customer asks for a person."""

# Issue 18: what always goes to a person (the instructions above say so in words; these are the list both providers
# honour), and the languages every community answers in (many residents and prospects write in Spanish).
AGENT_HANDOFF_TOPICS = [
    {"name": "billing dispute", "keywords": []},
    {"name": "legal", "keywords": []},
    {"name": "emergency", "keywords": []},
]
LOCATION_LANGUAGES = ("en", "es")


@dataclass(frozen=True)
class DemoLocation:
    slug: str
    name: str
    page_name: str
    ig_username: str
    email_local: str
    street: str
    city: str
    state: str
    postal_code: str
    timezone: str
    phone: str
    lot_rent: int
    amenities: tuple[str, ...]
    website_host: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.street}, {self.city}, {self.state} {self.postal_code}"

    @property
    def email(self) -> str:
        return f"{self.email_local}@{EMAIL_DOMAIN}"

    @property
    def website(self) -> str:
        return f"https://{self.website_host or self.slug.replace('-', '') + '.com'}"

    @property
    def booking_url(self) -> str:
        return f"https://book.{EMAIL_DOMAIN}/{self.slug}"


_C, _E, _M = "America/Chicago", "America/New_York", "America/Phoenix"

LOCATIONS: tuple[DemoLocation, ...] = (
    # Texas
    DemoLocation(
        "forge-at-the-lake",
        "Forge at the Lake",
        "Forge Lake Community",
        "forgelakemhp",
        "forge",
        "4100 Lakeshore Dr",
        "Conroe",
        "TX",
        "77356",
        _C,
        "(936) 555-0141",
        685,
        ("lake access", "fishing pier", "playground", "storm shelter"),
        "forgelake.com",
    ),
    DemoLocation(
        "clearview-estates",
        "Clearview Estates",
        "Clearview MHP",
        "clearviewmhp",
        "clearview",
        "220 Clearview Ln",
        "Temple",
        "TX",
        "76502",
        _C,
        "(254) 555-0177",
        540,
        ("clubhouse", "basketball court", "on-site laundry"),
    ),
    DemoLocation(
        "bluebonnet-meadows",
        "Bluebonnet Meadows",
        "Bluebonnet Meadows Homes",
        "bluebonnetmeadows",
        "bluebonnet",
        "9 Meadow Ridge Rd",
        "Georgetown",
        "TX",
        "78626",
        _C,
        "(512) 555-0119",
        720,
        ("pool", "dog park", "walking trail"),
    ),
    DemoLocation(
        "pecan-grove",
        "Pecan Grove",
        "Pecan Grove Community",
        "pecangrovemhc",
        "pecangrove",
        "1800 Pecan Grove Way",
        "Waco",
        "TX",
        "76705",
        _C,
        "(254) 555-0163",
        495,
        ("shaded lots", "playground", "RV storage"),
    ),
    # Florida
    DemoLocation(
        "palm-harbor-village",
        "Palm Harbor Village",
        "Palm Harbor Village",
        "palmharborvillage",
        "palmharbor",
        "3300 Alt 19 N",
        "Palm Harbor",
        "FL",
        "34683",
        _E,
        "(727) 555-0102",
        810,
        ("heated pool", "shuffleboard", "clubhouse", "55+ section"),
    ),
    DemoLocation(
        "sunset-cove",
        "Sunset Cove",
        "Sunset Cove MHP",
        "sunsetcovemhp",
        "sunsetcove",
        "75 Cove Blvd",
        "Bradenton",
        "FL",
        "34207",
        _E,
        "(941) 555-0188",
        765,
        ("bay access", "kayak launch", "pool"),
    ),
    DemoLocation(
        "cypress-landing",
        "Cypress Landing",
        "Cypress Landing Community",
        "cypresslandingfl",
        "cypress",
        "12 Cypress Landing Dr",
        "Ocala",
        "FL",
        "34472",
        _E,
        "(352) 555-0135",
        610,
        ("fitness center", "community garden", "pool"),
    ),
    DemoLocation(
        "manatee-shores",
        "Manatee Shores",
        "Manatee Shores Homes",
        "manateeshores",
        "manatee",
        "501 Shoreline Ave",
        "Port Charlotte",
        "FL",
        "33952",
        _E,
        "(941) 555-0156",
        695,
        ("canal lots", "boat ramp", "clubhouse"),
    ),
    # Georgia
    DemoLocation(
        "peachtree-pines",
        "Peachtree Pines",
        "Peachtree Pines MHC",
        "peachtreepines",
        "peachtree",
        "3900 Pine Hollow Rd",
        "Macon",
        "GA",
        "31206",
        _E,
        "(478) 555-0124",
        520,
        ("wooded lots", "playground", "storm shelter"),
    ),
    DemoLocation(
        "magnolia-springs",
        "Magnolia Springs",
        "Magnolia Springs Community",
        "magnoliaspringsga",
        "magnolia",
        "88 Magnolia Springs Pkwy",
        "Augusta",
        "GA",
        "30906",
        _E,
        "(706) 555-0191",
        560,
        ("pond", "walking trail", "clubhouse"),
    ),
    DemoLocation(
        "oconee-ridge",
        "Oconee Ridge",
        "Oconee Ridge Homes",
        "oconeeridge",
        "oconee",
        "240 Ridge Top Ln",
        "Athens",
        "GA",
        "30605",
        _E,
        "(706) 555-0148",
        640,
        ("bus stop to campus", "dog park", "laundry"),
    ),
    DemoLocation(
        "savannah-oaks",
        "Savannah Oaks",
        "Savannah Oaks MHP",
        "savannahoaksmhp",
        "savannahoaks",
        "17 Live Oak Cir",
        "Pooler",
        "GA",
        "31322",
        _E,
        "(912) 555-0172",
        705,
        ("pool", "clubhouse", "playground"),
    ),
    # North Carolina
    DemoLocation(
        "blue-ridge-hollow",
        "Blue Ridge Hollow",
        "Blue Ridge Hollow Community",
        "blueridgehollow",
        "blueridge",
        "6 Hollow Creek Rd",
        "Asheville",
        "NC",
        "28806",
        _E,
        "(828) 555-0137",
        730,
        ("mountain views", "creek", "walking trail"),
    ),
    DemoLocation(
        "carolina-pines",
        "Carolina Pines",
        "Carolina Pines MHC",
        "carolinapinesmhc",
        "carolinapines",
        "4500 Pine Forest Dr",
        "Fayetteville",
        "NC",
        "28303",
        _E,
        "(910) 555-0115",
        515,
        ("near Fort Liberty", "playground", "laundry"),
    ),
    DemoLocation(
        "outer-banks-haven",
        "Outer Banks Haven",
        "Outer Banks Haven",
        "obxhaven",
        "obx",
        "2 Sound Side Rd",
        "Kill Devil Hills",
        "NC",
        "27948",
        _E,
        "(252) 555-0169",
        880,
        ("beach shuttle", "sound access", "pool"),
    ),
    DemoLocation(
        "piedmont-park-homes",
        "Piedmont Park Homes",
        "Piedmont Park Homes",
        "piedmontparkhomes",
        "piedmont",
        "1020 Piedmont Rd",
        "Greensboro",
        "NC",
        "27405",
        _E,
        "(336) 555-0183",
        575,
        ("clubhouse", "basketball court", "community garden"),
    ),
    # Arizona
    DemoLocation(
        "saguaro-vista",
        "Saguaro Vista",
        "Saguaro Vista MHP",
        "saguarovista",
        "saguaro",
        "7700 E Saguaro Vista Rd",
        "Tucson",
        "AZ",
        "85710",
        _M,
        "(520) 555-0126",
        615,
        ("heated pool", "pickleball", "55+ section"),
    ),
    DemoLocation(
        "desert-bloom",
        "Desert Bloom",
        "Desert Bloom Community",
        "desertbloomaz",
        "desertbloom",
        "3150 W Bloom Ave",
        "Mesa",
        "AZ",
        "85201",
        _M,
        "(480) 555-0158",
        690,
        ("pool", "clubhouse", "fitness center"),
    ),
    DemoLocation(
        "red-rock-ranch",
        "Red Rock Ranch",
        "Red Rock Ranch Homes",
        "redrockranchaz",
        "redrock",
        "45 Red Rock Loop",
        "Cottonwood",
        "AZ",
        "86326",
        _M,
        "(928) 555-0194",
        600,
        ("red rock views", "walking trail", "RV storage"),
    ),
    DemoLocation(
        "mesquite-flats",
        "Mesquite Flats",
        "Mesquite Flats MHC",
        "mesquiteflats",
        "mesquite",
        "900 S Mesquite Dr",
        "Yuma",
        "AZ",
        "85364",
        _M,
        "(928) 555-0110",
        455,
        ("pool", "laundry", "shaded parking"),
    ),
)

STATE_NAMES = {"TX": "Texas", "FL": "Florida", "GA": "Georgia", "NC": "North Carolina", "AZ": "Arizona"}


def _rng(slug: str) -> random.Random:
    return random.Random(int(hashlib.sha256(slug.encode()).hexdigest()[:16], 16))


def location_hours(loc: DemoLocation) -> dict:
    """Real-looking office hours: weekdays, short Saturdays, a few communities open Sunday afternoons, holidays."""
    rng = _rng(loc.slug + ":hours")
    opens = rng.choice(["08:00", "08:30", "09:00"])
    closes = rng.choice(["17:00", "17:30", "18:00"])
    weekly = {d: [[opens, closes]] for d in ("mon", "tue", "wed", "thu", "fri")}
    if rng.random() < 0.5:  # a lunch break at smaller offices
        weekly["wed"] = [[opens, "12:00"], ["13:00", closes]]
    weekly["sat"] = [["10:00", rng.choice(["14:00", "15:00", "16:00"])]]
    weekly["sun"] = [["12:00", "16:00"]] if rng.random() < 0.3 else []
    exceptions = [
        {"date": "2026-11-26", "hours": [], "note": "Thanksgiving"},
        {"date": "2026-11-27", "hours": [["10:00", "14:00"]], "note": "Day after Thanksgiving"},
        {"date": "2026-12-24", "hours": [[opens, "12:00"]], "note": "Christmas Eve"},
        {"date": "2026-12-25", "hours": [], "note": "Christmas Day"},
        {"date": "2027-01-01", "hours": [], "note": "New Year's Day"},
    ]
    return {"weekly": weekly, "exceptions": exceptions}


_MAKERS = ("Clayton", "Champion", "Fleetwood", "Palm Harbor", "Cavco", "Skyline", "Live Oak", "Jacobsen")
_MODELS = ("The Anniversary", "The Breeze", "The Tempo", "The Patriot", "The Legend", "The Sierra", "The Homestead")


def location_listings(loc: DemoLocation) -> list[dict]:
    """Three to five homes for sale or rent at a community, with believable specs and prices."""
    rng = _rng(loc.slug + ":homes")
    homes = []
    lots = rng.sample(range(3, 180), 5)
    for i in range(rng.randint(3, 5)):
        beds = rng.choice([2, 3, 3, 3, 4])
        baths = 1 if beds == 2 and rng.random() < 0.5 else 2
        sqft = rng.randint(8, 19) * 80 + beds * 40
        year = rng.randint(2004, 2026)
        new = year >= 2025
        price = round((28000 + sqft * rng.uniform(38, 64) + (15000 if new else 0)) / 100) * 100
        maker = rng.choice(_MAKERS)
        homes.append(
            {
                "title": f"Lot {lots[i]} — {beds}BR/{baths}BA {year} {maker}",
                "body": (
                    f"{'Brand-new' if new else 'Well-kept'} {year} {maker} {rng.choice(_MODELS)}: {beds} bedrooms, "
                    f"{baths} bathrooms, {sqft:,} sq ft"
                    + rng.choice(
                        [
                            ", covered porch and storage shed.",
                            ", open kitchen with island, new flooring.",
                            ", split floor plan, carport for two cars.",
                            ", garden tub in the primary bath, fenced yard.",
                        ]
                    )
                    + f" ${price:,} or rent-to-own from ${round(price / 95 / 10) * 10:,}/month plus lot rent."
                ),
                "data": {
                    "lot": lots[i],
                    "beds": beds,
                    "baths": baths,
                    "sqft": sqft,
                    "year": year,
                    "price": price,
                    "status": rng.choices(["available", "pending", "sold"], weights=[7, 2, 1])[0],
                },
            }
        )
    return homes


def location_faqs(loc: DemoLocation) -> list[dict]:
    amenities = ", ".join(loc.amenities)
    return [
        {
            "title": "How much is lot rent?",
            "body": f"Lot rent at {loc.name} is ${loc.lot_rent}/month and includes water, sewer and trash pickup.",
            "data": {"keywords": ["lot rent", "rent", "cost", "price per month", "monthly"]},
        },
        {
            "title": "What amenities do you have?",
            "body": f"{loc.name} offers {amenities}.",
            "data": {"keywords": ["amenities", "pool", "clubhouse", "features", "offer"]},
        },
    ]


AGENT_FAQS = [
    {
        "title": "Do you allow pets?",
        "body": "Yes — up to two pets per home. Dogs of restricted breeds are not allowed; all dogs must be leashed "
        "in common areas. There is no pet rent.",
        "data": {"keywords": ["pet", "pets", "dog", "dogs", "cat", "cats"]},
    },
    {
        "title": "How do I apply?",
        "body": "Applications are online and take about 15 minutes. We run a background and credit check "
        "($45 per adult). Most applications are approved within two business days.",
        "data": {"keywords": ["apply", "application", "approval", "credit", "background check"]},
    },
    {
        "title": "Can I bring my own home?",
        "body": "Yes, homes built in 2000 or later may be moved in after an inspection. Ask the office for the "
        "current open lots.",
        "data": {"keywords": ["bring my own", "move my home", "own home", "open lots", "lot available"]},
    },
    {
        "title": "Do you offer financing?",
        "body": "We work with several manufactured-home lenders and offer rent-to-own on many homes. "
        "Down payments start around 5%.",
        "data": {"keywords": ["financing", "finance", "loan", "rent-to-own", "down payment", "mortgage"]},
    },
]

AGENT_POLICIES = [
    {
        "title": "Maintenance emergencies",
        "body": "For water leaks, gas smells or electrical hazards call 911 if anyone is in danger, then the "
        "community's office line. After hours, the office line forwards to the on-call manager.",
        "data": {"keywords": ["emergency", "leak", "gas", "flood", "fire"], "handoff": True},
    },
    {
        "title": "Quiet hours",
        "body": "Quiet hours are 10 PM to 7 AM in every community.",
        "data": {"keywords": ["quiet", "noise", "loud"]},
    },
]


# --- the sandbox's side: Meta Pages and Instagram accounts of the demo business ---


def page_id(loc: DemoLocation) -> str:
    """A 15-digit Page id, stable per location."""
    return "1" + str(int(hashlib.sha256(("page:" + loc.slug).encode()).hexdigest(), 16))[:14]


def instagram_id(loc: DemoLocation) -> str:
    """A 17-digit Instagram professional account id (IGID), stable per location."""
    return "17841" + str(int(hashlib.sha256(("ig:" + loc.slug).encode()).hexdigest(), 16))[:12]


def sandbox_token(app_secret: str, kind: str, subject: str) -> str:
    """The token the sandbox issues for a Page (kind 'page') or other grant: stable for one app secret."""
    digest = hmac.new(app_secret.encode(), f"{kind}:{subject}".encode(), hashlib.sha256).hexdigest()
    return f"EAAsbx{kind[:2].upper()}{digest[:48]}"


def mailbox_password(app_secret: str, address: str) -> str:
    """The password of a demo inbox on the sandbox mail server."""
    return hmac.new(app_secret.encode(), f"mail:{address}".encode(), hashlib.sha256).hexdigest()[:20]


# --- the web widget of each location, and the sandbox page that embeds it (another origin, like a real site) ---

WIDGET_COLORS = ("#1d4ed8", "#0f766e", "#9333ea", "#b45309", "#be123c")


def widget_key(app_secret: str, loc: DemoLocation) -> str:
    """The public key of a location's demo widget: unguessable without the app secret, stable for it, so the
    sandbox's demo site and the seeded widget agree."""
    digest = hmac.new(app_secret.encode(), f"widget:{loc.slug}".encode(), hashlib.sha256).digest()
    return "wk_" + base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def widget_host(loc: DemoLocation) -> str:
    return loc.website.removeprefix("https://")


def widget_meta(loc: DemoLocation, sandbox_origins: list[str]) -> dict:
    """The demo widget's settings: the location's own site, and the sandbox's demo page for trying it locally."""
    host = widget_host(loc)
    index = LOCATIONS.index(loc) if loc in LOCATIONS else 0
    return {
        "site": host,
        "allowed_origins": [f"https://{host}", f"https://www.{host}", *sandbox_origins],
        "appearance": {
            "title": loc.name,
            "greeting": f"Hi! Welcome to {loc.name}. Ask us about available homes, lot rent, pets or a tour.",
            "launcher_text": "Questions? Chat with us",
            "color": WIDGET_COLORS[index % len(WIDGET_COLORS)],
            "text_color": "#ffffff",
            "position": "right",
        },
        "rating_scale": "thumbs" if index % 2 == 0 else "five",
        "ask_contact": True,
        "sandbox": True,
    }


# --- the demo calendars: one per community (Forge at the Lake shares its tours among three), in the sandbox ---

CALENDAR_SCOPES = {
    "google": "https://www.googleapis.com/auth/calendar.freebusy https://www.googleapis.com/auth/calendar.events.owned",
    "microsoft": "https://graph.microsoft.com/Calendars.ReadWrite",
}


def demo_calendars(loc: DemoLocation) -> list[tuple[str, str, str]]:
    """(provider, address, name) of a community's demo calendars: Google and Microsoft 365 in turn."""
    index = LOCATIONS.index(loc) if loc in LOCATIONS else 0
    provider = "google" if index % 2 == 0 else "microsoft"
    calendars = [(provider, f"tours.{loc.email_local}@{EMAIL_DOMAIN}", f"{loc.name} leasing office")]
    if index == 0:  # round robin among staff calendars
        calendars += [
            ("google", f"maria.{loc.email_local}@{EMAIL_DOMAIN}", "Maria (community manager)"),
            ("microsoft", f"devon.{loc.email_local}@{EMAIL_DOMAIN}", "Devon (leasing agent)"),
        ]
    return calendars


def calendar_refresh_token(app_secret: str, provider: str, address: str) -> str:
    """The refresh token of a demo calendar's grant: the sandbox's token endpoint honours it (stable per secret)."""
    digest = hmac.new(app_secret.encode(), f"calendar:{provider}:{address}".encode(), hashlib.sha256).hexdigest()
    return f"sbx-demo-calendar.{provider}.{address}.{digest[:40]}"


def demo_busy(address: str, day, zone: str) -> list[tuple[str, str, str]]:
    """Staff meetings on a demo calendar for one local day: (start HH:MM, end HH:MM, title), the same every run."""
    rng = _rng(f"busy:{address}:{day.isoformat()}")
    if day.weekday() == 6 and rng.random() < 0.7:
        return []
    meetings = []
    for _ in range(rng.randint(1, 3)):
        hour = rng.choice((9, 10, 11, 13, 14, 15, 16))
        minute = rng.choice((0, 30))
        length = rng.choice((30, 60, 60, 90))
        end = hour * 60 + minute + length
        title = rng.choice(("Team huddle", "Vendor walkthrough", "Lot inspection", "Resident meeting", "Lunch"))
        meetings.append((f"{hour:02d}:{minute:02d}", f"{end // 60:02d}:{end % 60:02d}", title))
    return sorted(meetings)


# --- SMS (Twilio) and WhatsApp (Cloud API): a number per community --------------------------------------------------
# One Twilio account holds the business's numbers; every other community's number sits in a Messaging Service pool
# (the US A2P 10DLC setup), the rest stand alone. One WhatsApp Business Account holds a number per community.

TWILIO_SERVICE_NAME = "MHP Communities (A2P 10DLC)"
WABA_NAME = "MHP Communities"


def _hex(seed: str, n: int = 32) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def twilio_account_sid() -> str:
    return "AC" + _hex("twilio:account")


def twilio_auth_token(app_secret: str) -> str:
    """The demo Twilio account's Auth Token: stable for one app secret, like the Page tokens."""
    return hmac.new(app_secret.encode(), b"twilio:auth-token", hashlib.sha256).hexdigest()[:32]


def twilio_service_sid() -> str:
    return "MG" + _hex("twilio:service")


def _area_code(loc: DemoLocation) -> str:
    return "".join(ch for ch in loc.phone if ch.isdigit())[:3]


def sms_number(loc: DemoLocation) -> str:
    """The community's texting number (E.164), beside its office line: (936) 555-0141 → +19365550201…"""
    return f"+1{_area_code(loc)}55502{LOCATIONS.index(loc):02d}"


def sms_number_sid(loc: DemoLocation) -> str:
    return "PN" + _hex("twilio:number:" + loc.slug)


def sms_in_pool(loc: DemoLocation) -> bool:
    """Every other community texts from a number in the Messaging Service pool."""
    return LOCATIONS.index(loc) % 2 == 1


def waba_id() -> str:
    return "1" + str(int(_hex("waba", 30), 16))[:14]


def whatsapp_token(app_secret: str) -> str:
    """The business's WhatsApp token (a system user's, from Embedded Signup) in the sandbox."""
    return sandbox_token(app_secret, "whatsapp", waba_id())


def whatsapp_phone_number_id(loc: DemoLocation) -> str:
    return "1" + str(int(_hex("wa-phone:" + loc.slug, 30), 16))[:14]


def whatsapp_number(loc: DemoLocation) -> str:
    return f"+1{_area_code(loc)}55503{LOCATIONS.index(loc):02d}"
