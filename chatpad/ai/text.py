"""Small text tools for the offline responder: normalising, phrase matching and a TF-IDF score."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be been before being below between both but by can
    could did do does doing down during each few for from further had has have having he her here hers him his how
    i if in into is it its itself just me more most my no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your yours hi hello hey
    please thanks thank im i'm ive i've id i'd dont don't wanna want like know tell get got let lets let's us also
    really just any anything something""".split()
)

_WORD_RE = re.compile(r"[a-z0-9$]+(?:'[a-z]+)?")


def normalize(text: str) -> str:
    """Lowercase, plain ASCII quotes and dashes, hyphens as spaces, single spaces."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"[\u2010-\u2015-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def fold(text: str) -> str:
    """Lowercase without accents or inverted marks: 'Dirección' → 'direccion', '¿Tienen' → ' tienen'."""
    text = unicodedata.normalize("NFKD", (text or "").lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.replace("¿", " ").replace("¡", " ")


def words(text: str) -> list[str]:
    """The words of a text, normalised."""
    return _WORD_RE.findall(normalize(text))


def stem(word: str) -> str:
    """A crude English stemmer: enough that 'pets'/'pet' and 'applying'/'apply' meet."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(word) > len(suffix) + 2 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def terms(text: str) -> list[str]:
    """Stemmed content words (stopwords dropped)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def has_phrase(text: str, phrase: str) -> bool:
    """Does the normalised text contain the phrase as whole words (plural-tolerant on the last word)?"""
    phrase = normalize(phrase)
    if not phrase:
        return False
    pattern = r"(?<![a-z0-9])" + re.escape(phrase) + r"(?:s|es)?(?![a-z0-9])"
    return re.search(pattern, normalize(text)) is not None


def any_phrase(text: str, phrases: Iterable[str]) -> bool:
    return any(has_phrase(text, p) for p in phrases)


class TfIdf:
    """TF-IDF vectors over a small corpus (the agent's FAQs and policies) and cosine similarity to a query."""

    def __init__(self, documents: Sequence[str]):
        self.docs = [Counter(terms(d)) for d in documents]
        n = len(self.docs)
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        # Smoothed idf, so a word in every document still counts a little.
        self.idf = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items()}
        self.vectors = [self._vector(doc) for doc in self.docs]

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        vec = {t: (1 + math.log(c)) * self.idf.get(t, 0.0) for t, c in counts.items() if t in self.idf}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def scores(self, query: str) -> list[float]:
        """Cosine similarity of the query to each document, in corpus order."""
        q = self._vector(Counter(terms(query)))
        return [sum(w * doc.get(t, 0.0) for t, w in q.items()) for doc in self.vectors]
