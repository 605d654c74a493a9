"""The setup checklist on Home (issue 22): each step's done-ness is worked out from what is set up now."""

from __future__ import annotations

import re

from chatpad.models import Contact, Conversation, Message
from tests.conftest import login


def _steps(client) -> dict[str, str]:
    page = client.get("/admin/").get_data(as_text=True)
    return dict(re.findall(r'data-step="(\w+)" data-done="([01])"', page))


def test_checklist_follows_what_is_set_up(app, db, make):
    org = make.org("Brand New Parks")
    owner = make.user(org, role="owner")
    agent = make.agent(org)
    client = app.test_client()
    login(client, owner.email)
    assert _steps(client) == {"locations": "0", "hours": "0", "knowledge": "0", "channels": "0", "try": "0"}
    assert "0 of 5 steps done" in client.get("/admin/").get_data(as_text=True)

    first = make.location(agent, "Forge at the Lake")
    second = make.location(agent, "Clearview Estates", hours={})
    steps = _steps(client)
    assert steps["locations"] == "1" and steps["hours"] == "0"
    assert "1 of 2 locations have hours" in client.get("/admin/").get_data(as_text=True)
    second.hours = first.hours
    make.knowledge(agent, first)
    account = make.account(agent, "facebook", first, status="needs_reauth")
    db.session.commit()
    steps = _steps(client)
    assert steps["hours"] == steps["knowledge"] == "1" and steps["channels"] == "0"  # not connected: not done

    account.status = "connected"
    db.session.commit()
    assert _steps(client)["channels"] == "1" and _steps(client)["try"] == "0"
    contact = Contact(organization_id=org.id, name="Jo")
    db.session.add(contact)
    db.session.flush()
    conversation = Conversation(
        organization_id=org.id,
        agent_id=agent.id,
        social_account_id=account.id,
        channel="facebook",
        contact_id=contact.id,
    )
    db.session.add(conversation)
    db.session.flush()
    db.session.add(
        Message(conversation_id=conversation.id, channel="facebook", direction="inbound", sender_type="contact")
    )
    db.session.commit()
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="setup-checklist"' not in page  # every step done: the checklist goes away


def test_agents_do_not_see_the_checklist(app, make):
    biz = make.business()
    helper = make.user(biz.org, role="agent")
    client = app.test_client()
    login(client, helper.email)
    assert 'id="setup-checklist"' not in client.get("/admin/").get_data(as_text=True)
