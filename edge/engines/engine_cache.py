"""Built TensorRT engines on disk: keyed by everything that makes one invalid, never loaded blindly.

A plan runs only with the TensorRT version and the GPU that built it, and only computes what
the builder was told; a stale or foreign plan fails to deserialize or, worse, runs wrong
(NVIDIA/TensorRT#2072; onnxruntime#12322). So an engine's directory is named by the sha256 of
its key fields (ONNX sha256, TensorRT version, GPU name and compute capability, builder
settings, lepton version) and holds the plan and ``build.json``, which repeats the fields and
the plan's sha256. A lookup checks both before handing the plan out; anything unreadable,
torn or foreign is removed so that it is rebuilt. Writes are atomic (a staged directory,
renamed), the least recently used engines beyond ``keep`` are pruned, and an engine that
failed its golden test is moved to ``quarantine/`` where it is listed until cleared.

The same layout is used inside a bundle (``engines/tensorrt/<digest>/``, written by
``lepton-export engine``), read-only there. This module does not import tensorrt: listing
and clearing work anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import Field, ValidationError

from lepton.edge.atomic_write import staged_directory, write_text_atomic
from lepton.edge.strict_model import StrictModel

log = logging.getLogger(__name__)

ENGINES_DIR = "engines"
"""Inside a bundle: one folder per backend in it (``engines/tensorrt``)."""
STATE_CACHE_DIR = "cache"
"""Under the state dir: one folder per backend (``cache/tensorrt``, ``cache/openvino``...)."""
ALARM_QUARANTINED = "engine_quarantined"
CACHED_BACKENDS = ("tensorrt", "ort-trt")
"""The backends that keep built TensorRT engines under ``<state_dir>/cache/<backend>``."""
PLAN_NAME = "model.plan"
RECORD_NAME = "build.json"
QUARANTINE_DIR = "quarantine"
QUARANTINE_NOTE = "quarantine.json"
TIMING_CACHE_SUFFIX = ".timing-cache"
STALE_STAGING_S = 3600.0
"""A staging directory this old was left by a killed build (a live one is younger)."""

SettingValue = str | int | bool | None


class EngineKey(StrictModel):
    """Every input that makes a built engine invalid when it changes."""

    onnx_sha256: str = Field(description="sha256 of the ONNX file the engine was built from.")
    runtime: str = Field(description="Which builder made it: 'tensorrt' or 'ort-trt'.")
    runtime_version: str = Field(description="TensorRT version (ort-trt: ONNX Runtime's too).")
    gpu_name: str = Field(description="GPU (or SoC) name as CUDA reports it.")
    compute_capability: str = Field(description="e.g. '8.7' for Orin.")
    settings: dict[str, SettingValue] = Field(
        description="Builder settings: recipe, precision flags, profile, workspace, DLA, level."
    )
    lepton_version: str

    def digest(self) -> str:
        """The directory name: sha256 over the canonical JSON of every field (first 32 hex digits)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class BuildRecord(StrictModel):
    """``build.json``: what was built, from what, and the plan's own sha256."""

    key: EngineKey
    digest: str
    plan_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    plan_bytes: int = Field(ge=0)
    built_at: datetime
    build_s: float = Field(ge=0.0, description="Wall time of the build, seconds.")


class QuarantineNote(StrictModel):
    """Why an engine was set aside, and when."""

    digest: str
    backend: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class CachedEngine:
    """One entry of the cache, as ``lepton-edge engine list`` shows it."""

    path: Path
    record: BuildRecord | None
    """None: the entry is unreadable (a lookup would remove it)."""
    last_used_s: float
    quarantine: QuarantineNote | None = None


@dataclass(frozen=True)
class Lookup:
    """A lookup's outcome: the verified plan, or why there is none (for the log)."""

    plan: bytes | None
    miss: str = ""


def _read_record(entry: Path) -> BuildRecord | None:
    try:
        return BuildRecord.model_validate_json((entry / RECORD_NAME).read_bytes())
    except (OSError, ValidationError):
        return None


class EngineCache:
    """The engines under one directory (``<state_dir>/engines`` or a bundle's ``engines``)."""

    def __init__(self, root: Path, *, keep: int = 6, read_only: bool = False) -> None:
        self.root = root
        self.keep = keep
        self.read_only = read_only

    def entry(self, digest: str) -> Path:
        return self.root / digest

    def lookup(self, key: EngineKey) -> Lookup:
        """The plan for ``key`` if its directory holds a readable record of the same key and a
        plan with the recorded sha256; otherwise a miss, and (writable cache) the entry removed."""
        digest = key.digest()
        entry = self.entry(digest)
        if self.quarantined(digest) is not None:
            return Lookup(None, f"engine {digest} is quarantined")
        if not entry.is_dir():
            return Lookup(None, f"no engine {digest} in {self.root}")
        record = _read_record(entry)
        if record is None:
            return self._reject(entry, f"{entry / RECORD_NAME} is missing or unreadable")
        if record.key != key or record.digest != digest:
            return self._reject(entry, f"{entry / RECORD_NAME} records another build ({record.digest})")
        try:
            plan = (entry / PLAN_NAME).read_bytes()
        except OSError as err:
            return self._reject(entry, f"{entry / PLAN_NAME} cannot be read ({err.strerror})")
        got = hashlib.sha256(plan).hexdigest()
        if got != record.plan_sha256:
            return self._reject(
                entry,
                f"{entry / PLAN_NAME} has sha256 {got[:12]}…, {RECORD_NAME} says {record.plan_sha256[:12]}…",
            )
        if not self.read_only:
            os.utime(entry / RECORD_NAME)  # last use: what pruning keeps
        return Lookup(plan)

    def _reject(self, entry: Path, why: str) -> Lookup:
        if not self.read_only:
            log.warning("engine cache: %s; removing it, the engine will be rebuilt", why)
            self.discard(entry.name)
        return Lookup(None, why)

    def store(self, key: EngineKey, plan: bytes, build_s: float) -> Path:
        """Write the plan and its record as one directory, atomically; then prune the oldest."""
        digest = key.digest()
        record = BuildRecord(
            key=key,
            digest=digest,
            plan_sha256=hashlib.sha256(plan).hexdigest(),
            plan_bytes=len(plan),
            built_at=datetime.now(timezone.utc),
            build_s=round(build_s, 3),
        )
        self.root.mkdir(parents=True, exist_ok=True)
        with staged_directory(self.entry(digest)) as staging:
            (staging / PLAN_NAME).write_bytes(plan)
            (staging / RECORD_NAME).write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
        self.prune(keep_digest=digest)
        return self.entry(digest)

    def discard(self, digest: str) -> None:
        shutil.rmtree(self.entry(digest), ignore_errors=True)

    def quarantine(self, digest: str, backend: str, reason: str) -> None:
        """Move the engine aside with a note: it is not loaded or rebuilt until cleared."""
        target = self.root / QUARANTINE_DIR / digest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        if self.entry(digest).is_dir():
            os.replace(self.entry(digest), target)
        else:
            target.mkdir()
        note = QuarantineNote(digest=digest, backend=backend, reason=reason, at=datetime.now(timezone.utc))
        write_text_atomic(target / QUARANTINE_NOTE, note.model_dump_json(indent=2) + "\n")

    def quarantined(self, digest: str) -> QuarantineNote | None:
        path = self.root / QUARANTINE_DIR / digest / QUARANTINE_NOTE
        try:
            return QuarantineNote.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError):
            # a torn note still means someone quarantined it: keep it out of service
            return QuarantineNote(digest=digest, backend="?", reason=f"{path} unreadable", at=_mtime(path))

    def quarantine_notes(self) -> list[QuarantineNote]:
        folder = self.root / QUARANTINE_DIR
        if not folder.is_dir():
            return []
        notes = [self.quarantined(p.name) for p in sorted(folder.iterdir()) if p.is_dir()]
        return [n for n in notes if n is not None]

    def entries(self) -> list[CachedEngine]:
        """Every engine (quarantined ones last), most recently used first."""
        if not self.root.is_dir():
            return []
        found = [
            CachedEngine(p, _read_record(p), _mtime_s(p / RECORD_NAME) or _mtime_s(p))
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name != QUARANTINE_DIR
        ]
        found.sort(key=lambda e: e.last_used_s, reverse=True)
        held = self.root / QUARANTINE_DIR
        for note in self.quarantine_notes():
            path = held / note.digest
            found.append(CachedEngine(path, _read_record(path), _mtime_s(path), note))
        return found

    def prune(self, keep_digest: str | None = None) -> list[Path]:
        """Remove the least recently used engines beyond ``keep``, and builds killed mid-write."""
        removed: list[Path] = []
        live = [e for e in self.entries() if e.quarantine is None]
        live.sort(key=lambda e: e.path.name != keep_digest)  # stable: the new one first, then by last use
        kept = 0
        for entry in live:
            if kept < self.keep:
                kept += 1
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
        now = time.time()
        for stale in self.root.glob(".*.staging"):
            if now - _mtime_s(stale) > STALE_STAGING_S:
                shutil.rmtree(stale, ignore_errors=True)
                removed.append(stale)
        for path in removed:
            log.info("engine cache: removed %s", path)
        return removed

    def clear(self) -> int:
        """Remove every engine, quarantined ones and timing caches included; returns how many engines."""
        count = len(self.entries())
        if self.root.is_dir():
            shutil.rmtree(self.root)
        return count

    def timing_cache_path(self, key: EngineKey) -> Path:
        """One timing cache per runtime, version and GPU: tactic timings are reusable across models
        there and only there (TensorRT's *Builder Performance* notes)."""
        scope = f"{key.runtime}|{key.runtime_version}|{key.gpu_name}|{key.compute_capability}"
        return self.root / f"{hashlib.sha256(scope.encode()).hexdigest()[:16]}{TIMING_CACHE_SUFFIX}"


def state_caches(state_dir: Path, keep: int = 6) -> dict[str, EngineCache]:
    """Each engine-building backend's cache under the state dir."""
    return {
        backend: EngineCache(state_dir / STATE_CACHE_DIR / backend, keep=keep) for backend in CACHED_BACKENDS
    }


def quarantine_alarm(state_dir: Path) -> str | None:
    """The alarm text while any engine is quarantined (until ``lepton-edge engine clear``), else None."""
    notes = [note for cache in state_caches(state_dir).values() for note in cache.quarantine_notes()]
    if not notes:
        return None
    listed = "; ".join(f"{n.backend} engine {n.digest[:12]}: {n.reason[:300]}" for n in notes)
    return (
        f"{len(notes)} engine(s) failed the golden test and are quarantined ({listed}); the next backend "
        "runs; after fixing the cause: lepton-edge engine clear --config F"
    )


def _mtime_s(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(_mtime_s(path), timezone.utc)


__all__ = [
    "ALARM_QUARANTINED",
    "CACHED_BACKENDS",
    "ENGINES_DIR",
    "PLAN_NAME",
    "QUARANTINE_DIR",
    "RECORD_NAME",
    "STATE_CACHE_DIR",
    "BuildRecord",
    "CachedEngine",
    "EngineCache",
    "EngineKey",
    "Lookup",
    "QuarantineNote",
    "quarantine_alarm",
    "state_caches",
]
