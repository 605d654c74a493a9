"""Threading rules (docs/channels/email.md): which conversation an incoming mail joins, as a person would expect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from chatpad.channels.email import threads
from chatpad.models import Conversation, Message
from chatpad.pipeline.mail_sync import store_message

from .test_email_sync import mail

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"


def _inbox(make, address="forge@mhpcommunities.com"):
    biz = make.business()
    account = make.account(biz.agent, "email", biz.location, account_id=address, account_name=address, meta={})
    return biz, account


def _conversations(db, account) -> list[Conversation]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Conversation).where(Conversation.social_account_id == account.id).order_by(Conversation.created_at)
        )
    )


def _conversation_of(db, account, message_id: str) -> Conversation:
    message = db.session.scalar(
        select(Message).where(Message.channel_account_id == account.id, Message.external_id == message_id)
    )
    return db.session.get(Conversation, message.conversation_id)


def _fixture(name: str, **replace: str) -> bytes:
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    for old, new in replace.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def test_reply_by_references_joins_its_conversation(db, make):
    """Rule 1: In-Reply-To/References naming a stored message put the mail in that message's conversation."""
    _, account = _inbox(make)
    store_message(account, mail("mike@x.example", account.account_id, "Homes", message_id="q1@x.example"))
    store_message(account, mail("mike@x.example", account.account_id, "Re: Homes", message_id="q2@x.example",
                                in_reply_to="q1@x.example"))  # fmt: skip
    # References newest-first: an unknown newest id, then a known older one.
    store_message(account, mail("mike@x.example", account.account_id, "Another topic", message_id="q3@x.example",
                                references="<q1@x.example> <unknown@x.example>"))  # fmt: skip
    [conversation] = _conversations(db, account)
    assert len(conversation.messages) == 3 and conversation.thread_key == "q1@x.example"


def test_gmail_reply_to_our_mail_finds_the_conversation_by_our_token(db, make):
    """Rule 2: our Message-ID carries the conversation; a reply naming it (even one we never stored) finds it."""
    _, account = _inbox(make)
    store_message(account, mail("mike.doe@gmail.example", account.account_id, "3 bedroom homes at Forge",
                                message_id="start@gmail.example", name="Mike Doe"))  # fmt: skip
    [conversation] = _conversations(db, account)
    ours = threads.make_message_id(conversation.id, "mhpcommunities.com")
    store_message(account, _fixture("message__gmail_reply", **{"chatpad.PARENT_TOKEN@mhpcommunities.com": ours}))
    [same] = _conversations(db, account)
    assert same.id == conversation.id and len(same.messages) == 2


def test_outlook_reply_with_rewritten_ids_stays_in_its_conversation(db, make):
    """Rule 3: Exchange rewrote our Message-ID, so Jane's "RE:" names an id we never saw; same sender and subject
    within the window keep it in her conversation."""
    _, account = _inbox(make)
    store_message(account, mail("jane.doe@contoso.example", account.account_id, "Lot rent question",
                                message_id="jane-1@contoso.example", name="Doe, Jane"))  # fmt: skip
    store_message(account, _fixture("message__outlook_reply"))
    conversations = _conversations(db, account)
    assert len(conversations) == 1 and len(conversations[0].messages) == 2


def test_new_topic_sent_as_re_by_another_sender_starts_a_new_conversation(db, make):
    """A "Re: Lot rent question" from someone else is not Jane's conversation."""
    _, account = _inbox(make)
    store_message(account, mail("jane.doe@contoso.example", account.account_id, "Lot rent question"))
    store_message(account, mail("bob@other.example", account.account_id, "Re: Lot rent question"))
    assert len(_conversations(db, account)) == 2


def test_reply_to_a_newsletter_starts_a_new_conversation(db, make):
    """A customer answering a newsletter (an id we never sent or stored) gets their own conversation, even if they
    wrote to us before about something else."""
    _, account = _inbox(make)
    store_message(account, mail("linda.park@example.com", account.account_id, "Pool hours", name="Linda Park"))
    store_message(account, _fixture("message__newsletter_reply"))
    conversations = _conversations(db, account)
    assert len(conversations) == 2
    assert conversations[1].subject == "Re: Forge at the Lake - December newsletter"


def test_same_subject_without_reply_markers_is_a_new_conversation(db, make):
    """Two separate mails with the same subject (no Re:, no references) are two conversations."""
    _, account = _inbox(make)
    store_message(account, mail("sam@x.example", account.account_id, "Question"))
    store_message(account, mail("sam@x.example", account.account_id, "Question"))
    assert len(_conversations(db, account)) == 2


def test_subject_match_outside_the_window_is_a_new_conversation(db, make):
    """Rule 3 only reaches back MAIL_THREAD_WINDOW_DAYS: a "Re:" months later starts over."""
    _, account = _inbox(make)
    old = datetime.now(UTC) - timedelta(days=90)
    store_message(account, mail("sam@x.example", account.account_id, "Lease renewal"), received=old)
    store_message(account, mail("sam@x.example", account.account_id, "RE: Lease renewal", in_reply_to="gone@x"))
    assert len(_conversations(db, account)) == 2


def test_threading_never_crosses_inboxes(db, make):
    """A reference to a message of another inbox does not pull the mail into that inbox's conversation."""
    biz, first = _inbox(make, "forge@mhpcommunities.com")
    second = make.account(biz.agent, "email", None, account_id="info@mhpcommunities.com", meta={})
    store_message(first, mail("mike@x.example", first.account_id, "Homes", message_id="shared-root@x.example"))
    store_message(second, mail("mike@x.example", second.account_id, "Re: Homes", in_reply_to="shared-root@x.example"))
    assert len(_conversations(db, first)) == 1 and len(_conversations(db, second)) == 1
    assert _conversation_of(db, second, _conversations(db, second)[0].messages[0].external_id).social_account_id == (
        second.id
    )
