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
from lepton.edge.config.models import TensorRtConfig
from lepton.edge.engines.engine_admin import planned_builds
from lepton.edge.engines.engine_cache import ENGINES_DIR, PLAN_NAME, RECORD_NAME, TIMING_CACHE_SUFFIX
from lepton.edge.engines.smoke_test import SmokeTestFailedError, open_and_verify
from lepton.edge.engines.trt_engine import BACKEND, TensorRtEngine, probe_tensorrt
from lepton.edge.errors import EngineError
from lepton.export.errors import GateFailed, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledEngine:
    digest: str
    plan: str
    precision: str
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


def add_engines(
    bundle_dir: Path, out: Path, precision: Literal["auto", "int8", "fp32"], settings: TensorRtConfig
) -> list[BundledEngine]:
    """Build, verify and add a TensorRT engine for each file ``precision`` allows ("auto": every
    one) in each arithmetic TensorRT offers for it: whatever a box's engine choice may try."""
    require_tensorrt("lepton-export engine")
    manifest = verify_bundle(bundle_dir)
    if precision != "auto" and precision not in manifest.precisions():
        raise UsageError(
            f"--engine-precision {precision}: the bundle has only {list(manifest.precisions())}; "
            "pass one of those or auto"
        )
    settings = settings.model_copy(update={"use_bundled_engines": False, "engines_kept": 1_000})
    added: list[BundledEngine] = []
    with staged_directory(out) as staging:
        shutil.copytree(bundle_dir, staging, dirs_exist_ok=True)
        folder = staging / ENGINES_DIR / BACKEND  # the engines' cache: where a box looks for them
        for file_precision, compute in planned_builds(TensorRtEngine, manifest, precision):
            artifact = manifest.model_artifact(file_precision, BACKEND)
            assert artifact is not None  # planned_builds only returns precisions the bundle has
            engine = TensorRtEngine(
                staging / artifact.path,
                manifest,
                file_precision,
                0,
                compute=compute,
                cache_dir=folder,
                tensorrt=settings,
            )
            try:  # a staging copy: nothing to quarantine, the export fails instead
                cosine = open_and_verify(engine, manifest, staging, keep_open=False, quarantine=False)
            except EngineError as err:
                detail = err.detail if isinstance(err, SmokeTestFailedError) else str(err)
                raise GateFailed(f"lepton-export engine: {detail}") from err
            rel = f"{ENGINES_DIR}/{BACKEND}/{engine.digest}"
            added.append(BundledEngine(engine.digest, f"{rel}/{PLAN_NAME}", file_precision, compute, cosine))
        for timing_cache in folder.glob(f"*{TIMING_CACHE_SUFFIX}"):
            timing_cache.unlink()  # tactic timings of this runner: no use on a box
        new = {f"{ENGINES_DIR}/{BACKEND}/{a.digest}" for a in added}
        kept = tuple(a for a in manifest.artifacts if a.path.rsplit("/", 1)[0] not in new)
        described = []
        for a in added:
            rel = a.plan.rsplit("/", 1)[0]
            plan = describe_artifact(staging, a.plan, "engine", a.precision)  # type: ignore[arg-type]
            described += [
                plan.model_copy(update={"engine_key": a.digest}),
                describe_artifact(staging, f"{rel}/{RECORD_NAME}", "report"),
            ]
        write_manifest(staging, manifest.model_copy(update={"artifacts": (*kept, *described)}))
    verify_bundle(out)
    for a in added:
        log.info(
            "bundle %s: TensorRT engine %s (%s as %s), golden cosine %.6f",
            out,
            a.digest,
            a.precision,
            a.compute,
            a.cosine,
        )
    return added


__all__ = ["BundledEngine", "add_engines", "require_tensorrt"]
