"""The conversation view: the thread, cross-channel history, takeover, replies through the pipeline, notes,
resolve/reopen, assignment and notifications."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from chatpad.messages import OutboundReply
from chatpad.models import (
    Attachment,
    AuditLog,
    Conversation,
    ConversationNote,
    Message,
    Notification,
    User,
    utcnow,
)
from chatpad.pipeline.replies import queue_reply
from tests.conftest import csrf_from, login
from tests.plugins.loopback import sent_messages


@pytest.fixture
def chat(make, inbox_make):
    """A customer writing to a loopback account (the pipeline's test channel), signed-in owner."""
    biz = make.business("Lakeside")
    biz.loop = make.account(biz.agent, "loopback", biz.location, account_id="loop-1", account_name="Loop Page")
    biz.contact = inbox_make.contact(biz.org, "Jane Doe", email="jane@example.com")
    inbox_make.identity(biz.contact, biz.loop, "cust-1")
    biz.conv = inbox_make.conversation(biz.loop, biz.contact, thread_key="cust-1")
    inbox_make.message(biz.conv, "Is lot 14 still available?", at=utcnow() - timedelta(minutes=5))
    return biz


def page(client, conversation, **args):
    response = client.get(f"/admin/inbox/c/{conversation.id}", query_string=args)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def post(client, conversation, action: str, data: dict | None = None, **kw):
    html = page(client, conversation)
    return client.post(
        f"/admin/inbox/c/{conversation.id}/{action}", data={"csrf_token": csrf_from(html), **(data or {})}, **kw
    )


def test_the_thread_tells_senders_apart_and_shows_media_and_delivery(client, db, make, inbox_make):
    """Customer, AI, person, system lines and notes look different; media links and delivery states show."""
    biz = make.business()
    contact = inbox_make.contact(biz.org, "Ana Lopez")
    conv = inbox_make.conversation(biz.account, contact)
    t = utcnow() - timedelta(hours=1)
    inbox_make.message(
        conv,
        "",
        at=t,
        media=[
            {"type": "story_mention", "url": "https://lookaside.fbsbx.com/story/1"},
            {"type": "image", "url": "https://scontent.xx.fbcdn.net/photo.jpg"},
            {"type": "file", "url": "javascript:alert(1)", "name": "evil"},
        ],
    )
    inbox_make.message(conv, "Hello Ana! Lot 14 is available.", direction="outbound", status="delivered", at=t)
    human = inbox_make.message(
        conv,
        "A tour on Friday works.",
        direction="outbound",
        sender_type="human",
        status="failed",
        error="(#10) This message is sent outside of allowed window.",
        at=t + timedelta(minutes=1),
        user_id=biz.user.id,
    )
    inbox_make.message(
        conv, "Handed to a person: asked for a tour", direction="outbound", sender_type="system", status="internal"
    )
    db.session.add(
        ConversationNote(organization_id=biz.org.id, conversation_id=conv.id, user_id=biz.user.id, body="VIP")
    )
    db.session.add(
        Attachment(
            message_id=human.id,
            filename="floorplan.pdf",
            content_type="application/pdf",
            size=2048,
            storage_key="x/floorplan.pdf",
        )
    )
    db.session.commit()
    login(client, biz.user.email)
    html = page(client, conv)
    assert "Mentioned you in their story" in html and 'href="https://lookaside.fbsbx.com/story/1"' in html
    assert '<img src="https://scontent.xx.fbcdn.net/photo.jpg"' in html
    assert "javascript:alert" not in html and "[file]" in html
    assert 'class="msg msg-ai msg-out"' in html and "Delivered" in html
    assert 'class="msg msg-human msg-out"' in html
    assert "Failed: (#10) This message is sent outside of allowed window." in html
    assert 'class="msg-system"' in html and "Handed to a person: asked for a tour" in html
    assert "Internal note" in html and "VIP" in html
    assert "floorplan.pdf" in html


def test_the_thread_escapes_what_customers_write(client, chat, inbox_make):
    """A message with HTML in it is shown as text."""
    inbox_make.message(chat.conv, "<script>alert('x')</script><b>hi</b>")
    login(client, chat.user.email)
    html = page(client, chat.conv)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_history_across_channels_marks_each_message_with_its_channel(client, make, inbox_make):
    """The same person's email thread shows in their Facebook conversation, marked and linked."""
    biz = make.business()
    mail = make.account(biz.agent, "email", biz.location, account_id="forge@x.test", account_name="forge@x.test")
    person = inbox_make.contact(biz.org, "Bob Stone", email="bob@example.com")
    fb = inbox_make.conversation(biz.account, person)
    inbox_make.message(fb, "Hi on Messenger", at=utcnow() - timedelta(hours=2))
    em = inbox_make.conversation(mail, person, subject="Lot rent")
    inbox_make.message(em, "Hello by email", at=utcnow() - timedelta(hours=1))
    login(client, biz.user.email)
    html = page(client, fb)
    assert html.index("Hi on Messenger") < html.index("Hello by email")
    assert f'<a href="/admin/inbox/c/{em.id}">Email · forge@x.test</a>' in html
    assert "msg-other" in html
    only = page(client, fb, only=1)
    assert "Hello by email" not in only and "Hi on Messenger" in only


def test_opening_a_conversation_marks_it_read(client, db, chat):
    """Unread messages count as read once someone opens the conversation."""
    assert chat.conv.unread_count == 1
    login(client, chat.user.email)
    page(client, chat.conv)
    db.session.expire_all()
    assert db.session.get(Conversation, chat.conv.id).unread_count == 0


def test_take_over_with_automatic_hand_back(client, db, chat, workers):
    """Taking over pauses the AI, optionally for N hours; the scheduler's sweep hands back when they pass."""
    login(client, chat.user.email)
    response = post(client, chat.conv, "take-over", {"hours": "2"}, follow_redirects=True)
    assert "The AI answers again automatically after 2 hours." in response.get_data(as_text=True)
    db.session.expire_all()
    conv = db.session.get(Conversation, chat.conv.id)
    assert conv.human_takeover and conv.taken_over_by == chat.user.id and conv.assigned_user_id == chat.user.id
    assert timedelta(hours=1, minutes=59) < conv.takeover_until - utcnow() <= timedelta(hours=2)
    html = page(client, conv)
    assert "has this conversation" in html and "Back to the AI automatically" in html and "Hand back to the AI" in html

    conv.takeover_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    from jobs.housekeeping import sweep

    assert sweep()["handed_back"] == 1
    db.session.expire_all()
    assert not db.session.get(Conversation, chat.conv.id).human_takeover
    assert "Automatic hand-back: the AI answers this conversation again." in page(client, chat.conv)


def test_take_over_rejects_a_silly_duration(client, db, chat):
    """A negative or huge number of hours is refused with a message, and nothing changes."""
    login(client, chat.user.email)
    response = post(client, chat.conv, "take-over", {"hours": "-3"})
    assert response.status_code == 400 and "Number must be between" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Conversation, chat.conv.id).human_takeover


def test_hand_back(client, db, chat):
    """Handing back lets the AI answer again and says so in the thread."""
    login(client, chat.user.email)
    post(client, chat.conv, "take-over", {"hours": ""})
    response = post(client, chat.conv, "hand-back", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Handed back: the AI answers this conversation again." in html
    db.session.expire_all()
    conv = db.session.get(Conversation, chat.conv.id)
    assert not conv.human_takeover and conv.takeover_until is None


def test_a_reply_goes_out_through_the_conversations_channel(client, db, chat, workers):
    """A person's reply is queued by the pipeline, takes the conversation over, and the worker sends it."""
    login(client, chat.user.email)
    response = post(client, chat.conv, "reply", {"text": "Yes! Want a tour on Friday?", "reply_token": "t1"})
    assert response.status_code == 302
    db.session.expire_all()
    (reply,) = db.session.scalars(select(Message).where(Message.sender_type == "human")).all()
    assert reply.status == "pending" and reply.user_id == chat.user.id and reply.channel_account_id == chat.loop.id
    conv = db.session.get(Conversation, chat.conv.id)
    assert conv.human_takeover and conv.taken_over_by == chat.user.id

    workers.run("outbound")
    assert [(s["to"], s["text"]) for s in sent_messages()] == [("cust-1", "Yes! Want a tour on Friday?")]
    db.session.expire_all()  # the test shares its session with the requests it makes
    html = page(client, chat.conv)
    assert "Yes! Want a tour on Friday?" in html and re.search(r'class="msg-status small status-sent">\s*Sent', html)


def test_the_list_previews_what_the_customer_last_asked_not_our_reply(client, db, chat):
    """After the AI's reply and a person's, the list's one line is still the customer's question (issue 21 triage)."""
    queue_reply(chat.conv, OutboundReply("Lot 14 is available, $79,900."))
    login(client, chat.user.email)
    post(client, chat.conv, "reply", {"text": "Want a tour on Friday?", "reply_token": "t1"})
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert "“Is lot 14 still available?”" in html
    assert "79,900" not in html and "Want a tour on Friday?" not in html


def test_a_double_click_sends_once(client, db, chat):
    """The same form submitted twice (same reply token) stores one reply."""
    login(client, chat.user.email)
    for _ in range(2):
        post(client, chat.conv, "reply", {"text": "Only once", "reply_token": "same-token"})
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.content == "Only once")) == 1


def test_a_reply_the_channel_refuses_is_explained_and_kept(client, db, chat):
    """Outside the channel's window the reply is not stored, the reason shows, and the text stays in the box."""
    chat.conv.last_inbound_at = utcnow() - timedelta(days=8)
    db.session.commit()
    login(client, chat.user.email)
    html = page(client, chat.conv)
    assert "Outside the 7-day window" in html and 'id="send-button" disabled' in html
    response = post(client, chat.conv, "reply", {"text": "Are you still there?", "reply_token": "t2"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Not sent: Outside the 7-day window" in html and "Are you still there?</textarea>" in html
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.direction == "outbound")) == 0
    assert not db.session.get(Conversation, chat.conv.id).human_takeover


def test_an_empty_reply_is_refused(client, db, chat):
    """Sending nothing says so and stores nothing."""
    login(client, chat.user.email)
    response = post(client, chat.conv, "reply", {"text": "   ", "reply_token": "t3"})
    assert response.status_code == 400 and "Write something to send." in response.get_data(as_text=True)


def test_the_reply_box_shows_the_channels_limit(client, chat):
    """The box knows the channel's text limit (the counter and the note under it)."""
    login(client, chat.user.email)
    html = page(client, chat.conv)
    assert 'data-limit="50" data-unit="characters"' in html and "Up to 50 characters per message" in html


@pytest.mark.parametrize(
    ("hours_ago", "expected", "can_send"),
    [
        (2, "24-hour window is open for 21 h more", True),
        (30, "Your reply goes out with Meta's HUMAN_AGENT tag, allowed for 5 days more", True),
        (24 * 8, "more than 7 days, so Messenger will not deliver a reply", False),
    ],
)
def test_messengers_windows_are_explained_before_sending(client, make, inbox_make, hours_ago, expected, can_send):
    """Messenger's 24-hour and 7-day rules are spelled out for the conversation's current age."""
    biz = make.business()
    conv = inbox_make.conversation(biz.account)
    inbox_make.message(conv, "Hi", at=utcnow() - timedelta(hours=hours_ago))
    login(client, biz.user.email)
    html = page(client, conv)
    assert expected in unescape(html)
    assert ('id="send-button" disabled' in html) is not can_send


def test_email_replies_are_threaded(client, make, inbox_make):
    """The reply box says an email reply keeps the subject and the thread."""
    from chatpad.channels import CHANNELS

    if "email" not in CHANNELS:
        pytest.skip("the email channel is merged separately")
    biz = make.business()
    mail = make.account(biz.agent, "email", None, account_id="info@x.test", account_name="info@x.test")
    conv = inbox_make.conversation(mail, subject="Availability inquiry")
    inbox_make.message(conv, "Anything open?")
    login(client, biz.user.email)
    html = page(client, conv)
    assert "Sent as an email reply &#34;Re: Availability inquiry&#34;" in html and "In-Reply-To" in html


def test_internal_notes_are_never_sent(client, db, chat, workers):
    """A note shows in the thread for the team and goes nowhere else."""
    login(client, chat.user.email)
    response = post(
        client, chat.conv, "note", {"body": "Called her back, she prefers mornings."}, follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert "Note added" in html and "Called her back, she prefers mornings." in html and "Internal note" in html
    workers.run("outbound")
    assert sent_messages() == []
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.direction == "outbound")) == 0


def test_resolve_and_reopen(client, db, chat):
    """Resolving and reopening change the status and are audited."""
    login(client, chat.user.email)
    html = post(client, chat.conv, "resolve", follow_redirects=True).get_data(as_text=True)
    assert "Resolved. It reopens if the customer writes again." in html and 'id="reopen"' in html
    db.session.expire_all()
    assert db.session.get(Conversation, chat.conv.id).status == "resolved"
    post(client, chat.conv, "reopen")
    db.session.expire_all()
    assert db.session.get(Conversation, chat.conv.id).status == "open"
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert "conversation.resolve" in actions and "conversation.reopen" in actions


def test_a_post_without_csrf_token_is_refused(client, db, chat):
    """Every action needs the form's CSRF token."""
    login(client, chat.user.email)
    response = client.post(f"/admin/inbox/c/{chat.conv.id}/resolve")
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Conversation, chat.conv.id).status == "open"


def test_assign_to_a_colleague_but_not_to_an_outsider(client, db, chat, make):
    """Assignment offers the organization's people only."""
    colleague = make.user(chat.org, role="agent", email="pat@lakeside.test")
    outsider = make.user(make.org(), email="eve@rival.test")
    login(client, chat.user.email)
    html = page(client, chat.conv)
    assert "pat@lakeside.test" in html and "eve@rival.test" not in html
    post(client, chat.conv, "assign", {"user": str(colleague.id)})
    db.session.expire_all()
    assert db.session.get(Conversation, chat.conv.id).assigned_user_id == colleague.id
    response = post(client, chat.conv, "assign", {"user": str(outsider.id)})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Conversation, chat.conv.id).assigned_user_id == colleague.id


def test_actions_on_another_organizations_conversation_are_404(client, db, chat, make, inbox_make):
    """Nothing can be done to a conversation of another business, whatever the URL."""
    rival = make.business("Rival")
    theirs = inbox_make.conversation(rival.account)
    login(client, chat.user.email)
    token = csrf_from(page(client, chat.conv))
    for action in ("reply", "note", "take-over", "hand-back", "resolve", "reopen", "assign", "merge"):
        response = client.post(f"/admin/inbox/c/{theirs.id}/{action}", data={"csrf_token": token, "text": "x"})
        assert response.status_code == 404, action
    db.session.expire_all()
    assert db.session.get(Conversation, theirs.id).status == "open"


def test_attachments_download_only_inside_the_organization(client, db, app, chat, make, inbox_make, tmp_path):
    """A stored file downloads for its organization and is 404 for everyone else."""
    from pathlib import Path

    folder = Path(app.config["ATTACHMENT_DIR"]) / "t"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.pdf").write_bytes(b"%PDF-1.4 plan")
    message = inbox_make.message(chat.conv, "See attached")
    row = Attachment(
        message_id=message.id, filename="plan.pdf", content_type="application/pdf", size=13, storage_key="t/plan.pdf"
    )
    db.session.add(row)
    db.session.commit()
    login(client, chat.user.email)
    response = client.get(f"/admin/inbox/attachments/{row.id}")
    assert response.status_code == 200 and response.data == b"%PDF-1.4 plan"
    assert response.headers["Content-Disposition"].startswith("attachment")
    rival = make.business("Rival")
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))})
    login(client, rival.user.email)
    assert client.get(f"/admin/inbox/attachments/{row.id}").status_code == 404


def test_handoffs_notify_the_team_in_app(client, db, chat):
    """A handoff shows on the bell and the notifications page; opening it leads to the conversation."""
    from chatpad.pipeline import take_over

    take_over(db.session.get(Conversation, chat.conv.id), reason="The customer asked for a person")
    login(client, chat.user.email)
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert re.search(r'id="notification-count">1<', html)
    html = client.get("/admin/inbox/notifications/").get_data(as_text=True)
    assert "Jane Doe is waiting for a person" in html and "The customer asked for a person" in html
    (notification,) = db.session.scalars(select(Notification)).all()
    response = client.post(f"/admin/inbox/notifications/{notification.id}/open", data={"csrf_token": csrf_from(html)})
    assert response.headers["Location"].endswith(f"/admin/inbox/c/{chat.conv.id}")
    db.session.expire_all()
    assert db.session.get(Notification, notification.id).read_at is not None
    assert 'id="notification-count"' not in client.get("/admin/inbox/").get_data(as_text=True)


class Person:
    """A browser of its own: its own cookies. The test's app context outlives requests, so what they cache in g
    (Flask-Login's user, Flask-WTF's CSRF token) is dropped before each request, as a server's fresh context per
    request would."""

    def __init__(self, app, email: str | None = None):
        self.client = app.test_client()
        if email:
            self._fresh()
            login(self.client, email)

    @staticmethod
    def _fresh() -> None:
        from flask import g

        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    def get(self, *args, **kw):
        self._fresh()
        return self.client.get(*args, **kw)

    def post(self, *args, **kw):
        self._fresh()
        return self.client.post(*args, **kw)


def opened_links(html: str) -> list[str]:
    return re.findall(r'action="(/admin/inbox/notifications/\d+/open)"', html)


def bell(person) -> int:
    """The unread count on the bell of whoever is signed in (0 when the bell shows none)."""
    found = re.search(r'id="notification-count">(\d+)<', person.get("/admin/inbox/").get_data(as_text=True))
    return int(found.group(1)) if found else 0


def test_each_person_has_their_own_read_state(app, db, make, chat):
    """Opening a notification or pressing "Mark all as read" changes only my bell, never a colleague's."""
    from chatpad.pipeline import take_over

    colleague = make.user(chat.org, role="agent")
    take_over(db.session.get(Conversation, chat.conv.id), reason="The customer asked for a person")
    me, other = Person(app, chat.user.email), Person(app, colleague.email)
    assert bell(me) == 1 and bell(other) == 1

    html = other.get("/admin/inbox/notifications/").get_data(as_text=True)
    (mine,) = opened_links(html)
    other.post(mine, data={"csrf_token": csrf_from(html)})
    assert bell(other) == 0 and bell(me) == 1
    # Someone else's notification is not mine to open.
    (theirs,) = opened_links(me.get("/admin/inbox/notifications/").get_data(as_text=True))
    assert theirs != mine and other.post(theirs, data={"csrf_token": csrf_from(html)}).status_code == 404
    assert bell(me) == 1

    # A new message in the taken-over conversation: the colleague, who read theirs, hears again; I have one unread.
    from chatpad.notify import notify_team

    notify_team(chat.org.id, kind="handoff", title="Jane Doe is waiting for a person", conversation=chat.conv)
    db.session.commit()
    assert bell(other) == 1 and bell(me) == 1

    html = me.get("/admin/inbox/notifications/").get_data(as_text=True)
    me.post("/admin/inbox/notifications/read-all", data={"csrf_token": csrf_from(html)})
    assert bell(me) == 0 and bell(other) == 1
    assert "Jane Doe is waiting for a person" in other.get("/admin/inbox/notifications/").get_data(as_text=True)


def test_assigning_a_conversation_notifies_the_assignee(app, client, db, make, chat):
    """The colleague a conversation is assigned to is notified (and emailed, if they asked); nobody else is, and
    assigning to yourself tells no one."""
    colleague = make.user(chat.org, role="agent", email="pat@lakeside.example.com")
    colleague.name = "Pat Agent"
    chat.user.name = "Olive Owner"
    db.session.commit()
    login(client, chat.user.email)
    assert post(client, chat.conv, "assign", {"user": str(chat.user.id)}).status_code == 302
    assert db.session.scalars(select(Notification)).all() == []

    assert post(client, chat.conv, "assign", {"user": str(colleague.id)}).status_code == 302
    (notice,) = db.session.scalars(select(Notification)).all()
    assert notice.user_id == colleague.id and notice.kind == "assigned"
    assert notice.title == "Olive Owner assigned you the conversation with Jane Doe"
    assert notice.conversation_id == chat.conv.id
    post(client, chat.conv, "assign", {"user": str(colleague.id)})  # saved again: no second notice
    assert len(db.session.scalars(select(Notification)).all()) == 1

    other = Person(app, colleague.email)
    assert bell(other) == 1 and bell(Person(app, chat.user.email)) == 0
    html = other.get("/admin/inbox/notifications/").get_data(as_text=True)
    assert "Olive Owner assigned you the conversation with Jane Doe" in html
    opened = other.post(f"/admin/inbox/notifications/{notice.id}/open", data={"csrf_token": csrf_from(html)})
    assert opened.headers["Location"].endswith(f"/admin/inbox/c/{chat.conv.id}")


def test_a_person_chooses_whether_to_get_email(client, db, chat):
    """Each person turns handoff emails on or off for themselves."""
    login(client, chat.user.email)
    html = client.get("/admin/inbox/notifications/").get_data(as_text=True)
    client.post("/admin/inbox/notifications/settings", data={"csrf_token": csrf_from(html)})
    db.session.expire_all()
    assert db.session.get(User, chat.user.id).notify_email is False
    client.post("/admin/inbox/notifications/settings", data={"csrf_token": csrf_from(html), "notify_email": "y"})
    db.session.expire_all()
    assert db.session.get(User, chat.user.id).notify_email is True


def test_a_channel_without_an_adapter_explains_instead_of_failing(client, db, make, inbox_make):
    """A conversation on a channel this server has no adapter for (kept from another installation, say) says so; a
    reply is refused, not lost."""
    biz = make.business()
    other = make.account(biz.agent, "telegram", biz.location, account_id="@mhp_office", account_name="Office bot")
    conv = inbox_make.conversation(other)
    inbox_make.message(conv, "Call me back?")
    login(client, biz.user.email)
    html = page(client, conv)
    assert "Replies on telegram are not available on this server yet" in html and 'id="send-button" disabled' in html
    response = post(client, conv, "reply", {"text": "Sure", "reply_token": "t9"})
    assert response.status_code == 409 and "Not sent: replies on telegram are not available." in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert not db.session.get(Conversation, conv.id).human_takeover


def test_the_email_reply_note_keeps_one_re(make, inbox_make):
    """An email reply's subject gets "Re: " once, however many times the thread was answered."""
    from chatpad.channels import get_channel
    from chatpad.inbox.thread import reply_guide

    biz = make.business()
    mail = make.account(biz.agent, "email", None, account_id="info@x.test", account_name="info@x.test")
    adapter = get_channel("loopback")  # any registered adapter: the note depends on the conversation's channel
    first = inbox_make.conversation(mail, subject="Availability inquiry")
    again = inbox_make.conversation(mail, subject="RE: Availability inquiry")
    assert '"Re: Availability inquiry"' in reply_guide(first, adapter=adapter).notes[0]
    assert '"RE: Availability inquiry"' in reply_guide(again, adapter=adapter).notes[0]
    assert "In-Reply-To and References" in reply_guide(first, adapter=adapter).notes[0]
