"""The snapshot store on a real directory: the quota evicts the oldest, across restarts too;
torn files are told from whole ones."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from lepton.edge.config.models import SnapshotConfig
from lepton.edge.events.schema import Finding
from lepton.edge.events.snapshots import SnapshotStore, read_snapshot

FINDING = Finding(label="scratch", score=0.9)


def _frame(seed: int, shape: tuple[int, int] = (240, 320)) -> np.ndarray:
    # noise compresses badly: each JPEG is tens of kB, so a 1 MiB quota holds a handful
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_quota_keeps_the_newest_and_the_sha256_names_the_bytes(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, SnapshotConfig(max_bytes=1024 * 1024))
    saved = [store.save(f"e{i:03d}", _frame(i), FINDING) for i in range(60)]

    kept = sorted(p.name for p in tmp_path.glob("*.jpg"))
    assert store.evicted > 0 and len(kept) == 60 - store.evicted
    assert kept == [f"e{i:03d}.jpg" for i in range(store.evicted, 60)]  # oldest first out
    assert sum((tmp_path / name).stat().st_size for name in kept) <= 1024 * 1024
    path, sha = saved[-1]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_a_restarted_store_evicts_what_the_last_one_left_oldest_first(tmp_path: Path) -> None:
    first = SnapshotStore(tmp_path, SnapshotConfig(max_bytes=64 * 1024 * 1024))
    for i in range(10):
        path, _sha = first.save(f"old{i}", _frame(i, (480, 640)), FINDING)  # ~230 kB each
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # older files, in name order
    size = sum(p.stat().st_size for p in tmp_path.glob("*.jpg"))

    second = SnapshotStore(tmp_path, SnapshotConfig(max_bytes=size))  # just full
    second.save("new", _frame(99, (480, 640)), FINDING)

    left = {p.name for p in tmp_path.glob("*.jpg")}
    assert "new.jpg" in left and "old0.jpg" not in left
    assert second.evicted == 10 - len(left - {"new.jpg"})
    assert sum(p.stat().st_size for p in tmp_path.glob("*.jpg")) <= size


def test_torn_or_missing_snapshots_read_as_none_and_leftover_parts_are_removed(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, SnapshotConfig())
    path, sha = store.save("whole", _frame(1), FINDING)
    jpeg = path.read_bytes()
    assert read_snapshot(path) == jpeg and hashlib.sha256(jpeg).hexdigest() == sha
    # what a power cut before writeback can leave (the file is written without fsync)
    for name, content in (("empty", b""), ("cut", jpeg[:-100]), ("headless", jpeg[100:])):
        (tmp_path / f"{name}.jpg").write_bytes(content)
        assert read_snapshot(tmp_path / f"{name}.jpg") is None, name
    assert read_snapshot(tmp_path / "evicted.jpg") is None

    leftover = tmp_path / ".killed.jpg.abc123.part"  # a write cut short by kill -9
    leftover.write_bytes(jpeg[:10])
    SnapshotStore(tmp_path, SnapshotConfig())
    assert not leftover.exists() and path.exists()


def test_a_snapshot_rendered_ahead_is_the_file_save_would_write(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, SnapshotConfig())
    try:
        rendered = store.render_ahead(_frame(7), FINDING).result(timeout=10)
        ahead_path, ahead_sha = store.keep("ahead", rendered)
        now_path, now_sha = store.save("now", _frame(7), FINDING)
    finally:
        store.close()
    assert rendered.label == FINDING.label
    assert ahead_sha == now_sha == hashlib.sha256(ahead_path.read_bytes()).hexdigest()
    assert ahead_path.read_bytes() == now_path.read_bytes()
    assert read_snapshot(ahead_path) == rendered.jpeg
