"""Opt-out, opt-in and help keywords, as carriers and Twilio's Advanced Opt-Out treat them.

Only a message that is exactly one keyword counts (case and surrounding spaces aside): "STOP" opts out, "STOP
PLEASE" does not. Twilio handles the defaults on long codes itself (it confirms, and later sends to the number fail
with 21610), and still passes the inbound message to the webhook; ChatPad records the same state so the inbox shows it
and a person's reply is refused with the reason instead of failing at Twilio.
https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out
https://www.twilio.com/help/faq/sms/does-twilio-support-stop-block-and-cancel-aka-sms-filtering
"""

from __future__ import annotations

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})


def classify(body: str | None) -> str | None:
    """ "out", "in", "help" for a keyword message, else None. (YES only opts back in someone who opted out: the
    pipeline ignores "in" for a number that never did.)"""
    word = (body or "").strip().upper()
    if not word or any(ch.isspace() for ch in word):
        return None
    if word in OPT_OUT:
        return "out"
    if word in OPT_IN:
        return "in"
    if word in HELP:
        return "help"
    return None
