"""Canned replies (issue 21): kept per organization and per location, their variables filled on the server from the
conversation, shaped to the channel, and seen by an on-site manager only for the organization and their locations."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from chatpad.inbox.canned import shape
from chatpad.models import CannedReply
from tests.conftest import csrf_from, login
from tests.inbox.test_conversation import chat, page, post  # noqa: F401 (fixture)
from tests.inbox.test_locations import mhp  # noqa: F401 (fixture)
from tests.plugins.loopback import sent_messages

EVERY_DAY = {"weekly": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}


def _choices(html: str) -> dict[str, str | None]:
    """The picker's replies: title -> the text it inserts (None when it cannot be inserted here)."""
    found = {}
    for item in re.findall(r'<li role="option" class="canned-choice[^"]*"(.*?)</li>', html, re.S):
        title = unescape(re.search(r"<strong>(.*?)</strong>", item).group(1))
        text = re.search(r'data-text="([^"]*)"', item)
        found[title] = unescape(text.group(1)) if text else None
    return found


def test_a_canned_reply_is_inserted_with_its_variables_filled_and_sent_so(client, db, chat, workers):  # noqa: F811
    chat.location.name = "Lakeside Park"
    chat.location.booking_url = "https://book.example/lakeside"
    chat.location.hours = EVERY_DAY
    db.session.add(CannedReply(organization_id=chat.org.id, title="Tour", body="Hi {first_name}! Book: {booking_link}"))
    db.session.add(
        CannedReply(
            organization_id=chat.org.id,
            location_id=chat.location.id,
            title="Hours",
            body="{location}: {hours_today}",
        )
    )
    db.session.commit()
    login(client, chat.user.email)
    choices = _choices(page(client, chat.conv))
    assert choices == {"Hours": "Lakeside Park: 9 AM–5 PM", "Tour": "Hi Jane! Book: https://book.example/lakeside"}

    response = post(client, chat.conv, "reply", {"text": choices["Tour"], "reply_token": "c1"})
    assert response.status_code == 302
    workers.run("outbound")
    assert [s["text"] for s in sent_messages()] == ["Hi Jane! Book: https://book.example/lakeside"]


def test_a_variable_with_no_value_is_never_inserted_as_braces(client, db, chat):  # noqa: F811
    chat.location.booking_url = None
    db.session.add(CannedReply(organization_id=chat.org.id, title="Tour", body="Book here: {booking_link}"))
    db.session.commit()
    login(client, chat.user.email)
    html = page(client, chat.conv)
    assert _choices(html) == {"Tour": None}
    assert "Not available here: no booking link." in html and "{booking_link}" not in html


def test_sms_keeps_gsm7_when_only_typographic_quotes_would_break_it():
    text, fits = shape("It\u2019s open \u2014 come by\u2026", "sms", 1600)
    assert text == "It's open - come by..." and fits == "1 segment (GSM-7)"
    text, fits = shape("See you \U0001f600", "sms", 1600)
    assert text == "See you \U0001f600" and fits == "1 segment (UCS-2)"
    assert shape("x" * 120, "loopback", 50) == ("x" * 120, "3 messages of up to 50 characters")


def test_an_on_site_manager_sees_the_organizations_and_their_locations_replies_only(client, db, mhp):  # noqa: F811
    org = CannedReply(organization_id=mhp.org.id, title="Everyone", body="Thanks for writing!")
    forge = CannedReply(organization_id=mhp.org.id, location_id=mhp.location.id, title="Forge", body="Forge here.")
    pine = CannedReply(organization_id=mhp.org.id, location_id=mhp.pine.id, title="Pine", body="Pine here.")
    db.session.add_all([org, forge, pine])
    db.session.commit()
    login(client, mhp.mia.email)
    assert set(_choices(page(client, mhp.forge_conv))) == {"Everyone", "Forge"}

    listing = client.get("/admin/canned/").get_data(as_text=True)
    assert "Forge here." in listing and "Thanks for writing!" in listing and "Pine here." not in listing
    token = csrf_from(listing)
    # Another location's reply cannot be opened or changed; the organization's is used but not changed by her.
    client.post(f"/admin/canned/edit/?id={pine.id}", data={"csrf_token": token, "title": "Mine", "body": "Mine"})
    client.post(f"/admin/canned/edit/?id={org.id}", data={"csrf_token": token, "title": "Mine", "body": "Mine"})
    response = client.post(
        "/admin/canned/new/", data={"csrf_token": token, "title": "All", "body": "For all", "location": "__None"}
    )
    assert "changed by an owner or admin" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CannedReply, pine.id).title == "Pine"
    assert db.session.get(CannedReply, org.id).title == "Everyone"
    assert db.session.scalar(select(CannedReply).where(CannedReply.title == "All")) is None
    # Her own location's reply she manages.
    client.post(
        "/admin/canned/new/",
        data={
            "csrf_token": token,
            "title": "Gate",
            "body": "Gate code at {location}",
            "location": str(mhp.location.id),
        },
    )
    assert db.session.scalar(select(CannedReply.location_id).where(CannedReply.title == "Gate")) == mhp.location.id


def test_an_unknown_variable_is_refused_when_saved(client, db, chat):  # noqa: F811
    login(client, chat.user.email)
    token = csrf_from(client.get("/admin/canned/new/").get_data(as_text=True))
    response = client.post("/admin/canned/new/", data={"csrf_token": token, "title": "T", "body": "Hi {firstname}"})
    assert "Unknown variable {firstname}" in response.get_data(as_text=True)
    assert db.session.scalar(select(CannedReply)) is None
