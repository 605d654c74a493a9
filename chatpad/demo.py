"""Seeding the demo business (`flask --app app chatpad demo`). Idempotent: only what is missing is created."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.extensions import db
from chatpad.models import Agent, Calendar, KnowledgeItem, Location, Organization, SocialAccount, TourType, User


@dataclass
class DemoResult:
    organization: Organization
    admin_email: str
    admin_password: str | None  # None when the admin already existed (its password is not ours to print)
    created: int


def _get_or_create(model, defaults: dict | None = None, **keys):
    row = db.session.scalar(select(model).filter_by(**keys))
    if row is not None:
        return row, False
    row = model(**keys, **(defaults or {}))
    db.session.add(row)
    db.session.flush()
    return row, True


def email_account_meta(address: str) -> dict:
    """How a demo inbox is reached: the sandbox mail server (chatpad.sandbox.mail)."""
    cfg = current_app.config
    return {
        "provider": "imap",
        "imap_host": cfg.get("SANDBOX_MAIL_HOST", "127.0.0.1"),
        "imap_port": int(cfg.get("SANDBOX_IMAP_PORT", 1143)),
        "smtp_host": cfg.get("SANDBOX_MAIL_HOST", "127.0.0.1"),
        "smtp_port": int(cfg.get("SANDBOX_SMTP_PORT", 1025)),
        "security": "none",
        "username": address,
        "sandbox": True,
    }


def sandbox_origins() -> list[str]:
    """Where the sandbox's demo site is served (chatpad/sandbox/widget.py): the demo widgets allow it."""
    url = current_app.config.get("SANDBOX_URL")
    if not url:
        return []
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    origins = [f"{parts.scheme}://{parts.netloc}"]
    if parts.hostname in ("127.0.0.1", "localhost"):
        other = "localhost" if parts.hostname == "127.0.0.1" else "127.0.0.1"
        origins.append(f"{parts.scheme}://{other}" + (f":{parts.port}" if parts.port else ""))
    return origins


def seed_demo() -> DemoResult:
    """Create the MHP Communities business with 20 locations and their Facebook, Instagram, email, SMS, WhatsApp and
    widget accounts, and a demo calendar per community (the sandbox's Google and Microsoft stand-ins), so a customer
    can book a tour from the first message."""
    secret = current_app.config["META_APP_SECRET"]
    created = 0

    def track(pair):
        nonlocal created
        row, was_created = pair
        created += was_created
        return row

    org = track(_get_or_create(Organization, name=D.ORG_NAME))
    admin = db.session.scalar(select(User).filter_by(email=D.ADMIN_EMAIL))
    password = None
    if admin is None:
        admin = User(organization_id=org.id, email=D.ADMIN_EMAIL, name="Demo Admin", role="owner")
        admin.set_password(D.ADMIN_PASSWORD)
        db.session.add(admin)
        created += 1
        password = D.ADMIN_PASSWORD
    agent = track(
        _get_or_create(
            Agent,
            defaults={"instructions": D.AGENT_INSTRUCTIONS, "handoff_topics": D.AGENT_HANDOFF_TOPICS},
            organization_id=org.id,
            name=D.AGENT_NAME,
        )
    )
    for item in D.AGENT_FAQS:
        track(
            _get_or_create(
                KnowledgeItem,
                defaults=_knowledge(item),
                agent_id=agent.id,
                location_id=None,
                kind="faq",
                title=item["title"],
            )
        )
    for item in D.AGENT_POLICIES:
        track(
            _get_or_create(
                KnowledgeItem,
                defaults=_knowledge(item),
                agent_id=agent.id,
                location_id=None,
                kind="policy",
                title=item["title"],
            )
        )

    for loc in D.LOCATIONS:
        location = track(
            _get_or_create(
                Location,
                defaults={
                    "timezone": loc.timezone,
                    "address": loc.address,
                    "phone": loc.phone,
                    "email": loc.email,
                    "website": loc.website,
                    "booking_url": loc.booking_url,
                    "hours": D.location_hours(loc),
                    "languages": list(D.LOCATION_LANGUAGES),
                    "settings": {
                        "story_mention_reply": f"Thanks for the shout-out, we love being part of your story! 💙 "
                        f"— the {loc.name} team",
                        "email_signature": f"The {loc.name} team\n{loc.address}\n{loc.phone}",
                    },
                },
                agent_id=agent.id,
                name=loc.name,
            )
        )
        for item in D.location_listings(loc):
            track(
                _get_or_create(
                    KnowledgeItem,
                    defaults=_knowledge(item),
                    agent_id=agent.id,
                    location_id=location.id,
                    kind="property",
                    title=item["title"],
                )
            )
        for item in D.location_faqs(loc):
            track(
                _get_or_create(
                    KnowledgeItem,
                    defaults=_knowledge(item),
                    agent_id=agent.id,
                    location_id=location.id,
                    kind="faq",
                    title=item["title"],
                )
            )

        page_id = D.page_id(loc)
        page_token = D.sandbox_token(secret, "page", page_id)
        track(_account("facebook", page_id, loc.page_name, agent, location, page_token, {"sandbox": True}))
        track(
            _account(
                "instagram",
                D.instagram_id(loc),
                f"@{loc.ig_username}",
                agent,
                location,
                page_token,  # Page-linked Instagram messaging uses the Page's token
                {"sandbox": True, "page_id": page_id, "username": loc.ig_username},
            )
        )
        track(
            _account(
                "email",
                loc.email,
                loc.email,
                agent,
                location,
                D.mailbox_password(secret, loc.email),
                email_account_meta(loc.email),
            )
        )
        track(
            _account(
                "sms",
                D.sms_number(loc),
                f"{loc.name} texting line",
                agent,
                location,
                D.twilio_auth_token(secret),
                {
                    "sandbox": True,
                    "provider": "twilio",
                    "account_sid": D.twilio_account_sid(),
                    "number_sid": D.sms_number_sid(loc),
                    "messaging_service_sid": D.twilio_service_sid() if D.sms_in_pool(loc) else None,
                    "messaging_service_name": D.TWILIO_SERVICE_NAME if D.sms_in_pool(loc) else None,
                },
            )
        )
        track(
            _account(
                "whatsapp",
                D.whatsapp_phone_number_id(loc),
                f"{loc.name} WhatsApp",
                agent,
                location,
                D.whatsapp_token(secret),
                {
                    "sandbox": True,
                    "waba_id": D.waba_id(),
                    "waba_name": D.WABA_NAME,
                    "display_phone_number": D.whatsapp_number(loc),
                },
            )
        )
        for provider, address, name in D.demo_calendars(loc):
            track(_calendar(location, provider, address, name, secret))
        if db.session.get(TourType, location.id) is None:
            db.session.add(TourType(location_id=location.id, title="Community tour"))
            created += 1
        track(
            _account(
                "widget",
                D.widget_key(secret, loc),
                f"Widget • {D.widget_host(loc)}",
                agent,
                location,
                None,
                D.widget_meta(loc, sandbox_origins()),
            )
        )
    track(
        _account(
            "email",
            D.GENERAL_INBOX,
            D.GENERAL_INBOX,
            agent,
            None,
            D.mailbox_password(secret, D.GENERAL_INBOX),
            email_account_meta(D.GENERAL_INBOX),
        )
    )
    db.session.commit()
    return DemoResult(org, D.ADMIN_EMAIL, password, created)


def _knowledge(item: dict) -> dict:
    return {"body": item["body"], "data": item.get("data", {})}


def _account(channel, account_id, name, agent, location, token, meta):
    existing = db.session.scalar(select(SocialAccount).filter_by(channel=channel, account_id=account_id))
    if existing is not None:
        return existing, False
    account = SocialAccount(
        channel=channel,
        account_id=account_id,
        account_name=name,
        agent_id=agent.id,
        location_id=location.id if location else None,
        access_token=token,
        is_active=True,
        status="connected",
        meta=meta,
    )
    db.session.add(account)
    return account, True


def _calendar(location: Location, provider: str, address: str, name: str, secret: str):
    """A demo calendar in the sandbox (chatpad/sandbox/calendars.py), connected by a refresh token the sandbox's
    token endpoint honours (demo_data.calendar_refresh_token): the first use refreshes it like any real grant."""
    existing = db.session.scalar(
        select(Calendar).filter_by(location_id=location.id, provider=provider, remote_id=address)
    )
    if existing is not None:
        return existing, False
    calendar = Calendar(
        agent_id=location.agent_id,
        location_id=location.id,
        provider=provider,
        name=name,
        account=address,
        remote_id=address,
        refresh_token=D.calendar_refresh_token(secret, provider, address),
        status="connected",
        is_active=True,
        meta={"sandbox": True},
    )
    db.session.add(calendar)
    return calendar, True
