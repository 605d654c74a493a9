"""The email adapter without servers: parsing the fixture corpus, loop protection, replies, subjects, ids."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from chatpad.channels import get_channel
from chatpad.channels.email import threads
from chatpad.channels.email.compose import QuotedOriginal, ReplyDraft, build_reply, first_name, paragraphs
from chatpad.channels.email.parsing import parse_email, split_trace, with_trace
from chatpad.channels.errors import AnomalousPayloadError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"
INBOX = "forge@mhpcommunities.com"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes()


def parse(name: str, inbox: str = INBOX):
    """The fixture as the adapter sees it after the sync stored it (trace lines in front)."""
    events = get_channel("email").parse(with_trace(fixture(name), inbox=inbox, uid="7:42"))
    assert len(events) == 1
    return events[0]


# --- parsing ---------------------------------------------------------------------------------------------------


def test_gmail_reply_gives_the_ai_only_the_new_text():
    """A Gmail reply: the AI reads the customer's new lines, not the quoted history; the full text is kept."""
    event = parse("message__gmail_reply")
    assert event.kind == "message" and event.channel == "email" and event.account_id == INBOX
    assert event.sender_id == "mike.doe@gmail.example"
    assert event.message.metadata.sender_name == "Mike Doe"
    assert event.message.content.startswith("Thanks! Is the one on Lakeshore still available?")
    assert "We have two 3 bedroom homes" not in event.message.content
    email = event.message.metadata.extra["email"]
    assert "We have two 3 bedroom homes" in email["text"]
    assert email["subject"] == "Re: 3 bedroom homes at Forge"
    assert event.message.metadata.external_id == "CAKx7w+9f2Zr1bQ@mail.gmail.example"
    assert email["in_reply_to"] == ["chatpad.PARENT_TOKEN@mhpcommunities.com"]
    assert "no_reply_reason" not in event.data


def test_outlook_reply_in_windows_1252_loses_its_from_sent_block():
    """An Outlook reply (cp1252, quoted-printable): curly quote decoded, the From:/Sent: history cut."""
    event = parse("message__outlook_reply")
    assert event.message.content == "Does the lot rent include water and trash? We’d move in January.\n\nJane"
    assert event.message.metadata.extra["email"]["from_name"] == "Doe, Jane"
    assert "<b>From:</b> Forge at the Lake" in event.message.metadata.extra["email"]["html"]  # display keeps it all


def test_html_only_mail_is_sanitised_for_display_and_converted_for_the_ai():
    """HTML-only mail: scripts, handlers and javascript: links removed; the AI gets text with the table laid out."""
    event = parse("message__html_only")
    html = event.message.metadata.extra["email"]["html"]
    assert "<script" not in html and "alert(" not in html and "onload" not in html and "javascript:" not in html
    assert "<table>" in html and 'href="https://example.org/dogs"' in html
    text = event.message.content
    assert "Do you allow two dogs at Clearview?" in text
    assert "Max" in text and "Beagle" in text
    assert "<" not in text


def test_encoded_headers_and_latin1_body_are_decoded():
    """RFC 2047 words (UTF-8 base64 with an emoji, ISO-8859-1 Q) and an ISO-8859-1 body read correctly."""
    event = parse("message__encoded_headers", inbox="palmharbor@mhpcommunities.com")
    assert event.message.metadata.extra["email"]["subject"] == "¿Tienen casas de 2 habitaciones? 🏠"
    assert event.message.metadata.sender_name == "José García"
    assert "algo pequeño cerca de la playa" in event.message.content


def test_unknown_charset_falls_back_instead_of_failing():
    """A charset no codec knows: the bytes are still read (as UTF-8 here), the message is not lost."""
    event = parse("message__bad_charset", inbox="magnolia@mhpcommunities.com")
    assert "Is the café open too?" in event.message.content


def test_attachments_and_inline_images_are_listed_with_safe_names():
    """A PDF attachment and an inline image (cid:) are listed with type, size and hash; a ../ path is dropped."""
    parsed = parse_email(fixture("message__attachments"), inbox="cypress@mhpcommunities.com")
    files = {a.filename: a for a in parsed.attachments}
    assert set(files) == {"leak.png", "application.pdf"}
    assert files["leak.png"].inline and files["leak.png"].content_id == "leak-photo@example.net"
    assert files["application.pdf"].data.startswith(b"%PDF-1.4") and not files["application.pdf"].inline
    event = parse("message__attachments", inbox="cypress@mhpcommunities.com")
    media = {m.name: m for m in event.message.media}
    assert media["leak.png"].type == "image" and media["application.pdf"].type == "file"
    assert media["application.pdf"].extra["storage_key"].startswith("email/")
    assert media["application.pdf"].size == files["application.pdf"].size
    assert 'src="cid:leak-photo@example.net"' in event.message.metadata.extra["email"]["html"]


def test_german_reply_loses_signature_and_quote():
    """ "-- " signatures and German "Am … schrieb …:" quotes are cut too."""
    event = parse("message__german_reply", inbox="info@mhpcommunities.com")
    assert event.message.content == "Hallo,\n\npasst Ihnen Donnerstag um 10 Uhr?"


def test_contact_form_mail_is_answered_to_the_reply_to_address():
    """A website form sends from noreply@ with the customer in Reply-To: the customer is the sender, answerable."""
    event = parse("message__contact_form")
    assert event.sender_id == "sam.rivera@example.com"
    assert event.message.metadata.sender_name == "Sam Rivera"
    assert "no_reply_reason" not in event.data


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("message__auto_reply", "auto_reply"),
        ("message__bounce", "bounce"),
        ("message__mailing_list", "mailing_list"),
        ("message__no_reply_sender", "no_reply_sender"),
    ],
)
def test_noise_is_stored_but_flagged_never_answered(name, reason):
    """Auto-replies, bounces (DSN), lists and no-reply senders carry the reason the pipeline honours."""
    event = parse(name)
    assert event.kind == "message"  # stored, so a person can still read it
    assert event.data["no_reply_reason"] == reason


def test_reply_to_a_newsletter_is_a_customer_question():
    """A customer answering a newsletter is a person asking something: answered, with the quote cut."""
    event = parse("message__newsletter_reply")
    assert "no_reply_reason" not in event.data
    assert event.message.content == "Will the holiday potluck be in the clubhouse again this year?\n\nLinda"


def test_our_own_mail_is_flagged():
    """Mail from the inbox itself (a copy of what we sent) is never answered."""
    raw = (
        b"From: Forge <forge@mhpcommunities.com>\r\nTo: x@example.com\r\nSubject: hi\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n"
    )
    assert parse_email(raw, inbox=INBOX).no_reply_reason == "own_message"


def test_backfilled_mail_is_history():
    """Mail found by the first sync's backfill is stored as history, not answered."""
    body = with_trace(fixture("message__gmail_reply"), inbox=INBOX, backfill=True)
    event = get_channel("email").parse(body)[0]
    assert event.data["no_reply_reason"] == "backfill"


def test_trace_lines_count_only_at_the_top():
    """Only the sync job's lines at the very top name the inbox; the same header from a sender is ignored."""
    forged = b"Subject: x\r\nX-ChatPad-Inbox: other@mhpcommunities.com\r\nFrom: a@b.c\r\n\r\nhi\r\n"
    trace, rest = split_trace(forged)
    assert trace == {} and rest == forged
    with pytest.raises(AnomalousPayloadError):
        get_channel("email").parse(forged)


def test_mail_is_never_accepted_by_webhook(client):
    """Nobody can inject mail by posting to /api/webhooks/email: mail only comes from the inbox over IMAP."""
    from chatpad.channels.errors import SignatureError

    response = client.post("/api/webhooks/email", data=fixture("message__gmail_reply"))
    assert response.status_code in (403, 404)
    with pytest.raises(SignatureError):
        get_channel("email").verify_request(fixture("message__gmail_reply"), {}, {})


def test_not_an_email_is_anomalous():
    """Garbage in a stored event is reported as such, not half-parsed."""
    with pytest.raises(AnomalousPayloadError):
        get_channel("email").parse(with_trace(b"\x00\x01 binary", inbox=INBOX))


def test_message_without_message_id_gets_a_stable_one():
    """No Message-ID header: an id derived from the bytes, the same on every resync (so dedupe still works)."""
    raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    first, second = parse_email(raw, inbox=INBOX), parse_email(raw, inbox=INBOX)
    assert first.message_id == second.message_id and first.message_id.endswith("@generated.chatpad.invalid")


# --- subjects and ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "normalized", "reply"),
    [
        ("Re: Lot rent", "lot rent", "Re: Lot rent"),
        ("RE: AW: Re[2]: Lot rent", "lot rent", "Re: Lot rent"),
        ("[EXTERNAL] RE: Lot  rent", "lot rent", "Re: [EXTERNAL] RE: Lot  rent"),
        ("Fwd: Lot rent", "lot rent", "Re: Fwd: Lot rent"),
        ("SV: Lot rent", "lot rent", "Re: Lot rent"),
        ("", "", "Re: your message"),
    ],
)
def test_subjects_are_normalised_and_re_is_never_stacked(subject, normalized, reply):
    """Re:/RE:/AW:/SV:/Fwd:/[EXTERNAL] are one subject for threading; our answer has exactly one Re:."""
    assert threads.normalize_subject(subject) == normalized
    assert threads.reply_subject(subject) == reply


def test_our_message_ids_carry_the_conversation():
    """Our Message-ID names the conversation, and the token is found even in mangled header text."""
    conversation_id = uuid.uuid4()
    mid = threads.make_message_id(conversation_id, "mhpcommunities.com")
    assert mid.endswith("@mhpcommunities.com") and mid.startswith("chatpad.")
    assert threads.token_conversation_id(f"garbage {mid.upper()} more") == conversation_id
    assert threads.token_conversation_id("<someone@else.example>") is None


def test_references_keep_the_root_and_the_newest():
    """References: the parent's chain plus its id; very long chains keep the root and the latest ids."""
    assert threads.reply_references("p", [], ["g"]) == ["g", "p"]
    chain = [f"m{i}" for i in range(40)]
    refs = threads.reply_references("p", chain, [])
    assert refs[0] == "m0" and refs[-1] == "p" and len(refs) == 20


# --- replies ---------------------------------------------------------------------------------------------------


def _draft(**kw) -> ReplyDraft:
    base = dict(
        from_addr="forge@mhpcommunities.com",
        from_name="Forge at the Lake",
        to=[("Mike Doe", "mike.doe@gmail.example")],
        subject="Re: 3 bedroom homes at Forge",
        body="Yes, the Lakeshore home is still available.\n\nSaturday at 10 works. See https://book.example/forge",
        message_id="chatpad.abc.123@mhpcommunities.com",
        in_reply_to="CAKx7w+9f2Zr1bQ@mail.gmail.example",
        references=["root@x", "CAKx7w+9f2Zr1bQ@mail.gmail.example"],
        greeting_name="Mike Doe",
        signature="The Forge at the Lake team\n4100 Lakeshore Dr, Conroe, TX 77356\n(936) 555-0141",
        original=QuotedOriginal(
            "Mike Doe", "mike.doe@gmail.example", datetime(2026, 11, 24, 16, 2, tzinfo=UTC), "Is it available?"
        ),
    )
    base.update(kw)
    return ReplyDraft(**base)


def test_reply_reads_like_an_email():
    """Greeting by first name, the AI's paragraphs, sign-off with the location's signature, quoted original."""
    msg = build_reply(_draft())
    text = msg.get_body(("plain",)).get_content()
    assert text.startswith("Hi Mike,\n\nYes, the Lakeshore home is still available.\n\nSaturday at 10 works.")
    assert "Kind regards,\nThe Forge at the Lake team\n4100 Lakeshore Dr" in text
    assert "On Tue, 24 Nov 2026 at 16:02, Mike Doe <mike.doe@gmail.example> wrote:\n> Is it available?" in text
    html = msg.get_body(("html",)).get_content()
    assert "<p>Hi Mike,</p>" in html and '<a href="https://book.example/forge">' in html
    assert '<blockquote type="cite"' in html and 'class="gmail_quote"' in html


def test_reply_has_threading_headers_and_is_multipart():
    """multipart/alternative with Message-ID, In-Reply-To, References, one Re:, and RFC 3834 Auto-Submitted."""
    msg = build_reply(_draft())
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Message-ID"] == "<chatpad.abc.123@mhpcommunities.com>"
    assert parsed["In-Reply-To"] == "<CAKx7w+9f2Zr1bQ@mail.gmail.example>"
    assert parsed["References"] == "<root@x> <CAKx7w+9f2Zr1bQ@mail.gmail.example>"
    assert parsed["Subject"] == "Re: 3 bedroom homes at Forge"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["From"] == "Forge at the Lake <forge@mhpcommunities.com>"


def test_a_persons_reply_is_not_marked_automatic():
    """Replies written by a team member carry no Auto-Submitted (they are personal mail)."""
    assert build_reply(_draft(automated=False))["Auto-Submitted"] is None


def test_existing_greeting_and_closing_are_not_doubled():
    """An AI text that already greets and signs off gets no second greeting or 'Kind regards'."""
    msg = build_reply(_draft(body="Hello Mike!\n\nIt is available.\n\nBest regards,"))
    text = msg.get_body(("plain",)).get_content()
    assert text.count("Hi Mike") == 0 and text.startswith("Hello Mike!")
    assert "Kind regards" not in text


def test_long_paragraphs_are_split_and_names_are_friendly():
    """A wall of text becomes short paragraphs; 'Doe, Jane' is greeted as Jane; an address is not a name."""
    wall = " ".join(f"Sentence number {i} is here." for i in range(40))
    assert len(paragraphs(wall)) > 1 and all(len(p) <= 420 for p in paragraphs(wall))
    assert first_name("Doe, Jane") == "Jane" and first_name("mike") == "Mike" and first_name("a@b.c") is None


def test_reply_mime_survives_a_json_payload():
    """The formatted reply is stored as JSON (base64 MIME) and decodes to the same message."""
    raw = build_reply(_draft()).as_bytes()
    assert base64.b64decode(base64.b64encode(raw).decode()) == raw
    assert raw.isascii()


def test_from_name_that_decodes_to_cr_lf_is_made_one_safe_line():
    """A From name whose RFC 2047 word decodes to CR/LF (a header injection) is stored as one plain line, so the
    reply's To header built from it stays valid instead of failing every reply (issue 16 item 7)."""
    raw = (
        b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Ecom?= <eve@example.com>\r\n"
        b"To: palmharbor@mhpcommunities.com\r\nSubject: Hi\r\nMessage-ID: <crlf-1@example.com>\r\n"
        b"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nDo you have a lot free?\r\n"
    )
    events = get_channel("email").parse(with_trace(raw, inbox="palmharbor@mhpcommunities.com", uid="7:43"))
    name = events[0].message.metadata.sender_name
    assert "\r" not in name and "\n" not in name
    assert name == "Eve Bcc: victim@example.com"
