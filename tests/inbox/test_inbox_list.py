"""The inbox list: every channel in one list, filters that combine and live in the URL, search, keyset pages,
and one organization's conversations only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from chatpad.models import utcnow
from tests.conftest import login


@pytest.fixture
def shop(make, inbox_make):
    """A business with two locations, Facebook, Instagram and email accounts, and conversations on each."""
    biz = make.business("Lakeside")
    biz.north = make.location(biz.agent, "North Shore")
    biz.fb = biz.account  # Facebook at biz.location
    biz.ig = make.account(biz.agent, "instagram", biz.north, account_name="@northshore")
    biz.mail = make.account(
        biz.agent, "email", None, account_id="info@lakeside.test", account_name="info@lakeside.test"
    )
    now = utcnow()
    biz.john = inbox_make.contact(biz.org, "John Smith")
    biz.c_fb = inbox_make.conversation(biz.fb, biz.john, at=now - timedelta(minutes=2))
    inbox_make.message(biz.c_fb, "Hi, I'm interested in the 3BR home on lot 14", at=now - timedelta(minutes=2))
    biz.sarah = inbox_make.contact(biz.org, "Sarah Johnson")
    biz.c_ig = inbox_make.conversation(biz.ig, biz.sarah, at=now - timedelta(minutes=15), status="waiting")
    inbox_make.message(biz.c_ig, "What are your office hours?", at=now - timedelta(minutes=15))
    biz.mike = inbox_make.contact(biz.org, None, email="mike@example.com")
    biz.c_mail = inbox_make.conversation(
        biz.mail, biz.mike, at=now - timedelta(hours=1), status="resolved", subject="Availability inquiry"
    )
    inbox_make.message(biz.c_mail, "Do you have a pool?\nThanks, Mike", at=now - timedelta(hours=1))
    return biz


def names_in_order(html: str) -> list[str]:
    return re.findall(r'class="inbox-name stretched-link" href="[^"]+">([^<]+)</a>', html)


def test_one_list_of_every_channel_newest_first(client, shop):
    """Facebook, Instagram and email conversations in one list, newest first, with the seed's details."""
    login(client, shop.user.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert names_in_order(html) == ["John Smith", "Sarah Johnson", "mike@example.com"]
    assert "channel-facebook" in html and "channel-instagram" in html and "channel-email" in html
    assert f"{shop.fb.account_name} · {shop.location.name}" in html
    assert "@northshore · North Shore" in html and "info@lakeside.test · General" in html
    assert "“Hi, I&#39;m interested in the 3BR home on lot 14”" in html
    assert "“Do you have a pool?”" in html  # the first line only
    assert "2 min ago" in html and "1 h ago" in html
    assert "1 new" in html and "Waiting on a human" in html and "All Channels" in html
    assert "1 waiting on a human" in html


def test_new_means_a_person_has_something_to_do(client, db, shop):
    """Unread messages the AI is answering, or of a resolved conversation, are not "new"; waiting on a human or
    taken over and unread is (issue 21 triage)."""
    shop.c_fb.human_takeover = False
    db.session.commit()
    login(client, shop.user.email)

    def badges() -> dict[str, str]:
        html = client.get("/admin/inbox/").get_data(as_text=True)
        rows = re.findall(r'<li class="list-group-item inbox-row.*?</li>', html, re.S)
        found = {}
        for row in rows:
            name = re.search(r'class="inbox-name stretched-link" href="[^"]+">([^<]+)</a>', row).group(1)
            badge = re.search(r">(\d+ new)</span>", row)
            found[name] = badge.group(1) if badge else ""
        return found

    assert badges() == {"John Smith": "", "Sarah Johnson": "1 new", "mike@example.com": ""}
    shop.c_fb.human_takeover = True  # a person took John's over: his unread message is theirs to answer
    db.session.commit()
    assert badges()["John Smith"] == "1 new"


def test_filters_combine_and_the_url_keeps_them(client, shop, inbox_make):
    """Channel, location, status and search narrow the list together; the form shows them from the URL."""
    login(client, shop.user.email)
    other = inbox_make.conversation(shop.ig, inbox_make.contact(shop.org, "Ivy Instagram"), status="open")
    inbox_make.message(other, "Love the new playground")

    html = client.get("/admin/inbox/?channel=instagram").get_data(as_text=True)
    assert names_in_order(html) == ["Ivy Instagram", "Sarah Johnson"]
    assert '<option value="instagram" selected>' in html

    html = client.get(f"/admin/inbox/?channel=instagram&status=waiting&location={shop.north.id}").get_data(as_text=True)
    assert names_in_order(html) == ["Sarah Johnson"]
    assert '<option value="waiting" selected>' in html
    assert re.search(rf'<option value="{shop.north.id.hex[:8]}-?[0-9a-f-]+" selected>North Shore</option>', html)

    assert names_in_order(client.get("/admin/inbox/?location=general").get_data(as_text=True)) == ["mike@example.com"]
    assert names_in_order(client.get(f"/admin/inbox/?account={shop.fb.id}").get_data(as_text=True)) == ["John Smith"]
    html = client.get("/admin/inbox/?channel=facebook&status=resolved").get_data(as_text=True)
    assert names_in_order(html) == [] and "No conversations match these filters" in html


def test_assigned_to_me(client, shop, make):
    """ "Assigned to me" shows only the signed-in person's conversations."""
    shop.c_ig.assigned_user_id = shop.user.id
    colleague = make.user(shop.org, role="agent")
    shop.c_fb.assigned_user_id = colleague.id
    make.db.session.commit()
    login(client, shop.user.email)
    assert names_in_order(client.get("/admin/inbox/?mine=1").get_data(as_text=True)) == ["Sarah Johnson"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("SMI", ["John Smith"]),  # part of a name, any case
        ("MIKE@EXAMPLE", ["mike@example.com"]),  # part of an address
        ("office hou", ["Sarah Johnson"]),  # words of a message, the last one a prefix
        ("pool", ["mike@example.com"]),  # a word after the first line
        ("availability", ["mike@example.com"]),  # the email subject
        ("100%_", []),  # LIKE wildcards are text, not patterns
        ("zebra", []),
    ],
)
def test_search_covers_names_addresses_and_message_text(client, shop, q, expected):
    """Search finds customers by name or address and conversations by what was written."""
    login(client, shop.user.email)
    html = client.get("/admin/inbox/", query_string={"q": q}).get_data(as_text=True)
    assert names_in_order(html) == expected


def test_search_combines_with_filters(client, shop):
    """A search inside one channel does not return matches from another."""
    login(client, shop.user.email)
    html = client.get("/admin/inbox/?channel=facebook&q=office").get_data(as_text=True)
    assert names_in_order(html) == []


def test_keyset_pages_show_every_conversation_once(client, make, inbox_make):
    """Paging "older" walks all conversations newest first, none twice or skipped, even with equal timestamps."""
    biz = make.business()
    start = utcnow()
    made = []
    for i in range(120):
        # Pairs share a timestamp: the id breaks the tie.
        made.append(inbox_make.conversation(biz.account, at=start - timedelta(minutes=i // 2)))
    login(client, biz.user.email)
    seen, url, pages = [], "/admin/inbox/", 0
    while url:
        html = client.get(url).get_data(as_text=True)
        ids = re.findall(r'data-conversation="([0-9a-f-]+)"', html)
        seen += ids
        pages += 1
        match = re.search(r'class="older-link" href="([^"]+)"', html)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert pages == 3 and len(seen) == 120 and len(set(seen)) == 120
    expected = sorted(made, key=lambda c: (c.last_message_at, c.id), reverse=True)
    assert seen == [str(c.id) for c in expected]


def test_a_bad_cursor_or_filter_is_harmless(client, shop):
    """A mangled link opens the first page, and says which filter it ignored."""
    login(client, shop.user.email)
    response = client.get("/admin/inbox/?after=not-a-cursor&channel=myspace")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and len(names_in_order(html)) == 3
    assert "Ignored a filter that no longer exists: channel." in html


def test_the_list_partial_answers_304_when_nothing_changed(client, shop, inbox_make):
    """Polling costs a 304 until a new message changes the list."""
    login(client, shop.user.email)
    first = client.get("/admin/inbox/?partial=1")
    assert first.status_code == 200 and first.headers["ETag"]
    assert "<nav" in first.get_data(as_text=True) and "<form" not in first.get_data(as_text=True)
    again = client.get("/admin/inbox/?partial=1", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    inbox_make.message(shop.c_mail, "One more question")
    changed = client.get("/admin/inbox/?partial=1", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and names_in_order(changed.get_data(as_text=True))[0] == "mike@example.com"


def test_only_the_organizations_own_conversations(client, shop, make, inbox_make):
    """Another business's conversations never show, and their ids in the URL are 404."""
    rival = make.business("Rival")
    theirs = inbox_make.conversation(rival.account, inbox_make.contact(rival.org, "Secret Customer"))
    inbox_make.message(theirs, "private")
    login(client, shop.user.email)
    assert "Secret Customer" not in client.get("/admin/inbox/").get_data(as_text=True)
    assert "Secret Customer" not in client.get("/admin/inbox/?q=secret").get_data(as_text=True)
    assert "Secret Customer" not in client.get(f"/admin/inbox/?account={rival.account.id}").get_data(as_text=True)
    assert client.get(f"/admin/inbox/c/{theirs.id}").status_code == 404
    assert client.get(f"/admin/inbox/c/{theirs.id}/thread").status_code == 404
    assert client.get(f"/admin/inbox/events?conversation={theirs.id}").status_code == 404
    assert client.get("/admin/inbox/c/not-a-uuid").status_code == 404


def test_agents_use_the_inbox_signed_out_people_sign_in(client, shop, make):
    """Agents open the inbox (Inbox is in the top menu); nobody signed out does."""
    assert client.get("/admin/inbox/").status_code == 302
    agent = make.user(shop.org, role="agent")
    login(client, agent.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert "John Smith" in html
    assert re.search(r'<a[^>]*href="/admin/inbox/"[^>]*>\s*Inbox', html)
    assert client.get(f"/admin/inbox/c/{shop.c_fb.id}").status_code == 200


def test_search_forgets_removed_and_edited_words(client, db, shop, inbox_make):
    """A message the customer unsent, or edited, is no longer found by its old words."""
    from chatpad.models import utcnow as now

    unsent = inbox_make.message(shop.c_fb, "my secret gate code 4471")
    edited = inbox_make.message(shop.c_ig, "see you at the marina")
    login(client, shop.user.email)
    assert names_in_order(client.get("/admin/inbox/?q=4471").get_data(as_text=True)) == ["John Smith"]
    unsent.deleted_at = now()
    edited.content = "see you at the clubhouse"
    db.session.commit()
    assert names_in_order(client.get("/admin/inbox/?q=4471").get_data(as_text=True)) == []
    assert names_in_order(client.get("/admin/inbox/?q=marina").get_data(as_text=True)) == []
    assert names_in_order(client.get("/admin/inbox/?q=clubhouse").get_data(as_text=True)) == ["Sarah Johnson"]
