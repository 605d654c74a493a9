"""The knowledge list narrows to one location, and its forms never show Flask-Admin's internal "__None"."""

from chatpad.admin.views import LocationFilter
from chatpad.models import KnowledgeItem, Location
from tests.conftest import login


def _location_filter_arg(app) -> str:
    view = next(v for v in app.extensions["chatpad.admin"]._views if getattr(v, "endpoint", "") == "knowledge")
    index = next(i for i, f in enumerate(view._filters) if isinstance(f, LocationFilter))
    return f"flt0_{index}"


def _item(db, agent, title, location=None):
    item = KnowledgeItem(agent_id=agent.id, location_id=location.id if location else None, kind="faq", title=title)
    db.session.add(item)
    db.session.commit()
    return item


def test_the_knowledge_list_filters_by_location_and_only_offers_the_organization_s_own(app, client, db, make):
    biz = make.business()
    lake = Location(agent_id=biz.agent.id, name="Forge at the Lake", timezone="America/Chicago")
    pines = Location(agent_id=biz.agent.id, name="Whispering Pines", timezone="America/Chicago")
    db.session.add_all([lake, pines])
    db.session.commit()
    _item(db, biz.agent, "Lake pool hours", lake)
    _item(db, biz.agent, "Pines gate code policy", pines)
    _item(db, biz.agent, "Pet policy everywhere")
    other = make.business()
    theirs = Location(agent_id=other.agent.id, name="Someone Else's Park", timezone="America/Chicago")
    db.session.add(theirs)
    db.session.commit()
    _item(db, other.agent, "Their secret", theirs)
    login(client, biz.user.email)
    arg = _location_filter_arg(app)

    page = client.get(f"/admin/knowledge/?{arg}={lake.id}").get_data(as_text=True)
    assert "Lake pool hours" in page and "Pines gate code policy" not in page and "Pet policy everywhere" not in page

    everywhere = client.get(f"/admin/knowledge/?{arg}={LocationFilter.EVERYWHERE}").get_data(as_text=True)
    assert "Pet policy everywhere" in everywhere and "Lake pool hours" not in everywhere

    listing = client.get("/admin/knowledge/").get_data(as_text=True)
    assert (
        "Whispering Pines" in listing
        and "Someone Else&#39;s Park" not in listing
        and "Someone Else's Park" not in listing
    )
    probe = client.get(f"/admin/knowledge/?{arg}={theirs.id}")
    assert probe.status_code == 200 and "Their secret" not in probe.get_data(as_text=True)
    assert client.get(f"/admin/knowledge/?{arg}=not-a-uuid").status_code == 200


def test_an_empty_location_choice_reads_all_locations_not___none(client, db, make):
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/knowledge/new/").get_data(as_text=True)
    assert ">__None<" not in page
    assert '<option selected value="__None">All locations</option>' in page
