"""The demo business: what `flask chatpad demo` seeds, and that seeding twice changes nothing."""

from sqlalchemy import func, select, text

from chatpad.models import Calendar, KnowledgeItem, Location, Organization, SocialAccount, User


def _counts(db):
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Organization, User, Location, KnowledgeItem, SocialAccount)
    }


def test_demo_seeds_the_seeds_example_business(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["chatpad", "demo"])
    assert result.exit_code == 0, result.output
    assert "admin@mhpcommunities.com" in result.output and "chatpad-demo-2026" in result.output

    locations = db.session.scalars(select(Location)).all()
    assert len(locations) == 20
    states = {loc.address.rsplit(",", 1)[1].split()[0] for loc in locations}
    assert states == {"TX", "FL", "GA", "NC", "AZ"}
    forge = next(loc for loc in locations if loc.name == "Forge at the Lake")
    assert forge.hours["weekly"]["mon"] and forge.booking_url.startswith("https://")

    by_channel = dict(
        db.session.execute(select(SocialAccount.channel, func.count()).group_by(SocialAccount.channel)).all()
    )
    assert by_channel == {"facebook": 20, "instagram": 20, "email": 21, "widget": 20, "sms": 20, "whatsapp": 20}
    numbers = db.session.scalars(select(SocialAccount).where(SocialAccount.channel == "sms")).all()
    assert {n.location_id for n in numbers} == {loc.id for loc in locations}
    assert all(n.account_id.startswith("+1") for n in numbers)
    whatsapp = db.session.scalars(select(SocialAccount).where(SocialAccount.channel == "whatsapp")).all()
    assert {n.location_id for n in whatsapp} == {loc.id for loc in locations}
    assert all(n.access_token and n.meta["display_phone_number"].startswith("+1") for n in whatsapp)
    general = db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == "info@mhpcommunities.com"))
    assert general.location_id is None
    page = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == "Forge Lake Community"))
    assert page.location_id == forge.id and page.access_token

    # Every community books tours from a demo calendar in the sandbox (Forge at the Lake shares them among three).
    calendars = db.session.scalars(select(Calendar)).all()
    assert {c.location_id for c in calendars} == {loc.id for loc in locations} and len(calendars) == 22
    assert {c.provider for c in calendars} == {"google", "microsoft"}
    assert all(c.refresh_token and c.status == "connected" for c in calendars)

    listings = db.session.scalars(select(KnowledgeItem).where(KnowledgeItem.kind == "property")).all()
    assert len(listings) >= 60 and all(item.data["price"] > 0 for item in listings)

    widget = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == "Widget • forgelake.com"))
    assert widget.location_id == forge.id and widget.account_id.startswith("wk_") and widget.access_token is None
    assert "https://forgelake.com" in widget.meta["allowed_origins"]

    raw_tokens = (
        db.session.execute(text("SELECT access_token FROM social_accounts WHERE access_token IS NOT NULL"))
        .scalars()
        .all()
    )
    assert all(t.startswith("gAAAA") for t in raw_tokens)


def test_demo_is_idempotent(app, db):
    runner = app.test_cli_runner()
    runner.invoke(args=["chatpad", "demo"])
    before = _counts(db)
    result = runner.invoke(args=["chatpad", "demo"])
    assert "nothing changed" in result.output
    assert _counts(db) == before
