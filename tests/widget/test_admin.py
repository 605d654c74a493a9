"""The admin's widget page: create a widget for a location, set its origins and look, copy the script tag, rotate
the key — within the signed-in user's organization only, with bad input explained and nothing half-saved."""

from __future__ import annotations

from sqlalchemy import func, select

from chatpad.models import AuditLog, SocialAccount
from tests.conftest import csrf_from, login
from tests.plugins.widget import WidgetVisitor, make_widget


def widget_form(page: str, location_id, **overrides) -> dict:
    data = {
        "csrf_token": csrf_from(page),
        "location": str(location_id),
        "agent": "",
        "site": "forgelake.com",
        "allowed_origins": "https://forgelake.com\nwww.forgelake.com",
        "title": "",
        "greeting": "Hi there! Ask us anything.",
        "launcher_text": "Chat with us",
        "color": "#0F766E",
        "text_color": "#ffffff",
        "position": "left",
        "rating_scale": "five",
        "ask_contact": "y",
        "is_active": "y",
    }
    data.update(overrides)
    return data


def widgets(db):
    db.session.expire_all()
    return db.session.scalars(select(SocialAccount).where(SocialAccount.channel == "widget")).all()


def test_an_admin_creates_a_widget_and_gets_its_script_tag(client, db, make):
    """Creating a widget stores a random key, normalized origins and the look; the edit page shows the script tag."""
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/widgets/new").get_data(as_text=True)
    response = client.post("/admin/widgets/new", data=widget_form(page, biz.location.id))
    assert response.status_code == 302
    (account,) = widgets(db)
    assert account.account_name == "Widget • forgelake.com"
    assert account.account_id.startswith("wk_") and len(account.account_id) >= 24
    assert account.location_id == biz.location.id and account.agent_id == biz.agent.id
    assert account.meta["allowed_origins"] == ["https://forgelake.com", "https://www.forgelake.com"]
    assert account.meta["appearance"]["color"] == "#0f766e" and account.meta["appearance"]["position"] == "left"
    assert account.meta["rating_scale"] == "five"
    edit = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"data-chatpad-key=&#34;{account.account_id}&#34; async" in edit  # the tag, escaped into the input
    assert "/widget.js" in edit
    assert db.session.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "social_accounts.create")
    )

    listing = client.get("/admin/widgets/").get_data(as_text=True)
    assert "Widget • forgelake.com" in listing and "https://www.forgelake.com" in listing
    accounts = client.get("/admin/accounts/").get_data(as_text=True)
    assert "Widget • forgelake.com" in accounts  # beside the Pages, Instagram accounts and inboxes


def test_the_new_settings_reach_the_visitors_browser(client, db, make):
    """What the admin saves is what the widget's config endpoint gives an allowed page."""
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/widgets/new").get_data(as_text=True)
    client.post("/admin/widgets/new", data=widget_form(page, biz.location.id, title="Forge Lake"))
    (account,) = widgets(db)
    config = WidgetVisitor(client, account.account_id, origin="https://forgelake.com").get("config").get_json()
    assert config["config"]["title"] == "Forge Lake" and config["config"]["position"] == "left"
    refused = WidgetVisitor(client, account.account_id, origin="https://elsewhere.com").get("config")
    assert refused.status_code == 403


def test_bad_settings_are_explained_and_nothing_is_saved(client, db, make):
    """A bad origin, colour or overlong text is shown on the form; no widget is created."""
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/widgets/new").get_data(as_text=True)
    response = client.post(
        "/admin/widgets/new",
        data=widget_form(
            page,
            biz.location.id,
            allowed_origins="https://forgelake.com/contact",
            color="red; display:none",
            launcher_text="x" * 41,
        ),
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "without a path" in html and "A colour like #1d4ed8" in html
    assert widgets(db) == []


def test_another_organizations_location_and_widgets_are_out_of_reach(client, db, make):
    """An admin can neither attach a widget to another business's location nor open its widgets."""
    mine = make.business("Mine")
    theirs = make.business("Theirs")
    their_widget = make_widget(make, theirs, ["https://theirs.com"])
    login(client, mine.user.email)
    page = client.get("/admin/widgets/new").get_data(as_text=True)
    assert theirs.location.name not in page
    response = client.post("/admin/widgets/new", data=widget_form(page, theirs.location.id))
    assert response.status_code == 200 and "Not a valid choice" in response.get_data(as_text=True)
    assert client.get(f"/admin/widgets/edit/{their_widget.id}").status_code == 404
    assert (
        client.post(f"/admin/widgets/rotate/{their_widget.id}", data={"csrf_token": csrf_from(page)}).status_code == 404
    )
    assert "theirs.com" not in client.get("/admin/widgets/").get_data(as_text=True)


def test_editing_keeps_the_key_and_rotating_replaces_it(client, db, make):
    """Saving settings keeps the script tag valid; "Issue a new key" retires the old one at once."""
    biz = make.business()
    account = make_widget(make, biz, ["https://forgelake.com"])
    old_key = account.account_id
    login(client, biz.user.email)
    page = client.get(f"/admin/widgets/edit/{account.id}").get_data(as_text=True)
    assert "https://forgelake.com" in page
    response = client.post(
        f"/admin/widgets/edit/{account.id}", data=widget_form(page, biz.location.id, greeting="New greeting")
    )
    assert response.status_code == 302
    db.session.refresh(account)
    assert account.account_id == old_key and account.meta["appearance"]["greeting"] == "New greeting"

    assert client.post(f"/admin/widgets/rotate/{account.id}", data={}).status_code == 400  # CSRF token required
    client.post(f"/admin/widgets/rotate/{account.id}", data={"csrf_token": csrf_from(page)})
    db.session.refresh(account)
    assert account.account_id != old_key
    assert WidgetVisitor(client, old_key, origin="https://forgelake.com").get("config").status_code == 404
    assert WidgetVisitor(client, account.account_id, origin="https://forgelake.com").get("config").status_code == 200


def test_agents_cannot_manage_widgets(client, db, make):
    """Widget settings are for owners and admins, like every account setting."""
    biz = make.business()
    agent_user = make.user(biz.org, role="agent")
    login(client, agent_user.email)
    assert client.get("/admin/widgets/").status_code == 403
