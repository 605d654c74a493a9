"""SMS and WhatsApp everywhere else in the inbox: the channel filter, the list, and analytics by channel and location,
named as the admin knows them ("SMS", "WhatsApp", not "Sms", "Whatsapp")."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from chatpad.inbox.analytics import build_report, parse_period
from chatpad.models import utcnow
from tests.conftest import login


@pytest.fixture
def phones(make, inbox_make):
    biz = make.business("Lakeside")
    biz.north = make.location(biz.agent, "North Shore")
    biz.sms = make.account(biz.agent, "sms", biz.location, account_id="+19365550200", account_name="Lakeside text")
    biz.wa = make.account(biz.agent, "whatsapp", biz.north, account_id="106540352242922", account_name="North WA")
    t = utcnow() - timedelta(hours=3)
    texter = inbox_make.conversation(biz.sms, inbox_make.contact(biz.org, "Tess Texter"), at=t)
    inbox_make.message(texter, "Is lot 3 free?", at=t)
    inbox_make.message(texter, "Yes!", direction="outbound", status="delivered", at=t + timedelta(seconds=20))
    waver = inbox_make.conversation(biz.wa, inbox_make.contact(biz.org, "Walt WhatsApp"), at=t)
    inbox_make.message(waver, "Pets?", at=t)
    inbox_make.message(waver, "Two.", direction="outbound", status="failed", error="131047 outside the window", at=t)
    biz.fb_conv = inbox_make.conversation(biz.account, inbox_make.contact(biz.org, "Fay Facebook"), at=t)
    inbox_make.message(biz.fb_conv, "Hello", at=t)
    return biz


def names(html: str) -> list[str]:
    return re.findall(r'class="inbox-name stretched-link" href="[^"]+">([^<]+)</a>', html)


def test_the_channel_filter_offers_and_narrows_to_sms_and_whatsapp(client, phones):
    login(client, phones.user.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert '<option value="sms" >SMS</option>' in html or re.search(r'<option value="sms"\s*>SMS</option>', html)
    assert re.search(r'<option value="whatsapp"\s*>WhatsApp</option>', html)
    assert "Sms" not in html and "Whatsapp" not in html
    assert names(client.get("/admin/inbox/?channel=sms").get_data(as_text=True)) == ["Tess Texter"]
    html = client.get("/admin/inbox/?channel=whatsapp").get_data(as_text=True)
    assert names(html) == ["Walt WhatsApp"] and re.search(r'<option value="whatsapp" selected>WhatsApp</option>', html)
    assert names(client.get(f"/admin/inbox/?location={phones.north.id}").get_data(as_text=True)) == ["Walt WhatsApp"]


def test_analytics_count_sms_and_whatsapp_by_channel_and_location(client, db, phones):
    report = build_report(phones.org.id, parse_period({"days": "7"}))
    by_channel = {s.key: s for s in report.by_channel}
    assert set(by_channel) == {"facebook", "sms", "whatsapp"}
    assert (by_channel["sms"].label, by_channel["sms"].conversations, by_channel["sms"].ai) == ("SMS", 1, 1)
    assert (by_channel["whatsapp"].label, by_channel["whatsapp"].failed) == ("WhatsApp", 1)
    by_location = {s.label: s.conversations for s in report.by_location}
    assert by_location["North Shore"] == 1 and by_location[phones.location.name] == 2
    login(client, phones.user.email)
    html = client.get("/admin/analytics/?days=7").get_data(as_text=True)
    assert "WhatsApp: " in html and ">WhatsApp<" in html and "Whatsapp" not in html and "Sms" not in html
