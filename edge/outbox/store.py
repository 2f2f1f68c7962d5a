"""The durable outbox: an event exists once its row is committed here.

SQLite in WAL mode with ``synchronous=FULL``: a committed row survives ``kill -9`` and
power loss (with WAL + NORMAL, committed transactions may roll back after a power cut).
The sender deletes a row only after the broker acknowledged it, so a broker outage, a
network cut or a crash delays delivery but never loses an event. This is the boundary
where ``sqlite3`` errors become ``DeliveryError``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge.errors import DeliveryError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    message_key TEXT UNIQUE NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    message_key: str
    topic: str
    payload: bytes
    created_at_ms: int


class Outbox:
    """One connection shared by the pipeline (commits) and the sender (reads, deletes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA wal_autocheckpoint=256")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as err:
            raise DeliveryError(
                f"outbox {path}: cannot open ({err}); check that service.state_dir is writable"
            ) from err

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                raise DeliveryError(f"outbox {self.path}: {what} failed: {err}") from err

    def commit(self, message_key: str, topic: str, render: Callable[[int], bytes]) -> int:
        """Assign the next per-device seq, render the payload with it, and commit the row.

        ``message_key`` is unique per message (e.g. ``<event_id>/new``): committing the
        same message twice is refused instead of publishing it twice.

        The seq is persisted in ``meta`` so it keeps rising across restarts, even after
        every row was delivered and deleted.
        """
        with self._transaction("commit") as db:
            row = db.execute("SELECT v FROM meta WHERE k = 'last_seq'").fetchone()
            seq = int(row[0]) + 1 if row else 0
            db.execute(
                "INSERT INTO outbox (seq, message_key, topic, payload, created_at_ms) VALUES (?, ?, ?, ?, ?)",
                (seq, message_key, topic, render(seq), time.time_ns() // 1_000_000),
            )
            db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('last_seq', ?)", (str(seq),))
        return seq

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        """Rows not yet delivered with seq > after_seq, oldest first."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT seq, message_key, topic, payload, created_at_ms FROM outbox "
                    "WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, limit),
                ).fetchall()
            except sqlite3.Error as err:
                raise DeliveryError(f"outbox {self.path}: read failed: {err}") from err
        return [OutboxRow(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def delete(self, seq: int) -> None:
        """Forget a row: only after a successful PUBACK for it."""
        with self._transaction("delete") as db:
            db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def record_failure(self, seq: int, error: str) -> None:
        with self._transaction("record failure") as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?", (error, seq)
            )

    def depth(self) -> tuple[int, int | None]:
        """(rows waiting, creation time of the oldest in Unix ms)."""
        with self._lock:
            try:
                count, oldest = self._db.execute("SELECT COUNT(*), MIN(created_at_ms) FROM outbox").fetchone()
            except sqlite3.Error as err:
                raise DeliveryError(f"outbox {self.path}: read failed: {err}") from err
        return int(count), oldest

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["Outbox", "OutboxRow"]
