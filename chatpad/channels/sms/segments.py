"""How many SMS segments a text costs: GSM-7 (160 in one segment, 153 each when split; the extension characters
^{}\\[~]|€ take two septets) or UCS-2 as soon as one character is outside GSM-7 (70, or 67 each when split; a
character outside the Basic Multilingual Plane, most emoji, takes two UTF-16 units). A character is never split
between segments, so 67 emoji (134 units) take three segments, not two.

https://www.twilio.com/docs/glossary/what-sms-character-limit (1,600 characters at most; Twilio recommends ≤ 320)
The same rules run in the reply box (chatpad/static/inbox.js: smsSegments), so the person writing sees the count.
"""

from __future__ import annotations

from dataclasses import dataclass

# 3GPP TS 23.038 default alphabet (the basic table) and its extension table (ESC + char: two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617)
RECOMMENDED = 320  # Twilio's advice for deliverability


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # the limit per segment at this length (160/153 or 70/67)

    def describe(self) -> str:
        plural = "" if self.segments == 1 else "s"
        return f"{self.segments} segment{plural} ({self.encoding})"


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def count_segments(text: str) -> SegmentCount:
    """The segments `text` is sent as (an empty text is one segment, as carriers bill it)."""
    if is_gsm7(text):
        sizes = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # UTF-16 code units
        single, multi, encoding = 70, 67, "UCS-2"
    units = sum(sizes)
    if units <= single:
        return SegmentCount(encoding, units, 1, single)
    # A character is never cut between two segments (an escape and its character, a surrogate pair).
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return SegmentCount(encoding, units, segments, multi)
