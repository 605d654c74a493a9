"""Every registered channel's declared event types have a fixture, and every fixture is used by its channel's tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatpad.channels import CHANNELS, get_channel

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"


def _fixtures(key: str) -> list[str]:
    folder = FIXTURES / key
    # JSON for webhook payloads; raw RFC 822 (.eml) for email; raw form-encoded bodies (.form) for SMS.
    suffixes = (".json", ".eml", ".form")
    return sorted(p.stem for p in folder.iterdir() if p.suffix in suffixes) if folder.is_dir() else []


@pytest.mark.parametrize("key", sorted(CHANNELS))
def test_every_declared_event_type_has_a_fixture(key):
    """A channel cannot claim to handle an event nobody has a real payload for."""
    fixtures = _fixtures(key)
    prefixes = {name.split("__", 1)[0] for name in fixtures}
    missing = [t for t in get_channel(key).event_types if t not in prefixes]
    assert not missing, f"{key}: no tests/fixtures/{key}/<type>__*.json for {missing}"


@pytest.mark.parametrize("key", sorted(CHANNELS))
def test_every_fixture_is_declared_and_used(key):
    """No orphan payloads: each fixture's type is declared and tests/channels/test_<key>.py checks it."""
    fixtures = _fixtures(key)
    declared = set(get_channel(key).event_types)
    undeclared = [name for name in fixtures if name.split("__", 1)[0] not in declared]
    assert not undeclared, f"{key}: fixtures of undeclared event types {undeclared}"
    test_file = TESTS / "channels" / f"test_{key}.py"
    source = test_file.read_text() if test_file.exists() else ""
    used = set(re.findall(r"[\"']([a-z0-9_]+)[\"']", source))
    unused = [name for name in fixtures if name not in used]
    assert not unused, f"{key}: fixtures not used by {test_file.name}: {unused}"
