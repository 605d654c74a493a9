"""Which location a Page or Instagram account probably belongs to, by name, so the assignment screen comes pre-filled.

Businesses name their Pages after their communities with decorations ("Forge Lake Community" for "Forge at the
Lake", "Clearview MHP" for "Clearview Estates", "@forgelakemhp"), so names are compared by their significant words:
lowercased, accents and punctuation dropped, filler words ("the", "at", "community", "mhp"…) removed. A guess is made
only when one location clearly wins; otherwise the account stays General and the admin picks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from typing import TypeVar

T = TypeVar("T")

# Words that say what kind of place it is, not which one.
FILLER = frozenset(
    """
    the a an at of on in and by
    community communities mhp mhc mhcs homes home estates estate village villages park parks
    mobile manufactured housing living residences apartments llc inc co company official page
    """.split()
)
THRESHOLD = 0.6  # below this similarity nothing is pre-selected
MARGIN = 0.1  # the best location must beat the runner-up by this much


def significant_words(name: str) -> list[str]:
    """'Forge Lake Community' → ['forge', 'lake']; '@forgelakemhp' → ['forgelakemhp']."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", text)
    kept = [w for w in words if w not in FILLER]
    return kept or words


def _squash(words: Sequence[str]) -> str:
    squashed = "".join(words)
    # A handle like "forgelakemhp" carries its filler glued on: strip known suffixes.
    for filler in sorted(FILLER, key=len, reverse=True):
        if len(filler) >= 3 and squashed.endswith(filler) and len(squashed) - len(filler) >= 4:
            squashed = squashed[: -len(filler)]
            break
    return squashed


def similarity(a: str, b: str) -> float:
    """0..1: how likely two names denote the same place."""
    wa, wb = significant_words(a), significant_words(b)
    if not wa or not wb:
        return 0.0
    ka, kb = _squash(wa), _squash(wb)
    if ka == kb:
        return 1.0
    shorter, longer = sorted((ka, kb), key=len)
    if len(shorter) >= 4 and shorter in longer:
        return 0.9
    sa, sb = set(wa), set(wb)
    jaccard = len(sa & sb) / len(sa | sb)
    return max(jaccard, SequenceMatcher(None, ka, kb).ratio() * 0.9)


def best_match(names: Iterable[str], candidates: Sequence[T], label=str) -> T | None:
    """The candidate whose label best matches any of `names`, if it clearly wins; else None."""
    names = [n for n in names if n]
    if not names or not candidates:
        return None
    scored = sorted(
        ((max(similarity(n, label(c)) for n in names), i) for i, c in enumerate(candidates)),
        reverse=True,
    )
    best_score, best_index = scored[0]
    if best_score < THRESHOLD:
        return None
    if len(scored) > 1 and best_score - scored[1][0] < MARGIN and best_score < 1.0:
        return None
    return candidates[best_index]
