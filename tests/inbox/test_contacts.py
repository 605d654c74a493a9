"""One person across channels: merging two contacts by hand, splitting them again, and what ingest does after."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from chatpad.channels import get_channel
from chatpad.contacts import ContactMergeError, merge_contacts, split_contact
from chatpad.extensions import db as _db
from chatpad.models import AuditLog, Contact, ContactIdentity, Conversation, utcnow
from chatpad.pipeline import ingest
from tests.conftest import csrf_from, login


@pytest.fixture
def people(make, inbox_make):
    """Bob wrote on the loopback "page" and, as a separate contact, by email."""
    biz = make.business()
    biz.loop = make.account(biz.agent, "loopback", biz.location, account_id="loop-1", account_name="Loop Page")
    biz.mail = make.account(biz.agent, "email", biz.location, account_id="forge@x.test", account_name="forge@x.test")
    biz.a = inbox_make.contact(biz.org, "Bob Stone")
    inbox_make.identity(biz.a, biz.loop, "psid-bob")
    biz.conv_a = inbox_make.conversation(biz.loop, biz.a, thread_key="psid-bob")
    inbox_make.message(biz.conv_a, "Hi from Messenger", at=utcnow() - timedelta(hours=3))
    biz.b = inbox_make.contact(biz.org, "Bob Stone", email="bob@example.com")
    inbox_make.identity(biz.b, biz.mail, "bob@example.com")
    biz.conv_b = inbox_make.conversation(biz.mail, biz.b, thread_key="<root@example.com>", subject="Lot rent")
    inbox_make.message(biz.conv_b, "Hello by email", at=utcnow() - timedelta(hours=2))
    return biz


def deliver(app, event: dict):
    body = json.dumps({"account": "loop-1", "events": [event]}).encode()
    with app.app_context():
        (result,) = [ingest(e) for e in get_channel("loopback").parse(body)]
        _db.session.remove()
    return result


def test_merge_in_the_conversation_view_then_split_again(client, db, people):
    """A suggested duplicate merges in one click; the history then spans both channels; split undoes it."""
    login(client, people.user.email)
    html = client.get(f"/admin/inbox/c/{people.conv_a.id}").get_data(as_text=True)
    assert "Hello by email" not in html
    assert 'bob@example.com <span class="text-muted">(same name)</span>' in html

    response = client.post(
        f"/admin/inbox/c/{people.conv_a.id}/merge",
        data={"csrf_token": csrf_from(html), "other": str(people.b.id)},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "Merged Bob Stone into Bob Stone: 1 conversation moved." in html
    assert "Hello by email" in html and "&#9993;&#65039; bob@example.com" in html and "forge@x.test" in html
    db.session.expire_all()
    b = db.session.get(Contact, people.b.id)
    assert b.merged_into_id == people.a.id
    conv_b = db.session.get(Conversation, people.conv_b.id)
    assert conv_b.contact_id == people.a.id and conv_b.original_contact_id == people.b.id
    moved = db.session.scalar(select(ContactIdentity).where(ContactIdentity.external_id == "bob@example.com"))
    assert moved.contact_id == people.a.id and moved.original_contact_id == people.b.id
    # The inbox names the person once, across both channels.
    assert client.get("/admin/inbox/?q=bob@example").get_data(as_text=True).count("inbox-name") == 2

    response = client.post(
        f"/admin/inbox/c/{people.conv_a.id}/split/{people.b.id}",
        data={"csrf_token": csrf_from(html)},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "Split Bob Stone off again: 1 conversation went back." in html and "Hello by email" not in html
    db.session.expire_all()
    assert db.session.get(Contact, people.b.id).merged_into_id is None
    assert db.session.get(Conversation, people.conv_b.id).contact_id == people.b.id
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action.like("contact.%"))).all()
    assert actions == ["contact.merge", "contact.split"]


def test_same_name_suggestions_say_which_account_and_location_each_is_on(client, people, make, inbox_make):
    """Two other "Bob Stone"s: each suggestion names the channel, account and location it wrote on (issue 21)."""
    north = make.location(people.agent, "North Shore")
    sms = make.account(people.agent, "loopback", north, account_id="loop-2", account_name="North Page")
    other = inbox_make.contact(people.org, "Bob Stone")
    inbox_make.identity(other, sms, "psid-bob-2")
    login(client, people.user.email)
    html = client.get(f"/admin/inbox/c/{people.conv_a.id}").get_data(as_text=True)
    places = re.findall(r'<small class="text-muted merge-place">([^<]+)</small>', html)
    assert sorted(places) == sorted(
        [f"Email · forge@x.test · {people.location.name}", "Loopback · North Page · North Shore"]
    )


def test_find_a_contact_to_merge_by_address(client, people, inbox_make):
    """Searching by part of an email address offers that contact for merging."""
    inbox_make.contact(people.org, "Robert S.", phone="+15125550100")
    login(client, people.user.email)
    html = client.get(f"/admin/inbox/c/{people.conv_a.id}?merge_q=555010").get_data(as_text=True)
    assert "Robert S." in html and "(matches your search)" in html


def test_conversations_that_arrive_after_a_merge_follow_the_split(app, db, people):
    """A new conversation through the merged contact's identity belongs to the merged person, and goes back with
    that identity when split."""
    from tests.plugins.loopback import LoopbackChannel  # noqa: F401  (the loopback channel is registered)

    other = db.session.get(Contact, people.a.id)
    keep = db.session.get(Contact, people.b.id)
    merge_contacts(keep, other)  # this time the email contact keeps, the Messenger one is merged
    db.session.commit()
    # The old Messenger conversation is resolved; the customer writes again on Messenger.
    db.session.get(Conversation, people.conv_a.id).contact_id = people.b.id
    db.session.commit()
    result = deliver(app, {"kind": "message", "mid": "m-new", "text": "Back again", "sender": "psid-bob"})
    db.session.expire_all()
    assert db.session.get(Conversation, result.conversation_id).contact_id == people.b.id

    split_contact(db.session.get(Contact, people.b.id), db.session.get(Contact, people.a.id))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Conversation, result.conversation_id).contact_id == people.a.id
    assert db.session.get(Conversation, people.conv_b.id).contact_id == people.b.id


def test_ingest_matches_a_merged_contacts_email_to_the_person(app, db, people):
    """A message carrying a merged contact's email address lands with the contact it was merged into."""
    merge_contacts(db.session.get(Contact, people.a.id), db.session.get(Contact, people.b.id))
    db.session.commit()
    result = deliver(
        app,
        {
            "kind": "message",
            "mid": "m-x",
            "text": "New number, same Bob",
            "sender": "psid-other-page",
            "data": {"contact": {"email": "bob@example.com"}},
        },
    )
    db.session.expire_all()
    assert db.session.get(Conversation, result.conversation_id).contact_id == people.a.id


def test_merges_stay_one_level_deep_so_any_contact_splits_off(db, people, inbox_make):
    """C merged into B, then B into A: C hangs off A and can still be split off alone."""
    c = inbox_make.contact(people.org, "Bobby", phone="+15125550199")
    c_conv = inbox_make.conversation(people.mail, c)
    a, b = db.session.get(Contact, people.a.id), db.session.get(Contact, people.b.id)
    merge_contacts(b, c)
    merge_contacts(a, b)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Contact, c.id).merged_into_id == people.a.id
    assert db.session.get(Conversation, c_conv.id).contact_id == people.a.id
    split_contact(db.session.get(Contact, people.a.id), db.session.get(Contact, c.id))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Conversation, c_conv.id).contact_id == c.id
    assert db.session.get(Conversation, people.conv_b.id).contact_id == people.a.id


def test_impossible_merges_are_refused_with_a_reason(db, people, make, inbox_make):
    """Merging a contact with itself, a merged contact, or another organization's contact says why not."""
    a, b = db.session.get(Contact, people.a.id), db.session.get(Contact, people.b.id)
    with pytest.raises(ContactMergeError, match="itself"):
        merge_contacts(a, a)
    merge_contacts(a, b)
    db.session.commit()
    c = inbox_make.contact(people.org, "Carl")
    with pytest.raises(ContactMergeError, match="already merged"):
        merge_contacts(c, db.session.get(Contact, people.b.id))
    rival = make.business("Rival")
    outsider = inbox_make.contact(rival.org, "Eve")
    with pytest.raises(ContactMergeError, match="different organizations"):
        merge_contacts(a, outsider)
    with pytest.raises(ContactMergeError, match="is not merged into"):
        split_contact(a, c)


def test_another_organizations_contact_cannot_be_merged_in(client, db, people, make, inbox_make):
    """A contact id of another business in the merge form is 404, and nothing moves."""
    rival = make.business("Rival")
    outsider = inbox_make.contact(rival.org, "Eve")
    login(client, people.user.email)
    html = client.get(f"/admin/inbox/c/{people.conv_a.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/inbox/c/{people.conv_a.id}/merge", data={"csrf_token": csrf_from(html), "other": str(outsider.id)}
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Contact, outsider.id).merged_into_id is None
