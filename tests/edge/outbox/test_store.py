"""The outbox on real SQLite on disk: durable commits, per-device seq, bounds, corruption."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from lepton.edge.alarms import Alarms
from lepton.edge.config.models import OutboxConfig
from lepton.edge.errors import DeliveryError
from lepton.edge.outbox.store import (
    ALARM_CORRUPT,
    ALARM_DEAD_LETTER,
    ALARM_DISK_FULL,
    ALARM_FILLING,
    ALARM_FULL,
    RESERVE_SUFFIX,
    NewMessage,
    Outbox,
    OutboxFullError,
)

MiB = 1024 * 1024


def message(key: str, size: int = 10) -> NewMessage:
    return NewMessage(key=key, topic="t/events", render=lambda seq: f"{seq}:".encode() + b"x" * size)


def test_rows_survive_reopen_and_seq_keeps_rising(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    assert [box.commit([message(f"e{i}/new")]) for i in range(3)] == [0, 1, 2]
    for row in box.pending(limit=10):
        box.delete(row.row_id)
    box.close()

    box = Outbox(path)
    assert box.depth() == (0, None)
    assert box.commit([message("e3/new")]) == 3  # never reused, even with the table empty
    (row,) = box.pending(limit=10)
    assert (row.payload[:2], row.message_key) == (b"3:", "e3/new")
    box.close()


def test_one_commit_is_one_seq_and_atomic(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    seq = box.commit([message("a/new"), message("a/snapshot")])
    assert [r.payload[:2] for r in box.pending(limit=10)] == [f"{seq}:".encode()] * 2
    with pytest.raises(DeliveryError):
        box.commit([message("b/new"), message("a/new")])  # second one is a duplicate key
    assert box.depth()[0] == 2  # nothing of the failed commit is kept
    box.close()


def test_on_committed_runs_before_the_sender_can_read_the_rows(tmp_path: Path) -> None:
    # The pipeline starts an event's frame-to-PUBACK clock there: started after the commit
    # returned, a fast PUBACK could arrive first and the event would go untimed.
    box = Outbox(tmp_path / "outbox.db")
    seen_by_sender: list[list[str]] = []
    sender = threading.Thread(target=lambda: seen_by_sender.append([r.message_key for r in box.pending(10)]))

    def on_committed() -> None:
        sender.start()
        sender.join(timeout=0.3)
        assert sender.is_alive(), "the sender read the outbox before the clock was started"

    box.commit([message("a/new")], on_committed=on_committed)
    sender.join(timeout=5)
    assert seen_by_sender == [["a/new"]]
    with pytest.raises(DeliveryError):
        box.commit([message("a/new")], on_committed=lambda: pytest.fail("called for a failed commit"))
    box.close()


def test_database_is_wal_with_full_sync(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.commit([message("a/new")])
    db = sqlite3.connect(tmp_path / "outbox.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    box.close()


def test_pending_skips_rows_in_flight(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for i in range(5):
        box.commit([message(f"e{i}/new")])
    first = box.pending(limit=2)
    rest = box.pending(limit=10, exclude={r.row_id for r in first})
    assert [r.message_key for r in first] == ["e0/new", "e1/new"]
    assert [r.message_key for r in rest] == ["e2/new", "e3/new", "e4/new"]
    box.close()


def test_unwritable_location_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DeliveryError, match=r"service\.state_dir"):
        Outbox(blocker / "outbox.db")


def test_full_outbox_refuses_new_events_keeps_old_ones_and_recovers(tmp_path: Path) -> None:
    alarms = Alarms()
    box = Outbox(tmp_path / "outbox.db", OutboxConfig(max_bytes=4 * MiB, warn_fraction=0.5), alarms)
    committed = 0
    with pytest.raises(OutboxFullError, match=r"outbox\.max_bytes"):
        for i in range(1000):
            box.commit([message(f"e{i}/new", size=8000)])
            committed += 1
    assert 200 < committed < 512  # 4 MiB of 8 KB rows, WAL included
    assert box.depth()[0] == committed  # nothing old was dropped
    assert {ALARM_FULL, ALARM_FILLING} <= set(alarms.active())
    assert box.refused == 1
    for row in box.pending(limit=committed):
        box.delete(row.row_id)
    assert ALARM_FULL not in alarms.active() and ALARM_FILLING not in alarms.active()
    box.commit([message("after/new", size=8000)])  # accepted again
    box.close()
    db = sqlite3.connect(tmp_path / "outbox.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_drop_oldest_policy_is_explicit_and_counted(tmp_path: Path) -> None:
    alarms = Alarms()
    config = OutboxConfig(max_bytes=2 * MiB, when_full="drop-oldest")
    box = Outbox(tmp_path / "outbox.db", config, alarms)
    for i in range(400):
        box.commit([message(f"e{i}/new", size=8000)])
    assert box.dropped_oldest > 0
    keys = [r.message_key for r in box.pending(limit=1000)]
    assert keys[-1] == "e399/new" and "e0/new" not in keys
    assert len(keys) + box.dropped_oldest == 400
    assert "dropped" in alarms.active()[ALARM_FULL]
    box.close()


def test_disk_full_is_reported_as_full_not_a_crash(tmp_path: Path) -> None:
    alarms = Alarms()
    box = Outbox(tmp_path / "outbox.db", OutboxConfig(max_bytes=1024 * MiB), alarms)
    box._db.execute("PRAGMA max_page_count = 40")  # the disk "fills" at 160 KiB
    with pytest.raises(OutboxFullError, match="disk full"):
        for i in range(1000):
            box.commit([message(f"e{i}/new", size=4000)])
    assert ALARM_FULL in alarms.active()
    assert box._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    box.close()


def test_corrupt_database_is_set_aside_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    box.commit([message("a/new")])
    box.close()
    data = bytearray(path.read_bytes())
    data[0:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))

    alarms = Alarms()
    box = Outbox(path, alarms=alarms)
    assert box.depth() == (0, None)
    kept = list(tmp_path.glob("outbox.corrupt-*.db"))
    assert len(kept) == 1 and kept[0].read_bytes()[:16] == b"garbage garbage!"
    assert ALARM_CORRUPT in alarms.active() and kept[0].name in alarms.active()[ALARM_CORRUPT]
    box.commit([message("b/new")])
    box.close()


def test_dead_letter_keeps_the_row_and_raises_an_alarm(tmp_path: Path) -> None:
    alarms = Alarms()
    box = Outbox(tmp_path / "outbox.db", alarms=alarms)
    box.commit([message("a/new")])
    (row,) = box.pending(limit=1)
    box.dead_letter(row.row_id, "0x95 packet too large")
    assert box.depth()[0] == 0
    assert "0x95" in alarms.active()[ALARM_DEAD_LETTER]
    kept = box._db.execute("SELECT message_key, reason FROM dead_letter").fetchall()
    assert kept == [("a/new", "0x95 packet too large")]
    box.close()


def test_a_commit_held_up_by_the_disk_is_logged_with_its_duration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    box.commit([message("warm/new")])
    assert not [r for r in caplog.records if "took" in r.getMessage()]
    # another writer holds SQLite's write lock for 0.5 s, as a stalled disk would hold the commit
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, blocker.execute, args=("COMMIT",))
    release.start()
    try:
        box.commit([message("slow/new")])
    finally:
        release.join()
        blocker.close()
    (warning,) = [r for r in caplog.records if "took" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert "commit took" in warning.getMessage() and "service.state_dir" in warning.getMessage()
    took_ms = float(warning.getMessage().split(" took ")[1].split(" ms")[0])
    assert 450 <= took_ms < 5000
    box.close()


def test_filling_alarm_has_hysteresis_and_a_draining_backlog_is_never_refused(tmp_path: Path) -> None:
    """Issue 14 item 9: with the WAL counted, a 1 MiB outbox toggled outbox_filling 39 times in
    3 minutes and refused an event while its backlog drained. The budget is the database's pages."""
    alarms = Alarms()
    transitions: list[bool] = []
    alarms.subscribe(lambda active: transitions.append(ALARM_FILLING in active))
    box = Outbox(tmp_path / "outbox.db", OutboxConfig(max_bytes=MiB), alarms)
    size = 17 * 1024
    i = 0
    while ALARM_FILLING not in alarms.active():  # the broker is away: a backlog builds up to the mark
        box.commit([message(f"e{i}/new", size=size)])
        i += 1
        assert i < 100, "1 MiB holds fewer than 100 messages of 17 KiB"
    for _ in range(5):  # and a little past it
        box.commit([message(f"e{i}/new", size=size)])
        i += 1
    # The broker is back: the sender deletes two rows for each new event, until it is all delivered.
    while box.depth()[0]:
        box.commit([message(f"e{i}/new", size=size)])
        i += 1
        box.delete(*[row.row_id for row in box.pending(limit=2)])
    for j in range(50):  # the line goes on with an empty outbox: one in, one out
        box.commit([message(f"after{j}/new", size=size)])
        box.delete(*[row.row_id for row in box.pending(limit=1)])
    filling_changes = [t for prev, t in zip([False, *transitions], transitions, strict=False) if prev != t]
    assert filling_changes == [True, False], f"outbox_filling raised/cleared: {filling_changes}"
    assert box.refused == 0 and ALARM_FULL not in alarms.active()
    box.close()


def test_filling_clears_below_the_clear_mark_not_at_the_warn_mark(tmp_path: Path) -> None:
    alarms = Alarms()
    box = Outbox(tmp_path / "outbox.db", OutboxConfig(max_bytes=MiB), alarms)
    i = 0
    while ALARM_FILLING not in alarms.active():
        box.commit([message(f"e{i}/new", size=17 * 1024)])
        i += 1
    rows = box.pending(limit=1000)
    box.delete(rows[0].row_id, rows[1].row_id)  # just under 80 %: above 70 %, still filling
    assert ALARM_FILLING in alarms.active()
    box.delete(*[r.row_id for r in rows[2 : len(rows) // 2]])
    assert ALARM_FILLING not in alarms.active()
    box.close()


def test_full_disk_uses_the_reserve_then_refuses_then_resumes(tmp_path: Path) -> None:
    """On a real tmpfs: the reserve keeps commits and deletes going, then refusal, then recovery."""
    from tests.support.polling import wait_until
    from tests.support.small_disk import fill_disk, small_tmpfs

    with small_tmpfs(tmp_path / "disk", size_mib=8) as disk:
        alarms = Alarms()
        box = Outbox(disk / "outbox.db", OutboxConfig(max_bytes=64 * MiB, reserve_bytes=MiB), alarms)
        assert (disk / f"outbox.db{RESERVE_SUFFIX}").stat().st_size == MiB
        box.commit([message("before/new", size=8000)])
        filler = disk / "filler"
        fill_disk(filler)
        committed = 0
        with pytest.raises(OutboxFullError) as refused:
            for i in range(1000):
                box.commit([message(f"e{i}/new", size=8000)])
                committed += 1
        assert refused.value.disk_full
        assert committed > 20, "the 1 MiB reserve holds events once the disk is full"
        assert {ALARM_DISK_FULL, ALARM_FULL} <= set(alarms.active())
        assert box.refused == 1 and box.depth()[0] == committed + 1  # nothing lost, nothing half-written
        assert box._db is not None and box._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

        filler.unlink()
        box.commit([message("after/new", size=8000)])  # space is back: accepted at once
        assert ALARM_FULL not in alarms.active()
        box.delete(*[row.row_id for row in box.pending(limit=1000)])
        keys = iter(range(10_000))

        def reserve_back() -> bool:  # each commit looks again, at most every few seconds
            box.commit([message(f"k{next(keys)}/new")])
            return ALARM_DISK_FULL not in alarms.active()

        wait_until(reserve_back, 30, "the reserve made again", interval_s=0.5)
        assert (disk / f"outbox.db{RESERVE_SUFFIX}").stat().st_size == MiB
        box.close()


def test_a_start_on_a_full_disk_leaves_no_empty_database(tmp_path: Path) -> None:
    from tests.support.small_disk import fill_disk, small_tmpfs

    with small_tmpfs(tmp_path / "disk", size_mib=2) as disk:
        filler = disk / "filler"
        fill_disk(filler)
        alarms = Alarms()
        box = Outbox(disk / "outbox.db", OutboxConfig(reserve_bytes=MiB), alarms)
        assert "cannot be opened" in alarms.active()[ALARM_FULL]
        assert not (disk / "outbox.db").exists()
        with pytest.raises(OutboxFullError):
            box.commit([message("e0/new")])
        assert box.depth() == (0, None) and box.pending(limit=10) == []
        filler.unlink()
        time.sleep(1.1)  # the store tries to open again at most once a second
        box.commit([message("e1/new")])
        assert (
            box.depth()[0] == 1 and ALARM_FULL not in alarms.active() and ALARM_CORRUPT not in alarms.active()
        )
        box.close()
