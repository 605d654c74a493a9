"""Meta's webhook envelope, shared by Messenger (object "page") and Instagram (object "instagram").

    {"object": "page", "entry": [{"id": PAGE_ID, "time": ms, "messaging": [ITEM], "standby": [ITEM]}]}

One POST may carry several entries, from several Pages; the docs promise one item per messaging[] but we loop anyway.
Items of threads owned by another app (handover protocol) arrive in standby[]. The newer reference samples wrap an
item as {"field": "messaging_postbacks", "value": ITEM} (also seen under entry[].changes[]) with a timestamp that is a
string of seconds instead of an integer of milliseconds.
https://developers.facebook.com/docs/messenger-platform/webhooks#event-notifications
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chatpad.channels.errors import AnomalousPayloadError
from chatpad.http import loads_json

# Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True)
class MessagingItem:
    """One messaging (or standby) item with the entry it came in."""

    object: str
    entry_id: str
    entry_time: datetime | None
    item: dict[str, Any]
    standby: bool = False
    field: str | None = None  # the {field, value} wrapper's field, when the item came wrapped


def load_payload(body: bytes, objects: Iterable[str]) -> dict[str, Any]:
    """The decoded body, or AnomalousPayloadError when it is not JSON, not an object, or not one of `objects`."""
    try:
        payload = loads_json(body)
    except ValueError as exc:
        raise AnomalousPayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise AnomalousPayloadError("body is not a JSON object")
    allowed = tuple(objects)
    if payload.get("object") not in allowed:
        raise AnomalousPayloadError(f"object is {payload.get('object')!r}, expected {' or '.join(allowed)}")
    if not isinstance(payload.get("entry"), list):
        raise AnomalousPayloadError("entry is missing or not a list")
    return payload


def parse_timestamp(value: Any, default: datetime | None = None) -> datetime:
    """An aware UTC datetime from Meta's epoch milliseconds (int) or the newer samples' string of seconds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default or datetime.now(UTC)
    if number > _MS_THRESHOLD:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):  # NaN, infinity, or a year no calendar has
        raise AnomalousPayloadError(f"timestamp {value!r} is out of range") from None


def _items(entry: dict[str, Any], key: str) -> list[Any]:
    """entry[key] as a list: missing or null is empty, anything else that is not a list is an unreadable payload."""
    value = entry.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise AnomalousPayloadError(f"entry.{key} is not a list")
    return value


def _unwrap(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(raw, dict):
        return None, None
    if "field" in raw and isinstance(raw.get("value"), dict) and "sender" not in raw:
        return raw["value"], str(raw["field"])
    return raw, None


def iter_messaging(payload: dict[str, Any]) -> Iterator[MessagingItem]:
    """Every messaging and standby item of every entry, in order; items that are not objects are skipped."""
    obj = str(payload.get("object"))
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        entry_id = str(entry.get("id", ""))
        entry_time = parse_timestamp(entry["time"]) if entry.get("time") is not None else None
        sources: list[tuple[Any, bool]] = [(item, False) for item in _items(entry, "messaging")]
        sources += [(item, True) for item in _items(entry, "standby")]
        sources += [(change, False) for change in _items(entry, "changes")]
        for raw, standby in sources:
            item, field = _unwrap(raw)
            if item is None:
                continue
            yield MessagingItem(obj, entry_id, entry_time, item, standby, field)


def receipts_only(payload: dict[str, Any], app_id: str | None) -> bool:
    """True when every item of a (loaded) payload is a delivery or read receipt or the echo of a message ChatPad sent
    (our "chatpad:<id>" metadata, or our app id), and there is at least one. A person's reply from the platform's
    inbox, standby items, anything unexpected or unreadable: False."""
    found = False
    try:
        for mi in iter_messaging(payload):
            item = mi.item
            if mi.standby or mi.field:
                return False
            message = item.get("message")
            if message is not None:
                if not isinstance(message, dict) or not message.get("is_echo"):
                    return False
                marker, echo_app = message.get("metadata"), message.get("app_id")
                ours = isinstance(marker, str) and marker.startswith("chatpad:")
                if not ours and not (app_id and echo_app is not None and str(echo_app) == str(app_id)):
                    return False
            elif not (isinstance(item.get("delivery"), dict) or isinstance(item.get("read"), dict)):
                return False
            found = True
    except AnomalousPayloadError:
        return False
    return found


def party_id(party: Any) -> str | None:
    """The id of a sender/recipient object: id, or user_ref (checkbox plugin, chat plugin guests)."""
    if not isinstance(party, dict):
        return None
    value = party.get("id", party.get("user_ref"))
    return str(value) if value is not None else None
