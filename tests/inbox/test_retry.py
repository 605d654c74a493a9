"""Failed messages (issue 21): a failed message can be re-sent from the thread; a person's reply that failed and is
re-sent after Messenger's 24-hour window goes with Meta's HUMAN_AGENT tag (docs: platform-reference.md B.3); the AI's
cannot be, and another location's message is a 404."""

from __future__ import annotations

from html import unescape

from chatpad.models import Message
from tests.channels.test_facebook_e2e import conversation_of, customer_writes, forge, forget_ai_reply  # noqa: F401
from tests.conftest import csrf_from, login
from tests.inbox.test_conversation import chat, page  # noqa: F401 (fixture)
from tests.inbox.test_locations import mhp  # noqa: F401 (fixture)
from tests.plugins.loopback import sent_messages


def _retry(client, conversation, message):
    html = page(client, conversation)
    return client.post(
        f"/admin/inbox/c/{conversation.id}/messages/{message.id}/retry",
        data={"csrf_token": csrf_from(html)},
        follow_redirects=True,
    )


def test_a_failed_reply_is_retried_from_the_thread(client, db, chat, inbox_make, workers):  # noqa: F811
    failed = inbox_make.message(
        chat.conv, "Lot 14 is yours", direction="outbound", sender_type="human", status="failed", error="Timed out"
    )
    login(client, chat.user.email)
    assert ">Retry</button>" in page(client, chat.conv)
    response = _retry(client, chat.conv, failed)
    assert "Re-sent: queued again." in response.get_data(as_text=True)
    workers.run("outbound")
    assert [s["text"] for s in sent_messages()] == ["Lot 14 is yours"]
    db.session.expire_all()
    assert db.session.get(Message, failed.id).meta["retried_as"]
    html = page(client, chat.conv)
    assert "Re-sent below" in html and ">Retry</button>" not in html
    # A second post re-sends nothing more.
    _retry(client, chat.conv, failed)
    workers.run("outbound")
    assert len(sent_messages()) == 1


def test_a_persons_failed_reply_after_24h_is_resent_tagged(app, client, db, forge, meta_sandbox, workers):  # noqa: F811
    customer_writes(meta_sandbox, workers, forge.page_id, "Is the pool open?", age_seconds=30 * 3600)
    conversation = conversation_of(db, forge.account)
    forget_ai_reply(app, conversation.id)
    human = Message(
        conversation_id=conversation.id,
        channel="facebook",
        channel_account_id=forge.account.id,
        direction="outbound",
        sender_type="human",
        content="Sorry for the wait, yes it is!",
        status="failed",
        error="Messenger was unreachable",
        user_id=forge.user.id,
    )
    ai = Message(
        conversation_id=conversation.id,
        channel="facebook",
        channel_account_id=forge.account.id,
        direction="outbound",
        sender_type="ai",
        content="The pool is open.",
        status="failed",
        error="Messenger was unreachable",
    )
    db.session.add_all([human, ai])
    db.session.commit()
    login(client, forge.user.email)
    html = unescape(page(client, conversation))
    assert html.count("Re-send with the HUMAN_AGENT tag") == 1
    assert "Cannot be re-sent: " in html  # the AI's reply: automation may not use the tag

    response = _retry(client, conversation, human)
    assert "Re-sent with Meta's HUMAN_AGENT tag" in unescape(response.get_data(as_text=True))
    workers.run("outbound")
    (accepted,) = meta_sandbox.accepted()
    assert accepted["json"]["tag"] == "HUMAN_AGENT" and accepted["json"]["message"]["text"].startswith("Sorry")

    response = _retry(client, conversation, ai)
    assert "Not re-sent: " in unescape(response.get_data(as_text=True))
    workers.run("outbound")
    assert len(meta_sandbox.accepted()) == 1


def test_another_locations_failed_message_is_a_404(client, db, mhp, inbox_make):  # noqa: F811
    failed = inbox_make.message(mhp.pine_conv, "Pine reply", direction="outbound", sender_type="human", status="failed")
    login(client, mhp.mia.email)
    token = csrf_from(page(client, mhp.forge_conv))
    for conv in (mhp.pine_conv, mhp.forge_conv):  # the message's own URL, and hers with its id
        response = client.post(f"/admin/inbox/c/{conv.id}/messages/{failed.id}/retry", data={"csrf_token": token})
        assert response.status_code == 404
