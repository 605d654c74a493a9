"""Pre-selecting a location by name: every demo community's Page and Instagram handle finds its location, and
nothing else does."""

from __future__ import annotations

import pytest

from chatpad import demo_data as D
from chatpad.integrations.matching import best_match, significant_words, similarity

NAMES = [loc.name for loc in D.LOCATIONS]


@pytest.mark.parametrize("loc", D.LOCATIONS, ids=[loc.slug for loc in D.LOCATIONS])
def test_each_demo_page_finds_its_community(loc):
    """The Page name ('Forge Lake Community') picks its location ('Forge at the Lake')."""
    assert best_match([loc.page_name], NAMES) == loc.name


def test_instagram_handles_find_their_community_when_the_name_says_it():
    """'@forgelakemhp' → Forge at the Lake; an abbreviation ('obxhaven') is left to the admin."""
    hits = {loc.ig_username: best_match([loc.ig_username], NAMES) for loc in D.LOCATIONS}
    assert hits["forgelakemhp"] == "Forge at the Lake"
    assert sum(1 for loc in D.LOCATIONS if hits[loc.ig_username] == loc.name) >= len(D.LOCATIONS) - 1
    assert all(hit in (None, loc.name) for loc, hit in zip(D.LOCATIONS, hits.values(), strict=True))


@pytest.mark.parametrize(
    "name",
    ["MHP Communities", "MHP Communities Careers", "Dana Demo Photography", "Westside Little League", "Riverbend MHP"],
)
def test_other_pages_stay_general(name):
    """Corporate, personal and unknown Pages match no location."""
    assert best_match([name], NAMES) is None


def test_words_and_scores():
    """Filler words are dropped; a tie between two locations picks neither."""
    assert significant_words("The Forge at the Lake Community!") == ["forge", "lake"]
    assert similarity("Clearview MHP", "Clearview Estates") == 1.0
    assert best_match(["Oak"], ["Oak Park East", "Oak Park West"]) is None
