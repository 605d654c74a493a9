"""Storing deliveries durably, with group commit.

Every delivery is INSERTed and committed before the platform gets its 200. Committing one row per request makes
every request wait for its own WAL flush and costs the database a statement and a flush each; under load the
request threads mostly wait on that (py-spy on bench/webhook_ack.py: 57% of a web worker's time). So each web
process has one writer thread: request threads hand it their delivery and wait; it takes whatever has gathered
(one row when traffic is light, dozens at a burst), INSERTs them in one statement — one transaction, one flush —
announces the new ids to the dispatchers with one round trip (each in its lane: chatpad/pipeline/dispatch.py), and
wakes each request with its id. Nothing is answered before its row is committed, so durability is exactly what it
was; a failed batch fails every request in it (503, the platform retries) and nothing of it is half-stored, because
the batch is one statement.

SQLite (development) stores each row directly: it has one writer anyway.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from chatpad.lanes import announce_many

log = logging.getLogger("chatpad.webhooks")

MAX_BATCH = 128
# A request gives up (503, the platform retries) if its batch is not committed by then: a hung database must not
# hold a web thread forever.
STORE_TIMEOUT = 15.0

# One statement for the whole batch. The ids come from the sequence in the order the SELECT produces the rows
# (ORDER BY the position), so the returned ids, sorted, line up with the batch.
_BATCH_INSERT = (
    "INSERT INTO webhook_events (channel, body, received_at, status, attempts) "
    "SELECT channel, body, received_at, 'pending', 0 "
    "FROM unnest(%s::varchar[], %s::bytea[], %s::timestamptz[]) WITH ORDINALITY AS t(channel, body, received_at, n) "
    "ORDER BY n RETURNING id"
)
_SQLITE_INSERT = (
    "INSERT INTO webhook_events (channel, body, received_at, status, attempts) "
    "VALUES (?, ?, ?, 'pending', 0) RETURNING id"
)


class StoreError(SQLAlchemyError):
    """The delivery could not be stored; the platform should retry (503)."""


class EventStore:
    """The web process's delivery writer (see the module docstring). Thread-safe; one per app per process."""

    def __init__(self, app: Flask, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.app = app
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None

    @property
    def group_commit(self) -> bool:
        """PostgreSQL: deliveries are written by the writer thread; otherwise by the request's own thread."""
        return self.engine.dialect.name == "postgresql"

    def store(self, channel: str, body: bytes, *, receipt: bool = False) -> int:
        """Store one delivery and announce it (in the receipts lane if it holds only receipts); returns its id once it
        is committed. Raises StoreError."""
        if not self.group_commit:
            event_id = self._insert_one(channel, body)
            _announce([] if receipt else [event_id], [event_id] if receipt else [])
            return event_id
        self._start()
        future: Future = Future()
        self._queue.put((channel, body, datetime.now(UTC), receipt, future))
        try:
            return future.result(timeout=STORE_TIMEOUT)
        except FutureTimeout as exc:
            raise StoreError(f"storing the webhook took over {STORE_TIMEOUT:.0f} s") from exc

    # --- the writer thread -----------------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the writer in this process (again after a fork: threads do not survive one)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._run, name="chatpad-event-writer", daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        with self.app.app_context():  # announcing uses the app's Redis
            self._loop(self._queue)

    def _loop(self, pending: queue.SimpleQueue) -> None:
        while True:
            batch = [pending.get()]
            while len(batch) < self.max_batch:  # whatever gathered while the last batch was committing
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            try:
                ids = self._insert_batch(batch)
            except Exception as exc:  # every request of the batch answers 503; nothing of it was stored
                error = exc if isinstance(exc, StoreError) else StoreError(f"storing the webhook failed: {exc}")
                for *_, future in batch:
                    future.set_exception(error)
                continue
            lanes: tuple[list[int], list[int]] = ([], [])
            for event_id, item in zip(ids, batch, strict=True):
                lanes[item[3]].append(event_id)  # item[3]: receipt
            _announce(*lanes)
            for event_id, (*_, future) in zip(ids, batch, strict=True):
                future.set_result(event_id)

    def _insert_batch(self, batch: list[tuple]) -> list[int]:
        channels = [item[0] for item in batch]
        bodies = [item[1] for item in batch]
        received = [item[2] for item in batch]
        with self._connection() as connection:
            cursor = connection.cursor()
            cursor.execute(_BATCH_INSERT, (channels, bodies, received), prepare=True)
            ids = sorted(row[0] for row in cursor.fetchall())
            cursor.close()
        if len(ids) != len(batch):  # cannot happen with one INSERT … SELECT; never answer a wrong id
            raise StoreError(f"stored {len(ids)} rows for {len(batch)} deliveries")
        return ids

    def _insert_one(self, channel: str, body: bytes) -> int:
        # SQLite keeps naive UTC text, as the UTCDateTime column type does.
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        with self._connection() as connection:
            cursor = connection.cursor()
            cursor.execute(_SQLITE_INSERT, (channel, body, now))
            event_id = cursor.fetchone()[0]
            connection.commit()
            cursor.close()
        return event_id

    def _connection(self):
        return _Checkout(self.engine)


class _Checkout:
    """A pooled raw DBAPI connection; on any error it is invalidated (a dropped connection is not reused) and the
    error becomes a StoreError."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self):
        try:
            self.connection = self.engine.raw_connection()
        except Exception as exc:  # the database is unreachable: a DBAPI error, not a SQLAlchemyError, from the pool
            raise StoreError(f"storing the webhook failed: {exc}") from exc
        return self.connection

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None:
            self.connection.invalidate()
            self.connection.close()
            if isinstance(exc, StoreError):
                return False
            raise StoreError(f"storing the webhook failed: {exc}") from exc
        self.connection.close()
        return False


def _announce(ids: list[int], receipts: list[int]) -> None:
    try:
        announce_many(ids, receipts)
    except Exception:  # Redis down: the events are stored; the sweeper queues them when Redis is back
        log.warning("stored events %s but could not announce them; the sweeper will", ids + receipts, exc_info=True)
