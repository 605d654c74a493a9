"""Handoff topics: what always goes to a person (billing disputes, legal questions, emergencies), a list the admin
edits per agent and per location (Agent.handoff_topics, Location.handoff_topics).

Each topic is {"name": "billing dispute", "keywords": ["charged twice", …]}. The admin writes one topic a line,
"billing dispute: charged twice, overcharged" (the words after the colon are optional). A topic whose name is one of
KNOWN_TOPICS also gets that topic's words in English and Spanish, so "billing dispute" alone already catches
"I was charged twice" and "me cobraron dos veces". The offline provider matches the words; the OpenAI-compatible
provider is given the list and answers with the topic's name when it hands off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import fold

# Built-in words (English and Spanish, accents folded) for the topics businesses most often hand to a person.
KNOWN_TOPICS: dict[str, tuple[str, ...]] = {
    "billing dispute": (
        "charged twice",
        "double charged",
        "charged me twice",
        "overcharged",
        "over charged",
        "wrong charge",
        "wrong amount",
        "incorrect charge",
        "billed twice",
        "double billed",
        "dispute",
        "refund",
        "late fee",
        "not my charge",
        "unauthorized charge",
        "charged me",
        "money back",
        "paid twice",
        "charged double",
        "taken out twice",
        "took out twice",
        "out twice",
        "bill is wrong",
        "wrong bill",
        "me cobraron dos veces",
        "cobraron dos veces",
        "me cobraron de mas",
        "cobro doble",
        "doble cobro",
        "cobro equivocado",
        "cargo equivocado",
        "reembolso",
        "me cobraron",
    ),
    "legal": (
        "lawyer",
        "attorney",
        "sue",
        "lawsuit",
        "legal action",
        "court",
        "eviction",
        "evict",
        "evicted",
        "discrimination",
        "abogado",
        "demanda",
        "demandar",
        "desalojo",
        "desalojar",
        "corte",
        "discriminacion",
    ),
    "emergency": (
        "emergency",
        "gas leak",
        "smell gas",
        "smells like gas",
        "fire",
        "flooding",
        "flooded",
        "water everywhere",
        "pouring",
        "sparks",
        "electrical fire",
        "no heat",
        "burst pipe",
        "pipe burst",
        "emergencia",
        "fuga de gas",
        "huele a gas",
        "incendio",
        "fuego",
        "inundacion",
        "se inundo",
        "chispas",
    ),
}
_ALIASES = {
    "billing": "billing dispute",
    "billing disputes": "billing dispute",
    "billing issue": "billing dispute",
    "billing issues": "billing dispute",
    "legal question": "legal",
    "legal questions": "legal",
    "legal matters": "legal",
    "emergencies": "emergency",
    "maintenance emergency": "emergency",
    "maintenance emergencies": "emergency",
}
DEFAULT_TOPICS = ("billing dispute", "legal", "emergency")


@dataclass
class HandoffTopic:
    """Something that always goes to a person: a name and the words (any language) that mean it."""

    name: str
    keywords: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"name": self.name, "keywords": list(self.keywords)}


def known_name(name: str) -> str | None:
    key = " ".join(fold(name).split())
    key = _ALIASES.get(key, key)
    return key if key in KNOWN_TOPICS else None


def topic_from(raw) -> HandoffTopic | None:
    """A topic from its stored form ({"name", "keywords"} or a plain name); None when it has no name."""
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        return None
    name = " ".join(str(raw.get("name") or "").split())
    if not name:
        return None
    own = [" ".join(str(k).split()) for k in raw.get("keywords") or [] if str(k).strip()]
    known = known_name(name)
    words = [*own, *(KNOWN_TOPICS[known] if known else ()), *([] if known else [name])]
    return HandoffTopic(name=name, keywords=list(dict.fromkeys(fold(w) for w in words)))


def parse_topics(text: str) -> list[dict]:
    """The admin's lines ("billing dispute: charged twice, overcharged") as stored topics. Raises ValueError on a
    line without a name."""
    topics: list[dict] = []
    seen: set[str] = set()
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip().strip("•-* ").strip()
        if not line:
            continue
        name, _, rest = line.partition(":")
        name = " ".join(name.split())
        if not name:
            raise ValueError(f"Line {number}: a topic needs a name before the colon.")
        if len(name) > 80:
            raise ValueError(f"Line {number}: a topic's name is at most 80 characters.")
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        keywords = [" ".join(k.split()) for k in re.split(r"[,;]", rest) if k.strip()]
        topics.append({"name": name, "keywords": keywords})
    return topics


def topics_text(topics: list | None) -> str:
    """Stored topics as the admin's lines."""
    lines = []
    for raw in topics or []:
        topic = raw if isinstance(raw, dict) else {"name": str(raw)}
        keywords = topic.get("keywords") or []
        lines.append(f"{topic.get('name', '')}: {', '.join(keywords)}" if keywords else str(topic.get("name", "")))
    return "\n".join(lines)


def match_topic(text: str, topics: list[HandoffTopic]) -> HandoffTopic | None:
    """The first topic one of whose words the text contains (whole words, accents and case folded)."""
    folded = " ".join(re.sub(r"[^\w$']+", " ", fold(text)).split())
    for topic in topics:
        for word in topic.keywords:
            if word and re.search(r"(?<![\w])" + re.escape(word) + r"(?:s|es)?(?![\w])", folded):
                return topic
    return None
