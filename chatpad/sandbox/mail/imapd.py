"""A small IMAP4rev1 server (RFC 3501) over the sandbox MailStore, for `make run` on a laptop with only Python.

It implements what a mail client and ChatPad's sync need: LOGIN and AUTHENTICATE PLAIN/XOAUTH2 (bearer tokens
checked by a callback, Google-style JSON error on failure), LIST/LSUB with SPECIAL-USE flags, SELECT/EXAMINE with
UIDVALIDITY/UIDNEXT, SEARCH and FETCH by sequence number or UID, STORE, APPEND with UIDPLUS, STATUS, CREATE. The tests
run against Dovecot; this one exists so the demo needs no Debian packages.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from .store import SPECIAL_USE, Folder, MailStore

log = logging.getLogger("chatpad.sandbox.imap")

CAPABILITIES = "IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR LITERAL+ SPECIAL-USE UIDPLUS ID UNSELECT"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
TOKEN_RE = re.compile(rb'\s*(?:"((?:[^"\\]|\\.)*)"|(\()|(\))|([^\s()"]+(?:\[[^\]]*\](?:<[\d.]+>)?)?))')


class ImapError(Exception):
    def __init__(self, status: str, text: str):
        super().__init__(text)
        self.status, self.text = status, text


def imap_date(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return f"{dt.day:02d}-{MONTHS[dt.month - 1]}-{dt.year} {dt:%H:%M:%S} +0000"


def parse_search_date(text: str) -> date:
    day, month, year = text.split("-")
    return date(int(year), MONTHS.index(month.title()) + 1, int(day))


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Tokens:
    """IMAP arguments: atoms, quoted strings, literals (bytes), parenthesised lists."""

    def __init__(self, line: bytes, literals: list[bytes]):
        self.line, self.literals = line, literals

    def parse(self) -> list:
        stack: list[list] = [[]]
        pos = 0
        literal_index = 0
        line = self.line
        while pos < len(line):
            if line[pos : pos + 1].isspace():
                pos += 1
                continue
            if line[pos : pos + 1] == b"\x00":  # literal placeholder
                stack[-1].append(self.literals[literal_index])
                literal_index += 1
                pos += 1
                continue
            match = TOKEN_RE.match(line, pos)
            if not match or match.end() == pos:
                raise ImapError("BAD", "could not parse the command")
            pos = match.end()
            quoted, open_paren, close_paren, atom = match.groups()
            if quoted is not None:
                stack[-1].append(re.sub(rb"\\(.)", rb"\1", quoted).decode("utf-8", "replace"))
            elif open_paren:
                stack.append([])
            elif close_paren:
                if len(stack) == 1:
                    raise ImapError("BAD", "unbalanced parenthesis")
                inner = stack.pop()
                stack[-1].append(inner)
            else:
                stack[-1].append(atom.decode("utf-8", "replace"))
        if len(stack) != 1:
            raise ImapError("BAD", "unbalanced parenthesis")
        return stack[0]


class ImapSession:
    def __init__(self, store: MailStore, verify_token: Callable[[str, str], str | None], reader, writer):
        self.store, self.verify_token = store, verify_token
        self.reader, self.writer = reader, writer
        self.user: str | None = None
        self.folder: Folder | None = None
        self.readonly = False

    async def send(self, data: str | bytes) -> None:
        self.writer.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        await self.writer.drain()

    async def read_command(self) -> tuple[bytes, list[bytes]] | None:
        """One command line with its literals spliced out (as \\x00 placeholders)."""
        parts: list[bytes] = []
        literals: list[bytes] = []
        while True:
            line = await self.reader.readline()
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            match = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not match:
                parts.append(line)
                return b"".join(parts), literals
            size = int(match.group(1))
            if size > 50 * 1024 * 1024:
                raise ImapError("BAD", "literal too large")
            parts.append(line[: match.start()] + b"\x00")
            if not match.group(2):
                await self.send("+ Ready for literal data\r\n")
            literals.append(await self.reader.readexactly(size))

    async def run(self) -> None:
        await self.send(f"* OK [CAPABILITY {CAPABILITIES}] ChatPad sandbox IMAP ready\r\n")
        while True:
            try:
                command = await self.read_command()
            except ImapError as exc:
                await self.send(f"* BAD {exc.text}\r\n")
                continue
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if command is None:
                return
            line, literals = command
            tag, _, rest = line.partition(b" ")
            tag_text = tag.decode("ascii", "replace") or "*"
            try:
                args = Tokens(rest, literals).parse()
                if not args:
                    raise ImapError("BAD", "missing command")
                name = str(args[0]).upper()
                if name == "UID" and len(args) > 1:
                    name, args = "UID " + str(args[1]).upper(), args[1:]
                handler = getattr(self, "cmd_" + name.replace(" ", "_"), None)
                if handler is None:
                    raise ImapError("BAD", f"unknown command {name}")
                result = await handler(tag_text, args[1:])
                if result == "logout":
                    return
                await self.send(f"{tag_text} OK {result or name + ' completed'}\r\n")
            except ImapError as exc:
                await self.send(f"{tag_text} {exc.status} {exc.text}\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                return

    # --- any state ---

    async def cmd_CAPABILITY(self, tag, args):
        await self.send(f"* CAPABILITY {CAPABILITIES}\r\n")

    async def cmd_NOOP(self, tag, args):
        return None

    async def cmd_ID(self, tag, args):
        await self.send('* ID ("name" "ChatPad sandbox")\r\n')

    async def cmd_LOGOUT(self, tag, args):
        await self.send(f"* BYE Logging out\r\n{tag} OK LOGOUT completed\r\n")
        return "logout"

    async def cmd_ENABLE(self, tag, args):
        await self.send("* ENABLED\r\n")

    # --- authentication ---

    async def cmd_LOGIN(self, tag, args):
        if len(args) < 2:
            raise ImapError("BAD", "LOGIN needs a user name and a password")
        user, password = str(args[0]).lower(), args[1] if isinstance(args[1], str) else args[1].decode()
        if not self.store.check_password(user, password):
            raise ImapError("NO", "[AUTHENTICATIONFAILED] Authentication failed.")
        self.user = user
        return "[CAPABILITY " + CAPABILITIES + "] Logged in"

    async def cmd_AUTHENTICATE(self, tag, args):
        mechanism = str(args[0]).upper() if args else ""
        if mechanism not in ("PLAIN", "XOAUTH2"):
            raise ImapError("NO", f"[CANNOT] Unsupported authentication mechanism {mechanism}")
        if len(args) > 1:
            blob = str(args[1])
        else:
            await self.send("+ \r\n")
            blob = (await self.reader.readline()).strip().decode("ascii", "replace")
        if blob == "*":
            raise ImapError("BAD", "Authentication aborted")
        try:
            decoded = base64.b64decode(blob, validate=True)
        except ValueError:
            raise ImapError("BAD", "Invalid base64 data") from None
        if mechanism == "PLAIN":
            try:
                _, user, password = decoded.decode().split("\x00")
            except ValueError:
                raise ImapError("BAD", "Invalid PLAIN data") from None
            if not self.store.check_password(user, password):
                raise ImapError("NO", "[AUTHENTICATIONFAILED] Authentication failed.")
            self.user = user.lower()
            return "Logged in"
        fields = dict(part.split("=", 1) for part in decoded.decode("utf-8", "replace").split("\x01") if "=" in part)
        user = fields.get("user", "").lower()
        token = fields.get("auth", "").removeprefix("Bearer ").strip()
        loop = asyncio.get_running_loop()
        who = await loop.run_in_executor(None, self.verify_token, user, token)
        if who != user:
            # Google's failure dance (platform-reference.md §D.3): a JSON challenge, an empty reply, then NO.
            error = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
            await self.send("+ " + base64.b64encode(error.encode()).decode() + "\r\n")
            await self.reader.readline()
            raise ImapError("NO", "[AUTHENTICATIONFAILED] Invalid credentials (Failure)")
        self.store.mailbox(user)
        self.user = user
        return "Logged in"

    def _need_auth(self) -> str:
        if not self.user:
            raise ImapError("BAD", "Not authenticated")
        return self.user

    def _need_folder(self) -> Folder:
        self._need_auth()
        if self.folder is None:
            raise ImapError("BAD", "No mailbox selected")
        return self.folder

    # --- mailboxes ---

    async def cmd_LIST(self, tag, args):
        user = self._need_auth()
        args = [a for a in args if not isinstance(a, list)]  # drop selection/return options
        pattern = str(args[1]) if len(args) > 1 else "*"
        if pattern == "":
            await self.send('* LIST (\\Noselect) "/" ""\r\n')
            return None
        regex = re.compile("^" + re.escape(pattern).replace(r"\*", ".*").replace("%", "[^/]*") + "$", re.IGNORECASE)
        for name in sorted(self.store.mailbox(user)):
            if regex.match(name):
                flags = ["\\HasNoChildren"] + ([SPECIAL_USE[name]] if name in SPECIAL_USE else [])
                await self.send(f'* LIST ({" ".join(flags)}) "/" {quote(name)}\r\n')
        return None

    cmd_LSUB = cmd_LIST

    async def cmd_CREATE(self, tag, args):
        user = self._need_auth()
        name = str(args[0])
        if self.store.folder(user, name) is not None:
            raise ImapError("NO", "[ALREADYEXISTS] Mailbox already exists")
        self.store.folder(user, name, create=True)

    async def cmd_SUBSCRIBE(self, tag, args):
        self._need_auth()

    async def cmd_STATUS(self, tag, args):
        user = self._need_auth()
        folder = self.store.folder(user, str(args[0]))
        if folder is None:
            raise ImapError("NO", "[NONEXISTENT] Mailbox doesn't exist")
        items = [str(i).upper() for i in (args[1] if len(args) > 1 and isinstance(args[1], list) else [])]
        values = {
            "MESSAGES": len(folder.messages),
            "RECENT": 0,
            "UIDNEXT": folder.uidnext,
            "UIDVALIDITY": folder.uidvalidity,
            "UNSEEN": sum(1 for m in folder.messages.values() if "\\Seen" not in m.flags),
        }
        body = " ".join(f"{item} {values[item]}" for item in items if item in values)
        await self.send(f"* STATUS {quote(folder.name)} ({body})\r\n")

    async def _select(self, args, readonly: bool):
        user = self._need_auth()
        folder = self.store.folder(user, str(args[0]) if args else "")
        if folder is None:
            self.folder = None
            raise ImapError("NO", "[NONEXISTENT] Mailbox doesn't exist: " + (str(args[0]) if args else ""))
        self.folder, self.readonly = folder, readonly
        await self.send(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
            f"* {len(folder.messages)} EXISTS\r\n* 0 RECENT\r\n"
            f"* OK [UIDVALIDITY {folder.uidvalidity}] UIDs valid\r\n"
            f"* OK [UIDNEXT {folder.uidnext}] Predicted next UID\r\n"
        )
        return "[READ-ONLY] Examine completed" if readonly else "[READ-WRITE] Select completed"

    async def cmd_SELECT(self, tag, args):
        return await self._select(args, False)

    async def cmd_EXAMINE(self, tag, args):
        return await self._select(args, True)

    async def cmd_CLOSE(self, tag, args):
        self.folder = None

    cmd_UNSELECT = cmd_CLOSE

    async def cmd_CHECK(self, tag, args):
        self._need_folder()

    async def cmd_EXPUNGE(self, tag, args):
        self._need_folder()

    async def cmd_APPEND(self, tag, args):
        user = self._need_auth()
        if len(args) < 2 or not isinstance(args[-1], bytes):
            raise ImapError("BAD", "APPEND needs a mailbox and a message literal")
        name = str(args[0])
        flags: set[str] = set()
        when = None
        for extra in args[1:-1]:
            if isinstance(extra, list):
                flags = {str(f) for f in extra}
            else:
                try:
                    when = datetime.strptime(str(extra), "%d-%b-%Y %H:%M:%S %z")
                except ValueError:
                    pass
        if self.store.folder(user, name) is None:
            raise ImapError("NO", "[TRYCREATE] Mailbox doesn't exist: " + name)
        validity, uid = self.store.append(user, name, args[-1], flags, when)
        return f"[APPENDUID {validity} {uid}] Append completed"

    # --- messages ---

    def _resolve_set(self, text: str, folder: Folder, by_uid: bool) -> list[tuple[int, int]]:
        """(sequence number, uid) pairs named by a sequence set."""
        messages = folder.sorted()
        numbered = [(i + 1, m.uid) for i, m in enumerate(messages)]
        if not numbered:
            return []
        top = numbered[-1][1] if by_uid else numbered[-1][0]
        wanted: set[int] = set()
        ranges: list[tuple[int, int]] = []
        for piece in text.split(","):
            lo, _, hi = piece.partition(":")
            lo_v = top if lo == "*" else int(lo)
            hi_v = lo_v if not hi else (top if hi == "*" else int(hi))
            ranges.append((min(lo_v, hi_v), max(lo_v, hi_v)))
        for seq, uid in numbered:
            key = uid if by_uid else seq
            if any(lo <= key <= hi for lo, hi in ranges):
                wanted.add(seq)
        return [(seq, uid) for seq, uid in numbered if seq in wanted]

    async def _search(self, args, by_uid: bool):
        folder = self._need_folder()
        messages = folder.sorted()
        selected = {m.uid for m in messages}
        items = list(args)
        if items and str(items[0]).upper() == "CHARSET":
            items = items[2:]
        i = 0
        while i < len(items):
            key = str(items[i]).upper()
            if key == "ALL":
                pass
            elif key == "UID":
                i += 1
                selected &= {uid for _, uid in self._resolve_set(str(items[i]), folder, True)}
            elif key in ("SINCE", "BEFORE", "ON"):
                i += 1
                day = parse_search_date(str(items[i]))
                dates = {m.uid: m.internal_date.astimezone(UTC).date() for m in messages}
                if key == "SINCE":
                    selected &= {uid for uid, d in dates.items() if d >= day}
                elif key == "BEFORE":
                    selected &= {uid for uid, d in dates.items() if d < day}
                else:
                    selected &= {uid for uid, d in dates.items() if d == day}
            elif key in ("SEEN", "UNSEEN"):
                want = key == "SEEN"
                selected &= {m.uid for m in messages if ("\\Seen" in m.flags) == want}
            elif re.fullmatch(r"[\d*:,]+", key):
                selected &= {uid for _, uid in self._resolve_set(key, folder, False)}
            else:
                raise ImapError("BAD", f"unsupported search key {key}")
            i += 1
        numbers = [(i + 1, m.uid) for i, m in enumerate(messages) if m.uid in selected]
        found = " ".join(str(uid if by_uid else seq) for seq, uid in numbers)
        await self.send(f"* SEARCH{' ' + found if found else ''}\r\n")

    async def cmd_SEARCH(self, tag, args):
        await self._search(args, False)

    async def cmd_UID_SEARCH(self, tag, args):
        await self._search(args, True)

    async def _fetch(self, args, by_uid: bool):
        folder = self._need_folder()
        if len(args) < 2:
            raise ImapError("BAD", "FETCH needs a sequence set and items")
        items = args[1] if isinstance(args[1], list) else args[1:]
        names = [str(i).upper() for i in items]
        macros = {"ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"], "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]}
        names = [n for name in names for n in macros.get(name, [name])]
        if by_uid and "UID" not in names:
            names.insert(0, "UID")
        for seq, uid in self._resolve_set(str(args[0]), folder, by_uid):
            message = folder.messages[uid]
            parts: list[bytes] = []
            mark_seen = False
            for name in names:
                if name == "UID":
                    parts.append(f"UID {uid}".encode())
                elif name == "FLAGS":
                    parts.append(f"FLAGS ({' '.join(sorted(message.flags))})".encode())
                elif name == "INTERNALDATE":
                    parts.append(f'INTERNALDATE "{imap_date(message.internal_date)}"'.encode())
                elif name == "RFC822.SIZE":
                    parts.append(f"RFC822.SIZE {len(message.raw)}".encode())
                elif name in ("BODY[]", "BODY.PEEK[]", "RFC822"):
                    label = "RFC822" if name == "RFC822" else "BODY[]"
                    parts.append(f"{label} {{{len(message.raw)}}}\r\n".encode() + message.raw)
                    mark_seen = mark_seen or name != "BODY.PEEK[]"
                elif name in ("BODY.PEEK[HEADER]", "BODY[HEADER]", "RFC822.HEADER"):
                    header = message.raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                    label = "RFC822.HEADER" if name == "RFC822.HEADER" else "BODY[HEADER]"
                    parts.append(f"{label} {{{len(header)}}}\r\n".encode() + header)
                else:
                    raise ImapError("BAD", f"unsupported fetch item {name}")
            if mark_seen and not self.readonly and "\\Seen" not in message.flags:
                self.store.set_flags(self.user or "", folder, uid, message.flags | {"\\Seen"})
            await self.send(f"* {seq} FETCH (".encode() + b" ".join(parts) + b")\r\n")

    async def cmd_FETCH(self, tag, args):
        await self._fetch(args, False)

    async def cmd_UID_FETCH(self, tag, args):
        await self._fetch(args, True)

    async def _store(self, args, by_uid: bool):
        folder = self._need_folder()
        if self.readonly:
            raise ImapError("NO", "Mailbox is read-only")
        mode = str(args[1]).upper()
        flags = {str(f) for f in (args[2] if isinstance(args[2], list) else args[2:])}
        for seq, uid in self._resolve_set(str(args[0]), folder, by_uid):
            current = folder.messages[uid].flags
            new = flags if mode.startswith("FLAGS") else (current | flags if mode.startswith("+") else current - flags)
            self.store.set_flags(self.user or "", folder, uid, new)
            if ".SILENT" not in mode:
                await self.send(f"* {seq} FETCH (UID {uid} FLAGS ({' '.join(sorted(new))}))\r\n")

    async def cmd_STORE(self, tag, args):
        await self._store(args, False)

    async def cmd_UID_STORE(self, tag, args):
        await self._store(args, True)


async def serve_imap(store: MailStore, verify_token, host: str, port: int) -> asyncio.AbstractServer:
    """Start the IMAP server on the running loop."""

    async def handle(reader, writer):
        session = ImapSession(store, verify_token, reader, writer)
        try:
            await session.run()
        except Exception:
            log.exception("IMAP session failed")
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
