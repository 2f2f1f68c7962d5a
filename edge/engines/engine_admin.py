"""What ``lepton-edge engine build|list|clear`` does, importable: the CLI only parses and prints."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lepton.edge.bundle.manifest import Manifest, Precision, read_manifest, verify_bundle
from lepton.edge.config.models import LeptonConfig
from lepton.edge.engines.base import Compute, Engine
from lepton.edge.engines.engine_cache import CACHED_BACKENDS, STATE_CACHE_DIR, CachedEngine, state_caches
from lepton.edge.engines.registry import engine_class
from lepton.edge.engines.smoke_test import open_and_verify
from lepton.edge.errors import BundleError, EngineError

log = logging.getLogger(__name__)


def _describe(entry: CachedEngine, backend: str) -> dict[str, Any]:
    record = entry.record
    row: dict[str, Any] = {
        "backend": backend,
        "digest": entry.path.name,
        "path": str(entry.path),
        "state": "quarantined" if entry.quarantine else "ready" if record else "no record",
        "last_used": datetime.fromtimestamp(entry.last_used_s, timezone.utc).isoformat(timespec="seconds"),
    }
    if record is not None:
        row |= {
            "runtime_version": record.key.runtime_version,
            "gpu": f"{record.key.gpu_name} (sm {record.key.compute_capability})",
            "recipe": record.key.settings.get("recipe"),
            "onnx_sha256": record.key.onnx_sha256,
            "plan_bytes": record.plan_bytes,
            "built_at": record.built_at.isoformat(timespec="seconds"),
            "build_s": record.build_s,
        }
    if entry.quarantine is not None:
        row["quarantine_reason"] = entry.quarantine.reason
    return row


def list_engines(config: LeptonConfig) -> dict[str, Any]:
    """Every engine in the state dir's caches, and those the bundle carries."""
    caches = state_caches(config.service.state_dir)
    rows = [_describe(entry, backend) for backend, cache in caches.items() for entry in cache.entries()]
    bundled: list[dict[str, Any]] = []
    try:
        manifest = read_manifest(Path(config.bundle.path))
        bundled = [
            {"path": a.path, "key": a.engine_key, "sha256": a.sha256} for a in manifest.engine_artifacts()
        ]
    except BundleError as err:
        log.warning("%s", err)
    return {"state_dir": str(config.service.state_dir), "engines": rows, "bundled": bundled}


def format_listing(listing: dict[str, Any]) -> str:
    lines = [f"engine cache in {listing['state_dir']}:"]
    if not listing["engines"]:
        lines.append("  (empty)")
    for row in listing["engines"]:
        detail = (
            f"{row.get('recipe')}, {row.get('runtime_version')}, {row.get('gpu')}, "
            f"{row.get('plan_bytes', 0) / 1e6:.1f} MB, built {row.get('built_at')} in {row.get('build_s')} s"
            if "recipe" in row
            else "no build record"
        )
        lines.append(
            f"  {row['backend']:9} {row['digest']}  {row['state']:11} last used {row['last_used']}; {detail}"
        )
        if "quarantine_reason" in row:
            lines.append(f"            quarantined: {row['quarantine_reason']}")
    lines.append("bundled engines:" if listing["bundled"] else "bundled engines: none")
    lines += [f"  {b['path']} (key {b['key']})" for b in listing["bundled"]]
    return "\n".join(lines)


def clear_engines(config: LeptonConfig, backends: list[str] | None) -> dict[str, int]:
    caches = state_caches(config.service.state_dir)
    return {b: caches[b].clear() for b in (backends or CACHED_BACKENDS)}


def planned_builds(
    cls: type[Engine], manifest: Manifest, bundle_precision: str
) -> list[tuple[Precision, Compute]]:
    """Every (bundle file, arithmetic) the engine choice may try with this backend: each file
    ``bundle.precision`` allows, in each arithmetic the backend offers for it."""
    files = manifest.precisions() if bundle_precision == "auto" else (bundle_precision,)
    return [(p, c) for p in files if p in manifest.precisions() for c in cls.computes(p)]


def build_engines(
    config: LeptonConfig, config_path: Path, backends: list[str] | None
) -> tuple[list[str], list[EngineError]]:
    """Build or load each engine the daemon may try, and run its golden test.

    Returns a line per ready engine and each refusal (not installed, no GPU, build failed,
    smoke test failed), so a box without TensorRT is told exactly why.
    """
    bundle_dir = Path(config.bundle.path)
    manifest = verify_bundle(bundle_dir)
    wanted = backends or [b for b in config.engine.backends if b in CACHED_BACKENDS] or ["tensorrt"]
    done: list[str] = []
    failed: list[EngineError] = []
    for backend in wanted:
        cls = engine_class(backend)
        reason = cls.unavailable()
        if reason is not None:
            failed.append(EngineError(f"{backend}: {reason}"))
            continue
        for precision, compute in planned_builds(cls, manifest, config.bundle.precision):
            artifact = manifest.model_artifact(precision, backend)
            assert artifact is not None  # planned_builds only returns precisions the bundle has
            engine = cls(
                bundle_dir / artifact.path,
                manifest,
                precision,
                config.engine.intra_op_threads,
                compute=compute,
                cache_dir=config.service.state_dir / STATE_CACHE_DIR / backend,
                tensorrt=config.engine.tensorrt,
            )
            try:
                cosine = open_and_verify(engine, manifest, bundle_dir, keep_open=False)
            except EngineError as err:
                failed.append(err)
                continue
            source = getattr(engine, "source", "built")
            done.append(
                f"{engine.label}: {source} engine for {engine.model_path.name} ready, golden cosine "
                f"{cosine:.6f}; the service started with {config_path} loads it"
            )
    return done, failed


__all__ = ["build_engines", "clear_engines", "format_listing", "list_engines", "planned_builds"]
