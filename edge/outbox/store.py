"""The durable outbox: an event exists once its row is committed here.

SQLite in WAL mode with ``synchronous=FULL``: a committed row survives ``kill -9`` and
power loss (with WAL + NORMAL, committed transactions may roll back after a power cut).
The sender deletes a row only after the broker acknowledged it, so a broker outage, a
network cut or a crash delays delivery but never loses an event. This is the boundary
where ``sqlite3`` errors become ``DeliveryError``.

Bounds: the store is capped at ``max_bytes`` of database pages in use. The WAL is not
counted: it logs the same pages until a checkpoint folds them back, and counting it made the
level swing with every checkpoint (an alarm raised and cleared 39 times in 3 minutes, an
event refused while the backlog drained). ``outbox_filling`` is raised at ``warn_fraction``
and cleared below ``clear_fraction``. When full, new events are refused with a loud alarm
(default) or, as an explicit policy, the oldest undelivered rows are dropped and counted;
never a silent loss. A store that fails its integrity check at start is renamed aside for
salvage and a new one started, with an alarm.

A full disk is not a crash: a reserve file (``reserve.py``) is released so that events are
still committed and delivered rows deleted (``disk_full`` alarm); beyond it new events are
refused (``outbox_full``) while the line keeps being watched, and everything resumes by
itself once space returns. A start on a full disk that cannot even create the database
comes up without one, says so (``outbox_full``), and creates it when it can.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lepton.edge.alarms import Alarms
from lepton.edge.config.models import OutboxConfig
from lepton.edge.errors import ConfigError, DeliveryError
from lepton.edge.outbox.reserve import DiskReserve

log = logging.getLogger(__name__)

ALARM_CORRUPT = "outbox_corrupt"
ALARM_FILLING = "outbox_filling"
ALARM_FULL = "outbox_full"
ALARM_DEAD_LETTER = "dead_letter"
ALARM_DISK_FULL = "disk_full"

RESERVE_SUFFIX = ".reserve"
REOPEN_EVERY_S = 1.0
"""How often a store that could not be created on a full disk tries again."""
RESERVE_RETRY_S = 5.0
"""How often a released reserve is made again once the disk has room (one statvfs)."""

_T = TypeVar("_T")

SLOW_TRANSACTION_S = 0.25
"""A transaction slower than this is logged: on a line box it is a disk stall, and every event waits on it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key TEXT UNIQUE NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_file TEXT,
    created_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    message_key TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_file TEXT,
    created_at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dead_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


class _DiskFullAtOpenError(Exception):
    """The database could not be opened or created for lack of space (never corruption)."""


class OutboxFullError(DeliveryError):
    """The outbox is at its byte budget (or the disk is full) and the policy is to refuse."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def _is_disk_full(err: sqlite3.Error) -> bool:
    return getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(err)


@dataclass(frozen=True)
class NewMessage:
    """A message to commit. ``render`` receives the per-device event seq assigned at commit."""

    key: str
    topic: str
    render: Callable[[int], bytes]
    payload_file: Path | None = None
    """When set, the payload is this snapshot JPEG's content, read and checked whole at send time."""


@dataclass(frozen=True)
class OutboxRow:
    row_id: int
    message_key: str
    topic: str
    payload: bytes
    payload_file: str | None
    created_at_ms: int
    attempts: int


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Outbox:
    """One connection shared by the pipeline (commits) and the sender (reads, deletes)."""

    def __init__(self, path: Path, config: OutboxConfig | None = None, alarms: Alarms | None = None) -> None:
        self.path = path
        self.config = config or OutboxConfig()
        self.alarms = alarms or Alarms()
        self.refused = 0
        self.dropped_oldest = 0
        self.dead_lettered = 0
        self._lock = threading.Lock()
        self._reserve = DiskReserve(path.with_name(path.name + RESERVE_SUFFIX), self.config.reserve_bytes)
        self._next_reserve_try = 0.0
        self._next_open_try = 0.0
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open_on_disk()
        except PermissionError as err:
            raise ConfigError(
                f"outbox {path}: cannot open ({err.strerror}); service.state_dir must be writable by the "
                "service user (systemd: StateDirectory=lepton)"
            ) from err
        except (sqlite3.Error, OSError) as err:
            raise DeliveryError(
                f"outbox {path}: cannot open ({err}); check that service.state_dir is writable"
            ) from err
        if self._db is not None:
            self._make_reserve()
            self._update_level()

    # --- opening -----------------------------------------------------------------------
    def _open_on_disk(self) -> sqlite3.Connection | None:
        """The database; None when the disk is too full to create it (the service still comes up)."""
        try:
            return self._open_checked()
        except _DiskFullAtOpenError:
            pass
        if self._release_reserve():
            try:
                return self._open_checked()
            except _DiskFullAtOpenError:
                pass
        self._next_open_try = time.monotonic() + REOPEN_EVERY_S
        self.alarms.raise_alarm(
            ALARM_FULL,
            f"outbox {self.path}: cannot be opened: the disk under service.state_dir is full; new events are "
            "refused until space is freed there (the outbox is created by itself then)",
        )
        return None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA wal_autocheckpoint=256")
        db.execute("PRAGMA journal_size_limit=8388608")
        return db

    def _open_checked(self) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        if existed:
            db = None
            try:
                db = self._connect()
                verdict = db.execute("PRAGMA quick_check").fetchone()[0]
                if verdict == "ok":
                    db.executescript(_SCHEMA)
                    return db
            except sqlite3.OperationalError as err:
                if _is_disk_full(err):  # not corruption: a full disk (the old code set the store aside)
                    if db is not None:
                        db.close()
                    raise _DiskFullAtOpenError() from err
                verdict = str(err)
            except sqlite3.DatabaseError as err:
                verdict = str(err)
            if db is not None:
                db.close()
            self._set_aside(verdict)
        try:
            db = self._connect()
            db.executescript(_SCHEMA)
        except sqlite3.OperationalError as err:
            if not _is_disk_full(err):
                raise
            # A start on a full disk: leave no 0-byte outbox.db that a later start could mistake for
            # a damaged one; the store is created once there is room.
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            raise _DiskFullAtOpenError() from err
        return db

    def _reopen_if_closed(self) -> sqlite3.Connection:
        """The connection; on a store that could not be created, one more try (at most every second)."""
        if self._db is not None:
            return self._db
        if time.monotonic() >= self._next_open_try:
            try:
                self._db = self._open_on_disk()
            except (sqlite3.Error, OSError) as err:
                log.warning("outbox %s: still cannot open: %s", self.path, err)
                self._next_open_try = time.monotonic() + REOPEN_EVERY_S
        if self._db is None:
            raise OutboxFullError(
                f"outbox {self.path}: not open: the disk under service.state_dir is full; free space there",
                disk_full=True,
            )
        log.info("outbox %s: created now that the disk has room", self.path)
        return self._db

    # --- the reserve -------------------------------------------------------------------
    def _release_reserve(self) -> bool:
        if not self._reserve.release():
            return False
        self._next_reserve_try = time.monotonic() + RESERVE_RETRY_S
        self.alarms.raise_alarm(
            ALARM_DISK_FULL,
            f"the disk under service.state_dir ({self.path.parent}) is full: released the outbox's "
            f"{self.config.reserve_bytes} byte reserve (outbox.reserve_bytes); events are committed into it "
            "while snapshots are dropped; free space there",
        )
        return True

    def _make_reserve(self) -> None:
        if self._reserve.make():
            self.alarms.clear(ALARM_DISK_FULL)
        else:
            self._next_reserve_try = time.monotonic() + RESERVE_RETRY_S

    def _retrying_on_disk_full(self, attempt: Callable[[], _T]) -> _T:
        """Run a write; on a full disk, release the reserve and run it once more."""
        try:
            return attempt()
        except OutboxFullError as err:
            if err.disk_full and self._release_reserve():
                return attempt()
            raise

    def _set_aside(self, verdict: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        kept = self.path.with_name(f"{self.path.stem}.corrupt-{stamp}{self.path.suffix}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                os.replace(part, Path(f"{kept}{suffix}"))
        self.alarms.raise_alarm(
            ALARM_CORRUPT,
            f"outbox {self.path} failed its integrity check ({verdict}); kept as {kept.name} for salvage "
            "(sqlite3 .recover), started a new one",
        )

    # --- writing -----------------------------------------------------------------------
    @contextmanager
    def _transaction(
        self, what: str, on_committed: Callable[[], None] | None = None
    ) -> Iterator[sqlite3.Connection]:
        asked = time.monotonic()
        with self._lock:
            started = time.monotonic()
            db = self._reopen_if_closed()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    if db.in_transaction:  # SQLITE_FULL has already rolled it back
                        db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                if on_committed is not None:
                    on_committed()  # still under the lock: before the sender can read the rows
                done = time.monotonic()
                if done - asked > SLOW_TRANSACTION_S:
                    log.warning(
                        "outbox %s: %s took %.0f ms (%.0f ms waiting for the outbox lock); a slow or "
                        "stalled disk under service.state_dir delays every event",
                        self.path, what, (done - asked) * 1000.0, (started - asked) * 1000.0,
                    )  # fmt: skip
            except sqlite3.OperationalError as err:
                if _is_disk_full(err):
                    raise OutboxFullError(
                        f"outbox {self.path}: {what} failed: disk full; free space under service.state_dir",
                        disk_full=True,
                    ) from err
                raise DeliveryError(f"outbox {self.path}: {what} failed: {err}") from err
            except sqlite3.Error as err:
                raise DeliveryError(f"outbox {self.path}: {what} failed: {err}") from err

    def commit(self, messages: Sequence[NewMessage], on_committed: Callable[[], None] | None = None) -> int:
        """Commit messages atomically under one new per-device seq, returned.

        The seq lives in ``meta`` so it keeps rising across restarts, even after every row
        was delivered and deleted. A message key (``<event_id>/new``) can be committed once.
        ``on_committed`` runs once the rows are durable and before the sender can see them,
        so a clock it starts cannot miss their PUBACK.
        """
        try:
            try:
                seq = self._retrying_on_disk_full(
                    lambda: self._commit_once(messages, apply_policy=False, on_committed=on_committed)
                )
            except OutboxFullError as err:
                if err.disk_full or self.config.when_full == "refuse":
                    raise
                seq = self._commit_once(messages, apply_policy=True, on_committed=on_committed)
        except OutboxFullError as err:
            self.refused += len(messages)
            self.alarms.raise_alarm(ALARM_FULL, f"{err}; {self.refused} message(s) refused so far")
            raise
        self._update_level()
        return seq

    def _checkpoint(self) -> None:
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as err:
                log.warning("outbox %s: checkpoint failed: %s", self.path, err)

    def _commit_once(
        self, messages: Sequence[NewMessage], apply_policy: bool, on_committed: Callable[[], None] | None
    ) -> int:
        with self._transaction("commit", on_committed) as db:
            row = db.execute("SELECT v FROM meta WHERE k = 'last_seq'").fetchone()
            seq = int(row[0]) + 1 if row else 0
            payloads = [m.render(seq) for m in messages]
            self._make_room(db, sum(len(p) for p in payloads) + 512 * len(messages), apply_policy)
            for message, payload in zip(messages, payloads, strict=True):
                db.execute(
                    "INSERT INTO outbox (message_key, topic, payload, payload_file, created_at_ms) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        message.key,
                        message.topic,
                        payload,
                        None if message.payload_file is None else str(message.payload_file),
                        _now_ms(),
                    ),
                )
            db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('last_seq', ?)", (str(seq),))
        return seq

    def _used_bytes(self, db: sqlite3.Connection) -> int:
        """Database pages in use as this connection sees them (WAL frames included, the WAL file not)."""
        pages = (
            db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
        )
        return int(pages) * int(db.execute("PRAGMA page_size").fetchone()[0])

    def _make_room(self, db: sqlite3.Connection, needed: int, apply_policy: bool) -> None:
        limit = self.config.max_bytes
        if self._used_bytes(db) + needed <= limit:
            return
        if self.config.when_full == "refuse" or not apply_policy:
            raise OutboxFullError(
                f"outbox {self.path}: full ({limit} bytes, outbox.max_bytes); new events are refused until "
                "the broker takes the backlog"
            )
        while self._used_bytes(db) + needed > limit:
            oldest = db.execute("SELECT id FROM outbox ORDER BY id LIMIT 16").fetchall()
            if not oldest:
                raise OutboxFullError(f"outbox {self.path}: full even when empty; raise outbox.max_bytes")
            db.executemany("DELETE FROM outbox WHERE id = ?", oldest)
            self.dropped_oldest += len(oldest)
        self.alarms.raise_alarm(
            ALARM_FULL,
            f"outbox {self.path} full: dropped the {self.dropped_oldest} oldest undelivered message(s) "
            "(outbox.when_full = drop-oldest)",
        )

    def _update_level(self) -> None:
        with self._lock:
            if self._db is None:
                return
            try:
                used = self._used_bytes(self._db)
            except sqlite3.Error:
                return
        limit = self.config.max_bytes
        if used >= self.config.warn_fraction * limit:
            self.alarms.raise_alarm(
                ALARM_FILLING, f"outbox {self.path} holds {used} of {limit} bytes (outbox.max_bytes)"
            )
        elif used < self.config.clear_level * limit:  # hysteresis: between the two marks nothing changes
            self.alarms.clear(ALARM_FILLING)
        if used < self.config.warn_fraction * limit:  # room again: new events are accepted
            self.alarms.clear(ALARM_FULL)
        if not self._reserve.held and time.monotonic() >= self._next_reserve_try:
            self._make_reserve()

    # --- the sender's side -------------------------------------------------------------
    def pending(self, limit: int, exclude: set[int] | None = None) -> list[OutboxRow]:
        """Undelivered rows, oldest first, skipping ``exclude`` (already in flight)."""
        exclude = exclude or set()
        with self._lock:
            if self._db is None:
                return []
            try:
                rows = self._db.execute(
                    "SELECT id, message_key, topic, payload, payload_file, created_at_ms, attempts "
                    "FROM outbox ORDER BY id LIMIT ?",
                    (limit + len(exclude),),
                ).fetchall()
            except sqlite3.Error as err:
                raise DeliveryError(f"outbox {self.path}: read failed: {err}") from err
        return [
            OutboxRow(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6]) for r in rows if r[0] not in exclude
        ][:limit]

    def delete(self, *row_ids: int) -> None:
        """Forget rows: only after a successful PUBACK for each. One transaction (one fsync) for all."""
        if not row_ids:
            return
        drained = self._retrying_on_disk_full(lambda: self._delete_once(row_ids))
        if drained:
            self._checkpoint()  # keep the WAL small once the backlog is gone (notes §2)
        self._update_level()

    def _delete_once(self, row_ids: Sequence[int]) -> bool:
        with self._transaction("delete") as db:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(r,) for r in row_ids])
            return db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None

    def record_failure(self, row_id: int, error: str) -> int:
        """Count a refused delivery; returns the attempts so far."""
        with self._transaction("record failure") as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, row_id)
            )
            row = db.execute("SELECT attempts FROM outbox WHERE id = ?", (row_id,)).fetchone()
        return int(row[0]) if row else 0

    def dead_letter(self, row_id: int, reason: str) -> None:
        """Move a row the broker will never accept aside, with the reason; never a silent delete."""
        with self._transaction("dead-letter") as db:
            db.execute(
                "INSERT OR REPLACE INTO dead_letter SELECT id, message_key, topic, payload, "
                "payload_file, created_at_ms, ?, ? FROM outbox WHERE id = ?",
                (reason, _now_ms(), row_id),
            )
            db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            count = db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0]
        self.dead_lettered += 1
        self.alarms.raise_alarm(
            ALARM_DEAD_LETTER,
            f"{count} message(s) the broker refused for good are kept in the dead_letter table of "
            f"{self.path}; last reason: {reason}",
        )

    def depth(self) -> tuple[int, int | None]:
        """(rows waiting, creation time of the oldest in Unix ms)."""
        with self._lock:
            if self._db is None:
                return 0, None
            try:
                count, oldest = self._db.execute("SELECT COUNT(*), MIN(created_at_ms) FROM outbox").fetchone()
            except sqlite3.Error as err:
                raise DeliveryError(f"outbox {self.path}: read failed: {err}") from err
        return int(count), oldest

    def close(self) -> None:
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as err:
                log.warning("outbox %s: final checkpoint failed: %s", self.path, err)
            self._db.close()


__all__ = [
    "ALARM_CORRUPT",
    "ALARM_DEAD_LETTER",
    "ALARM_DISK_FULL",
    "ALARM_FILLING",
    "ALARM_FULL",
    "RESERVE_SUFFIX",
    "NewMessage",
    "Outbox",
    "OutboxFullError",
    "OutboxRow",
]
