"""The admin sets the languages a location answers in and the handoff topics of an agent and a location (issue 18)."""

import re

from werkzeug.datastructures import MultiDict

from chatpad.models import Agent, Location
from tests.admin.test_forms import _location_form
from tests.conftest import csrf_from, login


def test_a_location_answers_in_the_languages_ticked_and_has_its_own_handoff_topics(client, db, make):
    biz = make.business()
    login(client, biz.user.email)
    page = client.get("/admin/locations/new/").get_data(as_text=True)
    assert re.search(r'<input id="languages-1" name="languages" type="checkbox" value="es">', page)
    data = MultiDict(
        _location_form(page, biz.agent.id, handoff_topics="rent increase: rent going up, aumento de renta")
    )
    data.add("languages", "en")
    data.add("languages", "es")
    response = client.post("/admin/locations/new/", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    loc = db.session.query(Location).filter_by(name="Lakeside").one()
    assert loc.languages == ["en", "es"]
    assert loc.handoff_topics == [{"name": "rent increase", "keywords": ["rent going up", "aumento de renta"]}]
    edit = client.get(f"/admin/locations/edit/?id={loc.id}").get_data(as_text=True)
    assert "rent increase: rent going up, aumento de renta" in edit
    assert re.search(r'<input checked id="languages-\d" name="languages" type="checkbox" value="es">', edit)
    assert not re.search(r'<input checked [^>]*value="fr">', edit)


def test_a_location_without_languages_answers_in_the_business_language(db, make):
    biz = make.business()
    agent = db.session.get(Agent, biz.agent.id)
    agent.language = "es"
    loc = Location(agent=agent, name="Solo", languages=[])
    db.session.add(loc)
    db.session.commit()
    assert loc.answer_languages() == ["es"]
    loc.languages = ["en", "es"]
    assert loc.answer_languages() == ["en", "es"]


def test_agent_handoff_topics_are_edited_as_lines(client, db, make):
    biz = make.business()
    login(client, biz.user.email)
    page = client.get(f"/admin/agents/edit/?id={biz.agent.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/agents/edit/?id={biz.agent.id}",
        data={
            "name": biz.agent.name,
            "instructions": "",
            "language": "en",
            "handoff_topics": "billing dispute\nlegal: lawyer, abogado\n",
            "active": "y",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    agent = db.session.get(Agent, biz.agent.id)
    assert agent.handoff_topics == [
        {"name": "billing dispute", "keywords": []},
        {"name": "legal", "keywords": ["lawyer", "abogado"]},
    ]
