"""A page per location (issue 22): hours with "copy these hours to other locations", its accounts with health, its
knowledge, team and calendars; another organization's location is not found."""

from __future__ import annotations

from chatpad.models import Contact, Conversation, Location
from tests.conftest import csrf_from, login


def test_location_page_and_copy_hours(app, db, make):
    biz = make.business("Parks")
    biz.location.name = "Forge at the Lake"
    biz.location.hours = {"weekly": {"mon": [["08:00", "12:00"]], "sat": [["10:00", "14:00"]]}}
    biz.account.account_name = "Forge Lake Community"
    biz.account.status = "needs_reauth"
    closed = make.location(biz.agent, "Clearview Estates", hours={"weekly": {}, "exceptions": [{"date": "2026-12-25"}]})
    other = make.location(biz.agent, "Bluebonnet Meadows")
    untouched = make.location(biz.agent, "Pecan Grove")
    make.knowledge(biz.agent, biz.location)
    contact = Contact(organization_id=biz.org.id, name="Jo")
    db.session.add(contact)
    db.session.flush()
    db.session.add(
        Conversation(
            organization_id=biz.org.id,
            agent_id=biz.agent.id,
            location_id=biz.location.id,
            social_account_id=biz.account.id,
            contact_id=contact.id,
            channel="facebook",
        )
    )
    db.session.commit()
    client = app.test_client()
    login(client, biz.user.email)
    page = client.get(f"/admin/location/{biz.location.id}").get_data(as_text=True)
    assert "Forge at the Lake" in page and "08:00–12:00" in page and "Closed" in page
    assert "Forge Lake Community" in page and "Needs reconnection" in page and "1 item for this location" in page
    assert "<strong>1</strong> in the last 30 days · <strong>1</strong> open or waiting" in page
    assert f'href="/admin/inbox/?location={biz.location.id}"' in page
    listing = client.get("/admin/locations/").get_data(as_text=True)
    assert f'href="/admin/location/{biz.location.id}" class="location-page-link">Forge at the Lake</a>' in listing
    integrations = client.get(f"/admin/integrations/?agent={biz.agent.id}&group=location").get_data(as_text=True)
    assert f'href="/admin/location/{biz.location.id}"' in integrations

    copied = client.post(
        f"/admin/location/{biz.location.id}/copy-hours",
        data={"csrf_token": csrf_from(page), "to": [str(closed.id), str(other.id)]},
        follow_redirects=True,
    )
    assert "weekly hours are copied to Bluebonnet Meadows, Clearview Estates" in copied.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Location, closed.id).hours["weekly"] == {
        "mon": [["08:00", "12:00"]],
        "sat": [["10:00", "14:00"]],
    }
    assert db.session.get(Location, closed.id).hours["exceptions"] == [{"date": "2026-12-25"}]  # its own holidays kept
    assert db.session.get(Location, other.id).hours["weekly"]["mon"] == [["08:00", "12:00"]]
    assert db.session.get(Location, untouched.id).hours["weekly"]["mon"] == [["09:00", "17:00"]]  # not ticked: kept

    stranger = make.business("Elsewhere")
    assert client.get(f"/admin/location/{stranger.location.id}").status_code == 404
    bad = client.post(
        f"/admin/location/{biz.location.id}/copy-hours",
        data={"csrf_token": csrf_from(page), "to": [str(stranger.location.id)]},
    )
    assert bad.status_code == 400
    assert client.get("/admin/location/not-a-uuid").status_code == 404


def test_listings_export_as_csv_that_the_import_reads_back(app, db, make):
    from chatpad.knowledge import read_listings_csv

    biz = make.business("Listings")
    make.knowledge(
        biz.agent,
        biz.location,
        kind="property",
        title="Lot 14 · 3 bed",
        body="Corner lot, =new deck",
        data={"lot": "14", "beds": 3, "baths": 1.5, "sqft": 1280, "year": 2019, "price": 74900, "status": "pending"},
    )
    make.knowledge(biz.agent, biz.location, kind="faq", title="Pets?")
    elsewhere = make.location(biz.agent, "Other")
    make.knowledge(biz.agent, elsewhere, kind="property", title="Lot 99", data={"lot": "99"})
    db.session.commit()
    client = app.test_client()
    login(client, biz.user.email)
    page = client.get(f"/admin/location/{biz.location.id}").get_data(as_text=True)
    assert "1 of them listings" in page and 'id="export-listings"' in page
    response = client.get(f"/admin/location/{biz.location.id}/listings.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == "lot,title,beds,baths,sqft,price,year,status,description"
    assert "Lot 99" not in text and "Pets?" not in text
    assert "'=new deck" not in text  # only a cell that starts like a formula is quoted
    plan = read_listings_csv(response.get_data(), {})
    assert len(plan.items) == 1 and not plan.problems
    item = plan.items[0]
    assert item.title == "Lot 14 · 3 bed" and item.body == "Corner lot, =new deck"
    assert item.data == {
        "lot": "14",
        "beds": 3,
        "baths": 1.5,
        "sqft": 1280,
        "year": 2019,
        "price": 74900,
        "status": "pending",
    }
