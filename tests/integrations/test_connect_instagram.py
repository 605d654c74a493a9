"""Connecting Page-linked Instagram professional accounts: listed with their usernames from the granted Pages,
assigned like Pages (pre-selected from their Page's location), subscribed through their Page, reconnected and
disconnected without breaking the Page's Messenger."""

from __future__ import annotations

from sqlalchemy import select

from chatpad.integrations.meta import INSTAGRAM_PAGE_FIELDS, MESSENGER_FIELDS
from chatpad.models import SocialAccount
from tests.plugins.connect import post_form, run_flow


def subscribed(meta_sandbox, page_id) -> list[str]:
    return sorted(next(p for p in meta_sandbox._call("GET", "pages") if p["id"] == page_id)["subscribed_fields"])


def accounts(db, org_id, channel):
    db.session.expire_all()
    return {
        a.account_name: a
        for a in db.session.scalars(
            select(SocialAccount).where(SocialAccount.tenant_clause(org_id), SocialAccount.channel == channel)
        )
    }


def test_connect_instagram_accounts(admin_client, fb_login, meta_sandbox, db):
    """The granted Pages' Instagram accounts are listed by username, Pages without one are named, the location comes
    from the account's Facebook Page, and each account is stored with its Page's token."""
    client, biz = admin_client(locations=("Forge at the Lake", "Clearview Estates"))
    run_flow(client, fb_login, biz.agent.id, fb_login.ids(["Forge Lake Community"]))
    forge_page = accounts(db, biz.org.id, "facebook")["Forge Lake Community"]
    # The Forge Page answers for Clearview (an admin's choice): its Instagram account should follow the Page.
    clearview = next(loc for loc in biz.agent.locations if loc.name == "Clearview Estates")
    forge_page.location_id = clearview.id
    db.session.commit()

    selection = run_flow(client, fb_login, biz.agent.id, None, kind="instagram")
    html = client.get(selection.headers["Location"]).get_data(as_text=True)
    assert "@forgelakemhp" in html and "@lakeviewterrace" in html
    assert "Pages with no Instagram professional account linked" in html and "Cedar Hollow Homes" in html

    ids = fb_login.ids(["forgelakemhp", "clearviewmhp", "riverbendmhp"], instagram=True)
    done = run_flow(client, fb_login, biz.agent.id, ids, kind="instagram")
    assert done.status_code == 302
    assert "Connected 3 Instagram accounts." in client.get(done.headers["Location"]).get_data(as_text=True)

    ig = accounts(db, biz.org.id, "instagram")
    assert set(ig) == {"@forgelakemhp", "@clearviewmhp", "@riverbendmhp"}
    assert ig["@forgelakemhp"].location_id == clearview.id  # its Page's location, not its name
    assert ig["@clearviewmhp"].location.name == "Clearview Estates"  # by name
    assert ig["@riverbendmhp"].location is None
    forge = fb_login.page("Forge Lake Community")
    assert ig["@forgelakemhp"].meta["page_id"] == forge["id"]
    assert ig["@forgelakemhp"].access_token == forge["access_token"]  # Page-linked Instagram uses the Page token
    # A Page ChatPad serves on Messenger keeps Messenger's fields; one with no subscription gets the one field
    # Instagram needs; one already subscribed keeps what it has (the demo's Clearview Page).
    assert subscribed(meta_sandbox, forge["id"]) == sorted(MESSENGER_FIELDS)
    assert subscribed(meta_sandbox, fb_login.page("Riverbend MHP")["id"]) == sorted(INSTAGRAM_PAGE_FIELDS)
    assert subscribed(meta_sandbox, fb_login.page("Clearview MHP")["id"]) == sorted(MESSENGER_FIELDS)
    assert not meta_sandbox.requests(f"{fb_login.page('Clearview MHP')['id']}/subscribed_apps", "POST")


def test_no_instagram_account_on_the_granted_pages(admin_client, fb_login, db):
    """Granting only Pages without a linked Instagram account explains how to link one; nothing is stored."""
    client, biz = admin_client()
    pages = fb_login.ids(["Cedar Hollow Homes", "MHP Communities Careers"])
    response = run_flow(client, fb_login, biz.agent.id, None, kind="instagram", pages=pages)
    html = response.get_data(as_text=True)
    assert "None of the Pages you granted has an Instagram professional account linked to it." in html
    assert "Meta Business Suite" in html
    assert accounts(db, biz.org.id, "instagram") == {}


def test_disconnect_keeps_the_page_subscription_while_the_other_needs_it(admin_client, fb_login, meta_sandbox, db):
    """Disconnecting the Page leaves its subscription for its Instagram account; disconnecting that too removes it."""
    client, biz = admin_client()
    run_flow(client, fb_login, biz.agent.id, fb_login.ids(["Forge Lake Community"]))
    run_flow(client, fb_login, biz.agent.id, fb_login.ids(["forgelakemhp"], instagram=True), kind="instagram")
    forge_id = fb_login.page("Forge Lake Community")["id"]
    index = f"/admin/integrations/?agent={biz.agent.id}"

    page = accounts(db, biz.org.id, "facebook")["Forge Lake Community"]
    post_form(client, f"/admin/integrations/accounts/{page.id}/disconnect", page_url=index)
    assert subscribed(meta_sandbox, forge_id) == sorted(MESSENGER_FIELDS)
    ig = accounts(db, biz.org.id, "instagram")["@forgelakemhp"]
    post_form(client, f"/admin/integrations/accounts/{ig.id}/disconnect", page_url=index)
    assert subscribed(meta_sandbox, forge_id) == []
    assert {a.status for a in accounts(db, biz.org.id, "instagram").values()} == {"disconnected"}


def test_reconnect_instagram_account(admin_client, fb_login, meta_sandbox, db):
    """An Instagram account whose Page token died is reconnected through Facebook Login, in place."""
    from chatpad.integrations.health import check_account

    client, biz = admin_client()
    run_flow(client, fb_login, biz.agent.id, fb_login.ids(["forgelakemhp"], instagram=True), kind="instagram")
    ig = accounts(db, biz.org.id, "instagram")["@forgelakemhp"]
    meta_sandbox.invalidate_token(ig.meta["page_id"], subcode=460)
    check_account(ig)
    assert accounts(db, biz.org.id, "instagram")["@forgelakemhp"].status == "needs_reauth"
    start = client.get(f"/admin/integrations/accounts/{ig.id}/reconnect")
    assert "instagram_manage_messages" in start.headers["Location"]
    done = client.get(fb_login.answer(start.headers["Location"]))
    assert done.status_code == 302
    again = accounts(db, biz.org.id, "instagram")["@forgelakemhp"]
    assert again.id == ig.id and again.status == "connected"
    assert again.access_token == fb_login.page("Forge Lake Community")["access_token"]
