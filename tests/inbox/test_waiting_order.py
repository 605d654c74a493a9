"""The "waiting on a human" list (issue 21) is ordered by how long each customer has waited, not by the newest
message: a customer who wrote three hours ago and again a minute ago has waited three hours."""

from __future__ import annotations

import re
from datetime import timedelta

from chatpad.models import utcnow
from tests.conftest import login


def test_the_waiting_list_puts_the_longest_wait_first(client, db, make, inbox_make):
    biz = make.business()
    now = utcnow()

    def waiting(name, *messages):
        conv = inbox_make.conversation(biz.account, inbox_make.contact(biz.org, name), status="waiting")
        for text, minutes, kw in messages:
            inbox_make.message(conv, text, at=now - timedelta(minutes=minutes), **kw)
        return conv

    out = {"direction": "outbound", "status": "sent"}
    handoff = {**out, "meta": {"handoff": True}}
    # Asked 3 h ago, the AI handed off (that is no answer), asked again a minute ago: waited 3 h.
    waiting("Ana Long", ("Is lot 9 open?", 180, {}), ("A person will reply.", 179, handoff), ("Hello??", 1, {}))
    # Answered by a person 2 h ago, then asked again 40 min ago: waited 40 min.
    waiting("Bo Answered", ("Rent?", 300, {}), ("It is $500.", 120, {**out, "sender_type": "human"}), ("Due?", 40, {}))
    # Asked 90 min ago.
    waiting("Cy Middle", ("Pets allowed?", 90, {}))
    inbox_make.message(inbox_make.conversation(biz.account, inbox_make.contact(biz.org, "Di Open")), "Hi", at=now)
    db.session.commit()
    login(client, biz.user.email)
    html = client.get("/admin/inbox/", query_string={"status": "waiting"}).get_data(as_text=True)
    names = re.findall(r'class="inbox-name stretched-link"[^>]*>([^<]+)<', html)
    assert names == ["Ana Long", "Cy Middle", "Bo Answered"]
    assert "Longest wait first" in html
    waits = re.findall(r'<span class="waited"[^>]*>([^<]+)<', html)
    assert waits == ["3.0 h", "1.5 h", "40 min"]
