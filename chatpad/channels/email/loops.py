"""Loop and noise protection: mail that is stored but never answered by the AI.

Answering an auto-reply, a bounce or a newsletter makes mail loops and embarrassing replies, so these are kept in the
inbox (a person may still read them) and flagged with a reason the pipeline honours (event.data["no_reply_reason"]).
The signals are the standard ones: RFC 3834 (Auto-Submitted), RFC 3464 (DSN, multipart/report), RFC 2919/2369
(List-Id, List-Unsubscribe), the null reverse-path (Return-Path: <>), and the de-facto Precedence and X-Autoreply
headers Exchange, Gmail and vacation tools set.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.message import EmailMessage

    from .parsed import ParsedEmail

NO_REPLY_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?|"
    r"notifications?|auto[-_.]?(?:reply|responder|confirm))(?:[-+_.].*)?$",
    re.IGNORECASE,
)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|abwesenheitsnotiz|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|autosvar|automatisch antwoord|delivery status notification|"
    r"undeliverable|undelivered mail|mail delivery (?:failed|failure|system))\b",
    re.IGNORECASE,
)
# Our own Message-IDs carry this marker (threads.make_message_id).
OWN_MSGID_MARKER = "chatpad."

REASONS = ("own_message", "bounce", "auto_reply", "mailing_list", "bulk", "no_reply_sender")


def no_reply_reason(parsed: ParsedEmail, msg: EmailMessage | None = None) -> str | None:
    """Why the AI must not answer this message, or None when it may."""
    h = parsed.headers
    inbox = (parsed.inbox or "").lower()
    if inbox and parsed.from_addr == inbox:
        return "own_message"
    if parsed.message_id.startswith(OWN_MSGID_MARKER) and parsed.message_id.endswith("@" + inbox.rpartition("@")[2]):
        return "own_message"

    ctype = h.get("content-type", "").lower()
    if "multipart/report" in ctype and "delivery-status" in ctype:
        return "bounce"
    if h.get("return-path", "").replace(" ", "") == "<>" or h.get("x-failed-recipients"):
        return "bounce"
    local = parsed.from_addr.partition("@")[0]
    if re.match(r"^(?:mailer[-_.]?daemon|postmaster)$", local, re.IGNORECASE):
        return "bounce"

    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return "auto_reply"
    if h.get("x-autoreply") or h.get("x-autorespond"):
        return "auto_reply"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return "auto_reply"
    # Exchange's Out-of-Office replies say "Automatic reply:" and carry no Auto-Submitted from older servers.
    if AUTO_REPLY_SUBJECT.match(parsed.subject):
        return "auto_reply"

    if h.get("list-id") or h.get("list-post") or precedence == "list":
        return "mailing_list"
    if precedence in ("bulk", "junk") or h.get("list-unsubscribe") or h.get("feedback-id"):
        return "bulk"

    # A website form often sends from no-reply@ with the customer in Reply-To: that one is answerable.
    if not parsed.reply_address or NO_REPLY_LOCAL.match(parsed.reply_address.partition("@")[0]):
        return "no_reply_sender"
    return None
