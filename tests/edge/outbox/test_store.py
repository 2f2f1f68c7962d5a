"""The outbox on real SQLite on disk: durable commits, per-device seq across restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.errors import DeliveryError
from edge.outbox.store import Outbox


def test_rows_survive_reopen_and_seq_keeps_rising(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    seqs = [box.commit(f"e{i}/new", "t/events", lambda seq: f"payload {seq}".encode()) for i in range(3)]
    assert seqs == [0, 1, 2]
    box.delete(0)
    box.delete(1)
    box.delete(2)
    box.close()

    box = Outbox(path)
    assert box.depth() == (0, None)
    seq = box.commit("e3/new", "t/events", lambda s: f"payload {s}".encode())
    assert seq == 3  # never reused, even with the table empty
    (row,) = box.pending(after_seq=-1, limit=10)
    assert (row.seq, row.payload, row.message_key) == (3, b"payload 3", "e3/new")
    box.close()


def test_database_is_wal_with_full_sync(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.commit("a/new", "t", lambda s: b"x")
    db = sqlite3.connect(tmp_path / "outbox.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    box.close()


def test_the_same_message_is_not_committed_twice(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.commit("a/new", "t", lambda s: b"x")
    with pytest.raises(DeliveryError, match=r"outbox .*commit failed"):
        box.commit("a/new", "t", lambda s: b"x")
    assert box.depth()[0] == 1
    box.close()


def test_unwritable_location_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DeliveryError, match=r"service\.state_dir"):
        Outbox(blocker / "outbox.db")
