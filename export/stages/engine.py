"""Stage: TensorRT engines into a bundle (``lepton-export engine``, ``build --engine``).

Where the export runs on a machine with TensorRT and a GPU like the fleet's (a CI runner on a
Jetson of the fleet's JetPack, or an x86 GPU runner), the box can skip its first-start build:
the engine is built exactly as the daemon builds it (``lepton.edge.engines.trt_engine``), keyed
the same way, verified against the golden outputs with the manifest's tolerances, and
written under ``engines/tensorrt/<key>/`` with its sha256 in the manifest. A daemon uses it
only where its own key (TensorRT version, GPU, settings, ONNX) is equal; otherwise it builds.
The bundle is rewritten atomically (a staged copy, renamed over it).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lepton.edge.atomic_write import staged_directory
from lepton.edge.bundle.manifest import describe_artifact, verify_bundle, write_manifest
from lepton.edge.config.models import BundleConfig, TensorRtConfig
from lepton.edge.engines.engine_cache import ENGINES_DIR, PLAN_NAME, RECORD_NAME, TIMING_CACHE_SUFFIX
from lepton.edge.engines.select import choose_precision
from lepton.edge.engines.smoke_test import run_smoke_test
from lepton.edge.engines.trt_engine import BACKEND, TensorRtEngine, probe_tensorrt
from lepton.edge.errors import EngineError
from lepton.export.errors import GateFailed, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledEngine:
    digest: str
    plan: str
    compute: str
    cosine: float


def require_tensorrt(flag: str) -> None:
    """Fail before any work where TensorRT cannot build here: a usage error (exit 2)."""
    refused = probe_tensorrt()
    if refused is not None:
        raise UsageError(
            f"{flag}: TensorRT cannot build on this machine ({refused.reason}: {refused.detail}); run it "
            "where TensorRT and a GPU like the fleet's are (a CI runner on a Jetson of the fleet's "
            "JetPack, or an x86 GPU runner), or leave engines to the boxes (they build their own)"
        )


def add_engine(
    bundle_dir: Path, out: Path, precision: Literal["auto", "int8", "fp32"], settings: TensorRtConfig
) -> BundledEngine:
    """Build, verify and add the TensorRT engine for ``precision`` ("auto": what the daemon picks)."""
    require_tensorrt("lepton-export engine")
    manifest = verify_bundle(bundle_dir)
    chosen = choose_precision(manifest, BundleConfig(path=bundle_dir, precision=precision))
    settings = settings.model_copy(update={"use_bundled_engines": False, "engines_kept": 1_000})
    with staged_directory(out) as staging:
        shutil.copytree(bundle_dir, staging, dirs_exist_ok=True)
        artifact = manifest.model_artifact(chosen, BACKEND)
        assert artifact is not None  # choose_precision only returns precisions the bundle has
        # the engine's cache is the staging bundle's engines/tensorrt/: where a box looks for it
        engine = TensorRtEngine(
            staging / artifact.path,
            manifest,
            chosen,
            0,
            compute=TensorRtEngine.computes(chosen)[0],
            cache_dir=staging / ENGINES_DIR / BACKEND,
            tensorrt=settings,
        )
        try:
            engine.open()
            try:
                cosine = run_smoke_test(engine, manifest, staging)
            finally:
                engine.close()
        except EngineError as err:
            raise GateFailed(f"lepton-export engine: {err}") from err
        folder = staging / ENGINES_DIR / BACKEND
        for timing_cache in folder.glob(f"*{TIMING_CACHE_SUFFIX}"):
            timing_cache.unlink()  # tactic timings of this runner: no use on a box
        digest = engine.digest
        rel = f"{ENGINES_DIR}/{BACKEND}/{digest}"
        plan = describe_artifact(staging, f"{rel}/{PLAN_NAME}", "engine", engine.precision)
        record = describe_artifact(staging, f"{rel}/{RECORD_NAME}", "report")
        kept = tuple(a for a in manifest.artifacts if not a.path.startswith(f"{rel}/"))
        updated = manifest.model_copy(
            update={"artifacts": (*kept, plan.model_copy(update={"engine_key": digest}), record)}
        )
        write_manifest(staging, updated)
    verify_bundle(out)
    log.info("bundle %s: TensorRT engine %s (%s), golden cosine %.6f", out, digest, engine.compute, cosine)
    return BundledEngine(digest, f"{rel}/{PLAN_NAME}", engine.compute, cosine)


__all__ = ["BundledEngine", "add_engine", "require_tensorrt"]
