"""The engine cache: keys that change with every input, verified loads, atomic writes, pruning,
quarantine. Real files on disk; the plans are opaque bytes here (TensorRT never reads them)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lepton.edge.engines.engine_cache import (
    PLAN_NAME,
    RECORD_NAME,
    EngineCache,
    EngineKey,
    quarantine_alarm,
    state_caches,
)


def _key(**changes: object) -> EngineKey:
    fields: dict[str, object] = {
        "onnx_sha256": "a" * 64,
        "runtime": "tensorrt",
        "runtime_version": "10.3.0",
        "gpu_name": "Orin",
        "compute_capability": "8.7",
        "settings": {"recipe": "int8-strongly-typed", "workspace_mib": None, "dla_core": None},
        "lepton_version": "0.2.0",
    }
    return EngineKey.model_validate(fields | changes)


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "b" * 64},
        {"runtime_version": "10.3.1"},
        {"runtime_version": "11.0.0"},
        {"gpu_name": "NVIDIA GeForce RTX 4090"},
        {"compute_capability": "8.9"},
        {"settings": {"recipe": "int8-strongly-typed", "workspace_mib": 1024, "dla_core": None}},
        {"settings": {"recipe": "int8-strongly-typed", "workspace_mib": None, "dla_core": 0}},
        {"settings": {"recipe": "fp32-flags:fp16", "workspace_mib": None, "dla_core": None}},
        {"lepton_version": "0.2.1"},
        {"runtime": "ort-trt"},
    ],
)
def test_changing_any_input_changes_the_key(change: dict[str, object]) -> None:
    assert _key(**change).digest() != _key().digest()


def test_the_key_is_stable_and_independent_of_settings_order() -> None:
    reordered = _key(settings={"dla_core": None, "workspace_mib": None, "recipe": "int8-strongly-typed"})
    assert reordered.digest() == _key().digest() == _key().digest()


def test_a_stored_engine_is_found_again_and_nothing_partial_is_left(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    entry = cache.store(_key(), b"plan-bytes", build_s=12.5)

    assert cache.lookup(_key()).plan == b"plan-bytes"
    assert sorted(p.name for p in entry.iterdir()) == [RECORD_NAME, PLAN_NAME]
    assert [p.name for p in cache.root.iterdir()] == [entry.name]  # no .staging or .part beside it
    record = json.loads((entry / RECORD_NAME).read_text())
    assert record["key"]["runtime_version"] == "10.3.0" and record["plan_bytes"] == len(b"plan-bytes")
    miss = cache.lookup(_key(runtime_version="10.3.1"))
    assert miss.plan is None and "no engine" in miss.miss


def test_a_write_that_fails_midway_leaves_the_previous_engine(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    cache.store(_key(), b"old-plan", build_s=1.0)

    class Unwritable(bytes):
        """A plan whose write fails (a full disk): ``write_bytes`` raises after the staging dir exists."""

        def __len__(self) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        cache.store(_key(), Unwritable(b"new-plan"), build_s=1.0)

    assert cache.lookup(_key()).plan == b"old-plan"
    assert [p.name for p in cache.root.iterdir()] == [_key().digest()]


@pytest.mark.parametrize(
    ("damage", "evidence"),
    [
        (lambda e: (e / PLAN_NAME).write_bytes(b"plan-by"), "has sha256"),  # torn plan
        (lambda e: (e / PLAN_NAME).unlink(), "cannot be read"),
        (lambda e: (e / RECORD_NAME).write_text("{not json"), "missing or unreadable"),
        (lambda e: (e / RECORD_NAME).write_text(""), "missing or unreadable"),
        (lambda e: (e / RECORD_NAME).unlink(), "missing or unreadable"),
    ],
)
def test_a_corrupt_entry_is_never_loaded_and_is_removed_for_a_rebuild(
    tmp_path: Path, damage: object, evidence: str
) -> None:
    cache = EngineCache(tmp_path / "engines")
    entry = cache.store(_key(), b"plan-bytes", build_s=1.0)
    damage(entry)  # type: ignore[operator]

    lookup = cache.lookup(_key())

    assert lookup.plan is None and evidence in lookup.miss
    assert not entry.exists()


def test_an_entry_recording_another_build_is_incompatible(tmp_path: Path) -> None:
    """A plan built for another TensorRT version, found under this key's name (copied by hand)."""
    cache = EngineCache(tmp_path / "engines")
    foreign = cache.store(_key(runtime_version="8.6.2"), b"foreign-plan", build_s=1.0)
    os.replace(foreign, cache.entry(_key().digest()))

    lookup = cache.lookup(_key())

    assert lookup.plan is None and "records another build" in lookup.miss
    assert not cache.entry(_key().digest()).exists()


def test_a_read_only_cache_reports_but_never_removes(tmp_path: Path) -> None:
    EngineCache(tmp_path / "engines").store(_key(), b"plan-bytes", build_s=1.0)
    entry = tmp_path / "engines" / _key().digest()
    (entry / PLAN_NAME).write_bytes(b"tampered!!")

    lookup = EngineCache(tmp_path / "engines", read_only=True).lookup(_key())

    assert lookup.plan is None and "has sha256" in lookup.miss
    assert entry.is_dir()


def test_the_least_recently_used_engines_beyond_keep_are_pruned(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines", keep=2)
    keys = [_key(onnx_sha256=c * 64) for c in "abc"]
    now = time.time()
    for age, key in zip((300, 200), keys[:2], strict=True):
        entry = cache.store(key, b"plan", build_s=1.0)
        os.utime(entry / RECORD_NAME, (now - age, now - age))
    cache.lookup(keys[0])  # used now: the most recent

    cache.store(keys[2], b"plan", build_s=1.0)

    assert {p.name for p in cache.root.iterdir()} == {keys[0].digest(), keys[2].digest()}


def test_a_killed_build_leaves_a_staging_dir_that_is_pruned_once_stale(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    stale = cache.root / ".deadbeef.x.staging"
    fresh = cache.root / ".cafe.y.staging"
    for d in (stale, fresh):
        d.mkdir(parents=True)
        (d / PLAN_NAME).write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    cache.store(_key(), b"plan", build_s=1.0)

    assert not stale.exists() and fresh.exists()  # a build running beside us keeps its dir
    assert [e.path.name for e in cache.entries()] == [_key().digest()]


def test_a_quarantined_engine_is_not_loaded_is_listed_and_alarms_until_cleared(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    cache = state_caches(state_dir)["tensorrt"]
    cache.store(_key(), b"plan", build_s=1.0)
    assert quarantine_alarm(state_dir) is None

    cache.quarantine(_key().digest(), "tensorrt", "golden smoke test failed: worst cosine 0.41")

    lookup = cache.lookup(_key())
    assert lookup.plan is None and "quarantined" in lookup.miss
    listed = cache.entries()
    assert [(e.path.name, e.quarantine is not None) for e in listed] == [(_key().digest(), True)]
    alarm = quarantine_alarm(state_dir)
    assert alarm is not None and "worst cosine 0.41" in alarm and "lepton-edge engine clear" in alarm
    cache.store(_key(onnx_sha256="f" * 64), b"plan", build_s=1.0)
    assert cache.quarantined(_key().digest()) is not None  # pruning never touches the quarantine

    assert cache.clear() == 2
    assert quarantine_alarm(state_dir) is None and cache.lookup(_key()).plan is None


def test_timing_caches_are_per_runtime_version_and_gpu_not_per_model(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.timing_cache_path(_key())
    assert path == cache.timing_cache_path(_key(onnx_sha256="b" * 64, settings={}))
    assert path != cache.timing_cache_path(_key(runtime_version="10.4.0"))
    assert path != cache.timing_cache_path(_key(gpu_name="Thor"))
