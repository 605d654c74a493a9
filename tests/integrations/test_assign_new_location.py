"""A location created from the assignment step of connecting Pages (issue 22): choices made so far are kept, Pages on
General that match the new name move to it, and a duplicate or empty name is refused with nothing created."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from chatpad.models import Location, SocialAccount
from tests.conftest import csrf_from
from tests.plugins.connect import run_flow


@pytest.fixture
def business(admin_client):
    return admin_client(locations=("Forge at the Lake", "Clearview Estates"))


def _choices(page: str) -> dict[str, str]:
    return dict(re.findall(r'<select name="location-(\w+)"[^>]*>.*?<option value="([^"]*)" selected', page, re.S))


def test_a_location_added_in_the_assignment_step(business, fb_login, db):
    client, biz = business
    forge, riverbend, clearview = fb_login.ids(["Forge Lake Community", "Riverbend MHP", "Clearview MHP"])
    selected = run_flow(client, fb_login, biz.agent.id, None)
    select_url = selected.headers["Location"]
    page = client.get(select_url).get_data(as_text=True)
    chosen = client.post(select_url, data={"csrf_token": csrf_from(page), "candidate": [forge, riverbend, clearview]})
    assign_url = chosen.headers["Location"]
    page = client.get(assign_url).get_data(as_text=True)
    assert 'id="add-location"' in page
    locations = {loc.name: str(loc.id) for loc in biz.agent.locations}
    # The admin moved Clearview MHP to General by hand before noticing Riverbend has no location.
    form = {
        "csrf_token": csrf_from(page),
        f"location-{forge}": locations["Forge at the Lake"],
        f"location-{riverbend}": "",
        f"location-{clearview}": "",
        "action": "add_location",
        "new_location_name": "  Riverbend  ",
    }
    added = client.post(assign_url, data=form)
    assert added.status_code == 302 and added.headers["Location"].endswith("/assign")
    db.session.expire_all()
    new = db.session.scalar(select(Location).where(Location.agent_id == biz.agent.id, Location.name == "Riverbend"))
    assert new is not None
    page = client.get(assign_url).get_data(as_text=True)
    assert "Location Riverbend is added. 1 account matching its name now points to it." in page
    assert _choices(page) == {forge: locations["Forge at the Lake"], riverbend: str(new.id), clearview: ""}

    form = {**form, **{f"location-{k}": v for k, v in _choices(page).items()}, "csrf_token": csrf_from(page)}
    again = client.post(assign_url, data={**form, "new_location_name": "riverbend"})
    assert again.status_code == 400 and "There is already a location called riverbend." in again.get_data(as_text=True)
    empty = client.post(assign_url, data={**form, "new_location_name": " "})
    assert empty.status_code == 400 and "Type the new location" in empty.get_data(as_text=True)
    assert (
        len(db.session.scalars(select(Location).where(Location.agent_id == biz.agent.id)).all()) == len(locations) + 1
    )

    page = client.get(assign_url).get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), **{f"location-{k}": v for k, v in _choices(page).items()}}
    assert client.post(assign_url, data=data).status_code == 302
    db.session.expire_all()
    accounts = {a.account_name: a for a in db.session.scalars(select(SocialAccount)).all()}
    assert accounts["Riverbend MHP"].location_id == new.id and accounts["Clearview MHP"].location_id is None
