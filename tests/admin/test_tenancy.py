"""Every admin view, list, search, export, detail, edit, delete and bulk action sees only the user's organization.

Two businesses, "Ours" and "Theirs". Signed in as ours, each view is tried against a row of theirs: it must not be
listed, found, exported, changed or deleted, not even by typing its id into the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from chatpad.models import Agent, KnowledgeItem, Location, SocialAccount, User
from tests.conftest import csrf_from, login


@dataclass
class ViewCase:
    endpoint: str
    model: Any
    # Make a row in a business; returns (row, a unique text that identifies it in pages and exports).
    make_row: Any
    # A field to change in an edit POST.
    edit_field: str
    can_delete: bool = True


def _agent(make, biz, tag):
    return make.agent(biz.org, name=f"Agent {tag}"), f"Agent {tag}"


def _location(make, biz, tag):
    return make.location(biz.agent, name=f"Location {tag}"), f"Location {tag}"


def _account(make, biz, tag):
    return make.account(biz.agent, "facebook", biz.location, account_name=f"Page {tag}"), f"Page {tag}"


def _knowledge(make, biz, tag):
    return make.knowledge(biz.agent, biz.location, title=f"Question {tag}"), f"Question {tag}"


def _user(make, biz, tag):
    email = f"{tag.lower()}@example.com"
    return make.user(biz.org, email=email), email


CASES = [
    ViewCase("agents", Agent, _agent, "name"),
    ViewCase("locations", Location, _location, "name"),
    ViewCase("accounts", SocialAccount, _account, "account_name", can_delete=False),
    ViewCase("knowledge", KnowledgeItem, _knowledge, "title"),
    ViewCase("users", User, _user, "name"),
]


@pytest.fixture
def two_businesses(make):
    return make.business("Ours"), make.business("Theirs")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.endpoint)
def test_list_search_and_export_show_only_our_rows(case, client, make, two_businesses):
    ours, theirs = two_businesses
    _, our_text = case.make_row(make, ours, "Ouraaa")
    _, their_text = case.make_row(make, theirs, "Theirzzz")
    login(client, ours.user.email)

    listing = client.get(f"/admin/{case.endpoint}/").get_data(as_text=True)
    assert our_text in listing and their_text not in listing

    # Searching for their row finds nothing, in every searchable view.
    search = client.get(f"/admin/{case.endpoint}/", query_string={"search": "Theirzzz"}).get_data(as_text=True)
    assert their_text not in search

    export = client.get(f"/admin/{case.endpoint}/export/csv/")
    assert export.status_code == 200
    body = export.get_data(as_text=True)
    assert our_text in body and their_text not in body


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.endpoint)
def test_their_row_cannot_be_opened_by_id(case, client, make, two_businesses):
    ours, theirs = two_businesses
    their_row, their_text = case.make_row(make, theirs, "Theirzzz")
    login(client, ours.user.email)
    for action in ("details", "edit"):
        response = client.get(f"/admin/{case.endpoint}/{action}/", query_string={"id": str(their_row.id)})
        # Flask-Admin answers "Record does not exist." with a redirect to the list.
        assert response.status_code == 302, action
        assert their_text not in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.endpoint)
def test_their_row_cannot_be_changed_or_deleted(case, client, db, make, two_businesses):
    ours, theirs = two_businesses
    their_row, their_text = case.make_row(make, theirs, "Theirzzz")
    row_id = their_row.id
    login(client, ours.user.email)
    token = csrf_from(client.get(f"/admin/{case.endpoint}/").get_data(as_text=True))

    client.post(
        f"/admin/{case.endpoint}/edit/?id={row_id}",
        data={case.edit_field: "Hijacked", "csrf_token": token},
    )
    client.post(f"/admin/{case.endpoint}/delete/", data={"id": str(row_id), "csrf_token": token})
    client.post(
        f"/admin/{case.endpoint}/action/",
        data={"action": "delete", "rowid": str(row_id), "csrf_token": token},
    )
    db.session.expire_all()
    row = db.session.get(case.model, row_id)
    assert row is not None, "their row was deleted"
    assert getattr(row, case.edit_field) != "Hijacked"


def test_dropdowns_offer_only_our_locations_and_refuse_theirs(client, db, make, two_businesses):
    """An account's location dropdown lists our locations; posting their location id is refused."""
    ours, theirs = two_businesses
    login(client, ours.user.email)
    page = client.get(f"/admin/accounts/edit/?id={ours.account.id}").get_data(as_text=True)
    assert ours.location.name in page and theirs.location.name not in page

    response = client.post(
        f"/admin/accounts/edit/?id={ours.account.id}",
        data={
            "account_name": "Renamed",
            "location": str(theirs.location.id),
            "is_active": "y",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)
    db.session.expire_all()
    account = db.session.get(SocialAccount, ours.account.id)
    assert account.location_id == ours.location.id and account.account_name != "Renamed"


def test_knowledge_form_refuses_their_agent(client, db, make, two_businesses):
    ours, theirs = two_businesses
    login(client, ours.user.email)
    page = client.get("/admin/knowledge/new/").get_data(as_text=True)
    assert theirs.agent.name not in page
    response = client.post(
        "/admin/knowledge/new/",
        data={
            "agent": str(theirs.agent.id),
            "kind": "faq",
            "title": "Planted",
            "body": "x",
            "data": "{}",
            "csrf_token": csrf_from(page),
        },
    )
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.query(KnowledgeItem).filter_by(title="Planted").count() == 0


def test_new_rows_land_in_our_organization(client, db, make, two_businesses):
    ours, _ = two_businesses
    login(client, ours.user.email)
    page = client.get("/admin/agents/new/").get_data(as_text=True)
    client.post(
        "/admin/agents/new/",
        data={"name": "Night shift", "instructions": "", "active": "y", "csrf_token": csrf_from(page)},
    )
    agent = db.session.query(Agent).filter_by(name="Night shift").one()
    assert agent.organization_id == ours.org.id


def test_bulk_delete_is_offered_and_deletes_only_our_selected_rows(client, db, make, two_businesses):
    """ "With selected → Delete" is on the list page and removes our rows, never theirs sent along in the same post."""
    ours, theirs = two_businesses
    mine = make.knowledge(ours.agent, title="Ours to delete")
    keep = make.knowledge(theirs.agent, title="Theirs to keep")
    login(client, ours.user.email)
    page = client.get("/admin/knowledge/").get_data(as_text=True)
    assert 'data-model-action="delete"' in page
    client.post(
        "/admin/knowledge/action/",
        data={"action": "delete", "rowid": [str(mine.id), str(keep.id)], "csrf_token": csrf_from(page)},
    )
    db.session.expire_all()
    assert db.session.get(KnowledgeItem, mine.id) is None
    assert db.session.get(KnowledgeItem, keep.id) is not None
