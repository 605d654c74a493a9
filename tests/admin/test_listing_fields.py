"""Listings with fields (issue 22): a property's lot, beds, baths, sq ft, year, price and status are typed in fields
(no raw JSON box), stored where the AI reads them, shown again on edit, and an out-of-range value is a form error with
nothing saved; keys the form does not manage are kept."""

from __future__ import annotations

import re

from sqlalchemy import select

from chatpad.ai.context import listing_from
from chatpad.models import KnowledgeItem
from tests.conftest import csrf_from, login


def test_property_fields_instead_of_json(app, db, make):
    biz = make.business()
    client = app.test_client()
    login(client, biz.user.email)
    page = client.get("/admin/knowledge/new/").get_data(as_text=True)
    assert "Details (JSON)" not in page and 'name="data"' not in page
    assert 'name="beds"' in page and 'name="price"' in page and '<option value="pending">Pending</option>' in page
    form = {
        "csrf_token": csrf_from(page),
        "agent": str(biz.agent.id),
        "location": str(biz.location.id),
        "kind": "property",
        "title": "Lot 14 · 3 bed",
        "body": "Corner lot with a new deck.",
        "lot": "14",
        "beds": "3",
        "baths": "1.5",
        "sqft": "1280",
        "year": "2019",
        "price": "74900",
        "status": "pending",
        "active": "y",
    }
    bad = client.post("/admin/knowledge/new/", data={**form, "year": "1850"})
    assert bad.status_code == 200 and "Number must be between 1900 and 2100" in bad.get_data(as_text=True)
    assert db.session.scalar(select(KnowledgeItem).where(KnowledgeItem.title == "Lot 14 · 3 bed")) is None

    saved = client.post("/admin/knowledge/new/", data=form)
    assert saved.status_code == 302
    item = db.session.scalar(select(KnowledgeItem).where(KnowledgeItem.title == "Lot 14 · 3 bed"))
    assert item.data == {
        "lot": "14",
        "beds": 3,
        "baths": 1.5,
        "sqft": 1280,
        "year": 2019,
        "price": 74900,
        "status": "pending",
    }
    listing = listing_from(item)
    assert (listing.beds, listing.baths, listing.price, listing.status) == (3.0, 1.5, 74900, "pending")

    item.data = {**item.data, "photos": ["a.jpg"]}  # an import's extra key
    db.session.commit()
    edit = client.get(f"/admin/knowledge/edit/?id={item.id}").get_data(as_text=True)
    assert re.search(r'name="price"[^>]*value="74900"', edit)
    assert re.search(r'<option selected value="pending">|<option value="pending" selected>', edit)
    changed = client.post(
        f"/admin/knowledge/edit/?id={item.id}",
        data={**form, "csrf_token": csrf_from(edit), "status": "sold", "price": ""},
    )
    assert changed.status_code == 302
    db.session.expire_all()
    item = db.session.get(KnowledgeItem, item.id)
    assert item.data["status"] == "sold" and "price" not in item.data and item.data["photos"] == ["a.jpg"]


def test_faq_keywords_field(app, db, make):
    biz = make.business()
    client = app.test_client()
    login(client, biz.user.email)
    page = client.get("/admin/knowledge/new/").get_data(as_text=True)
    response = client.post(
        "/admin/knowledge/new/",
        data={
            "csrf_token": csrf_from(page),
            "agent": str(biz.agent.id),
            "kind": "faq",
            "title": "Pets?",
            "body": "Two pets per home.",
            "keywords": "dog, cat , pets",
            "active": "y",
        },
    )
    assert response.status_code == 302
    item = db.session.scalar(select(KnowledgeItem).where(KnowledgeItem.title == "Pets?"))
    page = client.get("/admin/knowledge/new/").get_data(as_text=True)
    refused = client.post(
        "/admin/knowledge/new/",
        data={"csrf_token": csrf_from(page), "agent": str(biz.agent.id), "kind": "faq", "title": "Beds?", "beds": "3"},
    )
    assert "are for a property" in refused.get_data(as_text=True)
    assert db.session.scalar(select(KnowledgeItem).where(KnowledgeItem.title == "Beds?")) is None
    assert item.data == {"keywords": ["dog", "cat", "pets"]}
