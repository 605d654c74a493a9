"""Retrieval: the part of a location's knowledge one reply needs, within a prompt budget.

A real business has hundreds of FAQs, policies and listings and long documents (park rules, lease terms, its
website's pages). Putting all of it into every prompt costs tokens, time and attention; this module ranks the
knowledge against the customer's words with Okapi BM25 and keeps the best within a budget of characters.

- Text is lowercased, stripped of accents, split into words, English and Spanish stopwords dropped and each word
  stemmed lightly (plural, -ing and -ed endings), so "dogs" meets "dog" and "mascotas" meets "mascota".
- Long documents are cut into passages (chunk_text) at their headings and paragraphs, each ranked on its own.
- BM25 is hand-written (an inverted index, so a query touches only the passages sharing a word with it): the
  packages for it are either unmaintained since 2022 or bring numpy and scipy for what is forty lines here.
- An index is built once per location and kept in this process (cached_index) until the knowledge's version (count,
  latest updated_at, ids) changes, so an edit is seen by the next reply and an unchanged location costs one small
  query per reply.

The units' payloads are opaque here: chatpad/ai/context.py builds them from its own dataclasses.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .text import STOPWORDS as ENGLISH_STOPWORDS

# Words that say nothing about what is asked, in English (beyond text.STOPWORDS) and Spanish. Accents are stripped
# before the lookup, so "qué" is "que" and "están" is "estan".
EXTRA_ENGLISH_STOPWORDS = frozenset(
    """allow allowed ok okay yes yeah hey yall ya u ur r pls plz there's where's what's how's who's it's that's
    one ones much many way need needs would like""".split()
)
SPANISH_STOPWORDS = frozenset(
    """a al algo algun alguna algunas alguno algunos ante antes aqui asi aun bien cada como con contra cual cuales
    cuando de del desde donde dos el ella ellas ello ellos en entre era eran eres es esa esas ese eso esos esta
    estaba estan estar estas este esto estos estoy fue fueron ha habia han has hay he hola la las le les lo los mas
    me mi mis mucho muy nada ni no nos nosotros o os otra otro para pero poco por porque puede pueden puedo que
    quien se sea ser si sido sin sobre son soy su sus tambien tan te tener tengo tiene tienen todo todos tu tus un
    una uno unos usted ustedes vosotros y ya gracias favor buenos buenas dias tardes noches quiero quisiera saber
    hacer""".split()
)
STOPWORDS = ENGLISH_STOPWORDS | EXTRA_ENGLISH_STOPWORDS | SPANISH_STOPWORDS

_TOKEN_RE = re.compile(r"[a-z0-9]+")

CHUNK_CHARS = 700  # a passage aims at this many characters: a paragraph or two, quotable in a chat reply
HEADING_MAX_CHARS = 80


@lru_cache(maxsize=65536)
def _term(word: str) -> str:
    """A light stemmer for English and Spanish: plural, -ing and -ed endings off, then a final e, so that "rule"
    and "rules", "habitación" and "habitaciones", "policy" and "policies", "leash" and "leashed" meet."""
    if word.isdigit() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _fold(text: str) -> str:
    """Lowercase, accents stripped ("habitación" → "habitacion"), apostrophes dropped."""
    text = unicodedata.normalize("NFKD", (text or "").lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.replace("'", "").replace("\u2019", "")


def tokenize(text: str) -> list[str]:
    """The terms BM25 sees: lowercase, accent-free, stopwords dropped, stemmed; numbers kept ("3", "14")."""
    out = []
    for word in _TOKEN_RE.findall(_fold(text)):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        out.append(_term(word))
    return out


# --- cutting documents into passages ---

_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9¿¡\"'(])")


def _is_heading(line: str) -> bool:
    line = line.strip()
    if line.startswith("#"):
        return True
    if not line or len(line) > HEADING_MAX_CHARS or line[-1] in ".!?;,:" and not line.endswith(":"):
        return False
    if line.endswith(":"):
        return len(line.split()) <= 8
    # "Pets", "Section 4 — Pets", "4. PETS": short, no sentence punctuation at the end.
    return len(line.split()) <= 10 and not line.startswith(("-", "*", "•"))


def _clean_heading(line: str) -> str:
    return line.strip().lstrip("#").strip().rstrip(":").strip()


def _split_long(paragraph: str, limit: int) -> list[str]:
    """A paragraph longer than the limit, cut at sentences (a sentence longer than the limit, at words)."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_RE.split(paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[tuple[str | None, str]]:
    """A document as passages of at most about `limit` characters: [(heading or None, passage)], in order.

    Blank lines separate paragraphs; a short line without closing punctuation (or a Markdown '#' line) is a heading
    and starts a new passage, whose heading it becomes. Paragraphs under one heading are packed together while they
    fit; a longer paragraph is cut at sentences. Nothing of the text is dropped."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n")) if b.strip()]
    passages: list[tuple[str | None, str]] = []
    heading: str | None = None
    current: list[str] = []

    def flush() -> None:
        if current:
            passages.append((heading, "\n\n".join(current)))
            current.clear()

    for block in blocks:
        lines = [line for line in block.split("\n") if line.strip()]
        if len(lines) == 1 and _is_heading(lines[0]):
            flush()
            heading = _clean_heading(lines[0]) or heading
            continue
        if len(lines) > 1 and _is_heading(lines[0]) and (lines[0].lstrip().startswith("#") or len(lines[0]) < 60):
            flush()
            heading = _clean_heading(lines[0]) or heading
            lines = lines[1:]
        paragraph = " ".join(line.strip() for line in lines)
        for piece in _split_long(paragraph, limit) if len(paragraph) > limit else [paragraph]:
            if current and sum(len(p) + 2 for p in current) + len(piece) > limit:
                flush()
            current.append(piece)
    flush()
    if not passages and heading:  # only headings: keep them as text rather than lose them
        passages.append((None, heading))
    return passages


# --- Okapi BM25 ---


class BM25:
    """Okapi BM25 over tokenized documents, with an inverted index. idf is Lucene's (never negative)."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.count = len(documents)
        self.lengths = [len(doc) for doc in documents]
        self.average = (sum(self.lengths) / self.count) if self.count else 0.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for number, doc in enumerate(documents):
            for term, tf in Counter(doc).items():
                self.postings.setdefault(term, []).append((number, tf))
        self.idf = {
            term: math.log(1.0 + (self.count - len(docs) + 0.5) / (len(docs) + 0.5))
            for term, docs in self.postings.items()
        }

    def scores(self, query: dict[str, float]) -> dict[int, float]:
        """{document number: score} for the documents sharing a term with the query ({term: weight})."""
        out: dict[int, float] = {}
        k1, b, average = self.k1, self.b, self.average or 1.0
        for term, weight in query.items():
            idf = self.idf.get(term)
            if idf is None:
                continue
            for number, tf in self.postings[term]:
                norm = k1 * (1.0 - b + b * self.lengths[number] / average)
                out[number] = out.get(number, 0.0) + weight * idf * tf * (k1 + 1.0) / (tf + norm)
        return out


def query_terms(*texts: tuple[str, float]) -> dict[str, float]:
    """{term: weight} from (text, weight) pairs: the customer's latest words at 1.0, earlier ones lower."""
    out: dict[str, float] = {}
    for text, weight in texts:
        for term in tokenize(text):
            out[term] = max(out.get(term, 0.0), weight)
    return out


# --- the index of one location, and what one reply gets of it ---


@dataclass(frozen=True)
class Unit:
    """One thing that can go into a prompt: an FAQ, a policy, a listing or a passage of a document."""

    key: Hashable  # unique in its index
    kind: str  # faq | policy | property | document
    text: str  # what BM25 indexes (title, body, keywords, a listing's details)
    size: int  # characters it takes in the prompt
    payload: Any  # what the context hands the providers (a KnowledgeEntry or a Listing)
    pinned: bool = False  # always included while the budget allows (a policy that hands off to a person)


@dataclass
class Selection:
    """What one reply gets: the chosen units in the index's order, and the figures that explain the choice."""

    units: list[Unit]
    budget: int
    used: int  # characters of the chosen units
    total: int  # characters of all the units: what the all-in prompt carried
    complete: bool  # everything fitted: nothing was left out
    hits: list[tuple[Hashable, float]] = field(default_factory=list)  # the best-scoring units, best first
    left_out: Counter = field(default_factory=Counter)  # kind -> units not included

    def payloads(self, *kinds: str) -> list[Any]:
        return [u.payload for u in self.units if not kinds or u.kind in kinds]

    def trace(self) -> dict[str, Any]:
        """A small summary stored with the reply: how much was in and what was left out."""
        return {
            "budget": self.budget,
            "used": self.used,
            "total": self.total,
            "complete": self.complete,
            "left_out": dict(self.left_out),
        }


class KnowledgeIndex:
    """The units of one location (in the order a prompt lists them) and their BM25 index. Read-only once built:
    one instance is shared by every thread answering that location."""

    def __init__(self, units: Sequence[Unit], version: Hashable = None, **extra: Any) -> None:
        self.units = list(units)
        self.version = version
        self.extra = extra  # what the builder keeps with the index (the full listings and entries)
        self.total = sum(u.size for u in self.units)
        self.bm25 = BM25([tokenize(u.text) for u in self.units])

    def rank(self, query: dict[str, float]) -> list[tuple[int, float]]:
        """(unit number, score) of the units sharing a term with the query, best first (ties: index order)."""
        return sorted(self.bm25.scores(query).items(), key=lambda t: (-t[1], t[0]))

    def select(self, query: dict[str, float], budget: int) -> Selection:
        """The units for one reply, within `budget` characters.

        Everything when everything fits (a small knowledge base is given whole, as before). Otherwise: the pinned
        units (policies that hand off to a person), then the best-ranked, then the rest in the usual order, each
        only while it still fits."""
        ranked = self.rank(query) if query else []
        hits = [(self.units[n].key, round(score, 3)) for n, score in ranked[:10]]
        if self.total <= budget:
            return Selection(list(self.units), budget, self.total, self.total, True, hits)
        chosen: set[int] = set()
        used = 0

        def take(numbers: Iterable[int]) -> None:
            nonlocal used
            for n in numbers:
                size = self.units[n].size
                if n not in chosen and used + size <= budget:
                    chosen.add(n)
                    used += size

        take(n for n, u in enumerate(self.units) if u.pinned)
        take(n for n, _ in ranked)
        take(range(len(self.units)))
        units = [u for n, u in enumerate(self.units) if n in chosen]
        left_out = Counter(u.kind for n, u in enumerate(self.units) if n not in chosen)
        return Selection(units, budget, used, self.total, False, hits, left_out)


_CACHE: OrderedDict[Hashable, KnowledgeIndex] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 256  # locations whose index this process keeps


def cached_index(key: Hashable, version: Hashable, build: Callable[[], KnowledgeIndex]) -> KnowledgeIndex:
    """The index for `key` at `version`: the one kept in this process when its version matches, else a new one
    from build() (kept in place of the old one). Two threads may build the same index at once; either is right."""
    with _CACHE_LOCK:
        index = _CACHE.get(key)
        if index is not None and index.version == version:
            _CACHE.move_to_end(key)
            return index
    index = build()
    index.version = version
    with _CACHE_LOCK:
        _CACHE[key] = index
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return index


def clear_cache() -> None:
    """Forget every kept index (tests and benchmarks that measure a cold start)."""
    with _CACHE_LOCK:
        _CACHE.clear()
