"""The sandbox mail server's storage: mailboxes of folders of messages, with IMAP UIDs and UIDVALIDITY.

Kept in memory and, when given a directory, on disk (one .eml per message plus a small JSON index per folder), so
the demo's inboxes survive a restart with the same UIDs, as a real server's would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

SPECIAL_USE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}
DEFAULT_FOLDERS = ("INBOX", "Sent")


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    internal_date: datetime
    flags: set[str] = field(default_factory=set)


@dataclass
class Folder:
    name: str
    uidvalidity: int
    uidnext: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)  # uid -> message, ascending

    def sorted(self) -> list[StoredMessage]:
        return [self.messages[uid] for uid in sorted(self.messages)]


class MailStore:
    """Thread-safe: the IMAP server, the SMTP server and the sandbox pages all use one store."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else None
        self.lock = threading.RLock()
        self.mailboxes: dict[str, dict[str, Folder]] = {}
        self.passwords: dict[str, str] = {}
        if self.directory:
            self._load()

    # --- accounts ---

    def set_password(self, address: str, password: str) -> None:
        with self.lock:
            self.passwords[address.lower()] = password
            self.mailbox(address)

    def check_password(self, address: str, password: str) -> bool:
        import hmac

        expected = self.passwords.get(address.lower())
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def mailbox(self, address: str) -> dict[str, Folder]:
        address = address.lower()
        with self.lock:
            box = self.mailboxes.get(address)
            if box is None:
                box = self.mailboxes[address] = {}
                for name in DEFAULT_FOLDERS:
                    box[name] = self._new_folder(name)
                    self._save_folder(address, box[name])
            return box

    def addresses(self) -> list[str]:
        with self.lock:
            return sorted(self.mailboxes)

    # --- folders ---

    @staticmethod
    def _new_folder(name: str) -> Folder:
        # Distinct per creation (seconds since epoch plus a counter), as RFC 3501 §2.3.1.1 asks.
        MailStore._counter = getattr(MailStore, "_counter", 0) + 1
        return Folder(name=name, uidvalidity=int(time.time()) % 2_000_000_000 + MailStore._counter)

    def folder(self, address: str, name: str, *, create: bool = False) -> Folder | None:
        box = self.mailbox(address)
        key = "INBOX" if name.upper() == "INBOX" else name
        with self.lock:
            folder = box.get(key)
            if folder is None and create:
                folder = box[key] = self._new_folder(key)
                self._save_folder(address, folder)
            return folder

    def recreate(self, address: str, name: str) -> Folder:
        """Drop a folder and make it anew with a new UIDVALIDITY, keeping its messages (a server rebuild)."""
        with self.lock:
            old = self.folder(address, name, create=True)
            new = self._new_folder(old.name)
            while new.uidvalidity == old.uidvalidity:
                new = self._new_folder(old.name)
            for message in old.sorted():
                message = StoredMessage(new.uidnext, message.raw, message.internal_date, set(message.flags))
                new.messages[new.uidnext] = message
                new.uidnext += 1
            self.mailbox(address)[new.name] = new
            self._rewrite_folder(address, new)
            return new

    # --- messages ---

    def append(
        self, address: str, folder_name: str, raw: bytes, flags: set[str] | None = None, when: datetime | None = None
    ) -> tuple[int, int]:
        """Store a message; (uidvalidity, uid)."""
        with self.lock:
            folder = self.folder(address, folder_name, create=True)
            message = StoredMessage(folder.uidnext, raw, when or datetime.now(UTC), set(flags or ()))
            folder.messages[message.uid] = message
            folder.uidnext += 1
            self._save_message(address, folder, message)
            return folder.uidvalidity, message.uid

    def set_flags(self, address: str, folder: Folder, uid: int, flags: set[str]) -> None:
        with self.lock:
            if uid in folder.messages:
                folder.messages[uid].flags = set(flags)
                self._save_folder(address, folder)

    # --- disk ---

    def _folder_dir(self, address: str, name: str) -> Path:
        assert self.directory is not None
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", address)
        return self.directory / safe / re.sub(r"[^A-Za-z0-9._-]", "_", name)

    def _save_folder(self, address: str, folder: Folder) -> None:
        if not self.directory:
            return
        path = self._folder_dir(address, folder.name)
        path.mkdir(parents=True, exist_ok=True)
        index = {
            "address": address,
            "name": folder.name,
            "uidvalidity": folder.uidvalidity,
            "uidnext": folder.uidnext,
            "messages": {
                str(m.uid): {"date": m.internal_date.isoformat(), "flags": sorted(m.flags)} for m in folder.sorted()
            },
        }
        tmp = path / "index.json.tmp"
        tmp.write_text(json.dumps(index))
        tmp.replace(path / "index.json")

    def _save_message(self, address: str, folder: Folder, message: StoredMessage) -> None:
        if not self.directory:
            return
        path = self._folder_dir(address, folder.name)
        path.mkdir(parents=True, exist_ok=True)
        (path / f"{message.uid}.eml").write_bytes(message.raw)
        self._save_folder(address, folder)

    def _rewrite_folder(self, address: str, folder: Folder) -> None:
        if not self.directory:
            return
        path = self._folder_dir(address, folder.name)
        for old in path.glob("*.eml"):
            old.unlink()
        for message in folder.sorted():
            (path / f"{message.uid}.eml").write_bytes(message.raw)
        self._save_folder(address, folder)

    def _load(self) -> None:
        assert self.directory is not None
        for index_path in self.directory.glob("*/*/index.json"):
            try:
                index = json.loads(index_path.read_text())
            except ValueError:
                continue
            folder = Folder(index["name"], int(index["uidvalidity"]), int(index["uidnext"]))
            for uid, info in index.get("messages", {}).items():
                eml = index_path.parent / f"{uid}.eml"
                if eml.exists():
                    folder.messages[int(uid)] = StoredMessage(
                        int(uid), eml.read_bytes(), datetime.fromisoformat(info["date"]), set(info.get("flags", []))
                    )
            self.mailboxes.setdefault(index["address"], {})[folder.name] = folder
