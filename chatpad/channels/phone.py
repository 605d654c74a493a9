"""Phone numbers as the SMS and WhatsApp channels keep them: E.164 ("+15125550100"), through `phonenumbers`.

A number the platform delivered a message from (Twilio's From, WhatsApp's wa_id) is an identity the platform proves:
the same E.164 number on SMS and on WhatsApp is the same person. A number a customer merely types somewhere is not.
https://www.twilio.com/docs/glossary/what-e164 (a "+", at most 15 digits, never a leading 0)
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "US"


class PhoneNumberError(ValueError):
    """Not a phone number `phonenumbers` can read; the message says why, for the person who typed it."""


def to_e164(raw: str | None, region: str = DEFAULT_REGION, *, strict: bool = False) -> str:
    """`raw` in E.164. "whatsapp:" prefixes and a missing "+" on a full international number (WhatsApp's wa_id) are
    accepted; a national number is read in `region`. strict: refuse numbers the numbering plan says cannot exist."""
    text = (raw or "").strip()
    if text.lower().startswith("whatsapp:"):
        text = text[9:].strip()
    if not text:
        raise PhoneNumberError("no phone number given")
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and len(digits) > 10 and text.replace(" ", "").isdigit():
        text = "+" + digits  # a wa_id: the country code without the "+"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneNumberError(f"{raw!r} is not a phone number ({exc})") from None
    if strict and not phonenumbers.is_valid_number(number):
        raise PhoneNumberError(f"{raw!r} is not a valid phone number")
    if not phonenumbers.is_possible_number(number):
        raise PhoneNumberError(f"{raw!r} has the wrong number of digits for a phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def maybe_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """to_e164, or None for anything that is not a phone number (a short code stays as its digits)."""
    if raw and raw.strip().isdigit() and len(raw.strip()) <= 6:
        return raw.strip()  # short codes (e.g. 72345) are not E.164 numbers
    try:
        return to_e164(raw, region)
    except PhoneNumberError:
        return None


def wa_digits(e164: str) -> str:
    """The number as WhatsApp writes it (wa_id, the Cloud API's "to"): the digits, no "+"."""
    return e164.lstrip("+")


def display(e164: str) -> str:
    """For people: "+1 512-555-0100" (the international format)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
