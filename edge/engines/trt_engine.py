"""The ``tensorrt`` backend: a plan built on the box (or carried by the bundle), cached, verified.

``open`` finds the engine for this box's key (TensorRT version, GPU, build settings, ONNX):
a bundled one whose key matches, else the state dir's cache, else it builds one (minutes
on a small Jetson; progress logged, systemd's start timeout extended) and caches it. A plan
that does not deserialize is removed and rebuilt once. An engine that fails its golden test
is quarantined by the selection (``quarantine``), so the next start skips it with the reason
instead of loading or rebuilding it until ``lepton-edge engine clear``.

TensorRT itself is imported only in ``open``, through ``lepton.edge.engines.tensorrt``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt

from lepton.edge.atomic_write import write_bytes_atomic
from lepton.edge.bundle.manifest import Manifest, Precision
from lepton.edge.config.models import TensorRtConfig
from lepton.edge.engines.base import Compute, Engine, EngineSkippedError, Outputs
from lepton.edge.engines.engine_cache import ENGINES_DIR, PLAN_NAME, EngineCache, EngineKey
from lepton.edge.engines.trt_build import (
    BuildHeartbeat,
    Recipe,
    choose_recipe,
    computes,
    key_settings,
    profile_shapes,
    tensorrt_major,
)
from lepton.edge.errors import EngineError
from lepton.edge.version import __version__

log = logging.getLogger(__name__)

BACKEND = "tensorrt"
INSTALL_HINT = (
    "on a Jetson: sudo apt install python3-libnvinfer and a venv made with --system-site-packages; "
    "on x86: pip install 'lepton-line[tensorrt]' (README: Running on Jetson / NVIDIA GPUs)"
)
_NEEDED = (
    ("tensorrt", "TensorRT's Python bindings"),
    ("polygraphy", "polygraphy (pip install polygraphy)"),
    ("cuda", "cuda-python (pip install cuda-python)"),
)


def probe_tensorrt() -> EngineSkippedError | None:
    """Why TensorRT cannot run here (a package missing, no GPU), or None. Imports, builds nothing."""
    for module, what in _NEEDED:
        if importlib.util.find_spec(module) is None:
            return EngineSkippedError(
                BACKEND, "not installed", f"Python cannot import {module} ({what}); {INSTALL_HINT}"
            )
    try:
        trt = _trt_module()
    except Exception as err:  # an import that fails inside the library (no libnvinfer, no driver)
        detail = f"importing tensorrt failed: {err}; {INSTALL_HINT}"
        return EngineSkippedError(BACKEND, "not installed", detail)
    if trt.gpu_count() == 0:
        return EngineSkippedError(
            BACKEND, "no GPU", "CUDA sees no GPU; check the driver (nvidia-smi, or tegrastats on a Jetson)"
        )
    return None


def _trt_module() -> ModuleType:
    return importlib.import_module("lepton.edge.engines.tensorrt")


@dataclass(frozen=True)
class PlannedBuild:
    """The engine a box needs for a bundle: its key, how to build it, and from which file."""

    key: EngineKey
    recipe: Recipe
    onnx: Path


def plan_build(
    manifest: Manifest,
    bundle_dir: Path,
    precision: Precision,
    compute: Compute,
    config: TensorRtConfig,
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
) -> PlannedBuild:
    """The key and recipe for a ``precision`` file computing in ``compute`` on this TensorRT and GPU.

    Needs no TensorRT: the version and the GPU are given.
    """
    major = tensorrt_major(tensorrt_version)
    if config.dla_core is not None and major >= 11:
        raise EngineSkippedError(
            BACKEND,
            "build failed",
            f"engine.tensorrt.dla_core = {config.dla_core}, but TensorRT {tensorrt_version} builds no "
            "DLA engines for strongly typed networks (11.0-11.3 docs); use JetPack's TensorRT 10.x "
            "or remove dla_core",
        )
    recipe = choose_recipe(major, precision, compute)
    artifact = manifest.model_artifact(recipe.precision, BACKEND)
    if artifact is None:
        raise EngineError(
            f"{BACKEND}: the bundle has no {recipe.precision} model file to build from; "
            "export that precision or set bundle.precision"
        )
    key = EngineKey(
        onnx_sha256=artifact.sha256,
        runtime=BACKEND,
        runtime_version=tensorrt_version,
        gpu_name=gpu_name,
        compute_capability=compute_capability,
        settings=key_settings(recipe, manifest, config),
        lepton_version=__version__,
    )
    return PlannedBuild(key, recipe, bundle_dir / artifact.path)


def trtexec_args(plan: Path, input_name: str, shape: tuple[int, ...]) -> list[str]:
    """``trtexec`` timing ``plan`` at ``shape``: the GPU-only ceiling a self-check compares the daemon with.

    ``--noDataTransfers`` and ``--useCudaGraph`` time the engine alone (notes §5, Tools).
    """
    dims = "x".join(map(str, shape))
    return [
        "trtexec",
        f"--loadEngine={plan}",
        f"--shapes={input_name}:{dims}",
        "--noDataTransfers",
        "--useCudaGraph",
        "--separateProfileRun",
    ]


class TensorRtEngine(Engine):
    backend = BACKEND

    @classmethod
    def unavailable(cls) -> str | None:
        refused = probe_tensorrt()
        return None if refused is None else f"{refused.reason}: {refused.detail}"

    @classmethod
    def computes(cls, precision: Precision) -> tuple[Compute, ...]:
        if probe_tensorrt() is not None:
            return (precision,)
        return computes(tensorrt_major(_trt_module().VERSION), precision)

    @property
    def digest(self) -> str:
        """The engine's cache key (directory name); set by ``open``."""
        return str(getattr(self, "_digest", ""))

    @property
    def bundle_dir(self) -> Path:
        """The bundle root: the model file's path less the artifact's relative path."""
        for artifact in self.manifest.artifacts:
            parts = Path(artifact.path).parts
            if self.model_path.parts[-len(parts) :] == parts:
                return Path(*self.model_path.parts[: -len(parts)])
        return self.model_path.parent

    @property
    def plan_path(self) -> Path | None:
        """The plan file this engine was loaded from (for trtexec), or None when built in memory."""
        digest, source = self.digest, getattr(self, "source", "")
        if not digest:
            return None
        if source == "bundled":
            return self.bundle_dir / ENGINES_DIR / BACKEND / digest / PLAN_NAME
        cache = getattr(self, "_cache", None)
        return cache.entry(digest) / PLAN_NAME if cache is not None else None

    def _open(self) -> None:
        refused = probe_tensorrt()
        if refused is not None:
            raise refused
        trt = _trt_module()
        device = trt.current_device()
        settings = self.tensorrt
        bundle_dir = self.bundle_dir
        self._planned = plan_build(
            self.manifest,
            bundle_dir,
            self.precision,
            self.compute,
            settings,
            tensorrt_version=trt.VERSION,
            gpu_name=device.name,
            compute_capability=device.compute_capability,
        )
        self.model_path = self._planned.onnx
        digest = self._planned.key.digest()
        self._digest = digest
        self._cache = (
            EngineCache(self.cache_dir, keep=settings.engines_kept) if self.cache_dir is not None else None
        )
        note = self._cache.quarantined(digest) if self._cache is not None else None
        if note is not None:
            raise EngineSkippedError(
                BACKEND,
                "quarantined",
                f"engine {digest} failed its golden test at {note.at:%Y-%m-%d %H:%M} UTC ({note.reason}); "
                "after fixing the cause run: lepton-edge engine clear --config F",
            )
        self._loaded = self._load_any(trt)

    def _load_any(self, trt: ModuleType) -> object:
        """The bundled engine, else the cached one, else a new build; each checked before use."""
        spec, outputs = self.manifest.input, [o.name for o in self.manifest.outputs]
        max_shape = profile_shapes(self.manifest)[2]
        for source, plan in self._candidates():
            try:
                loaded = trt.load_plan(plan, spec.name, outputs, max_shape)
            except EngineError as err:
                log.warning(
                    "%s: the %s engine %s cannot be used (%s); trying the next",
                    BACKEND,
                    source,
                    self._digest,
                    err,
                )
                if source == "cached" and self._cache is not None:
                    self._cache.discard(self._digest)
                continue
            log.info(
                "%s: using the %s engine %s (%s)", BACKEND, source, self._digest, self._planned.recipe.name
            )
            self.source = source
            return loaded
        self.source = "built"
        try:
            return trt.load_plan(self._build(trt), spec.name, outputs, max_shape)
        except EngineSkippedError:
            raise
        except EngineError as err:  # a plan TensorRT just built does not load: keep nothing of it
            if self._cache is not None:
                self._cache.discard(self._digest)
            raise EngineSkippedError(BACKEND, "build failed", f"the new engine does not load: {err}") from err

    def _candidates(self) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []
        key = self._planned.key
        if self.tensorrt.use_bundled_engines and any(
            a.engine_key == self._digest for a in self.manifest.engine_artifacts()
        ):
            bundled = EngineCache(self.bundle_dir / ENGINES_DIR / BACKEND, read_only=True).lookup(key)
            if bundled.plan is not None:
                found.append(("bundled", bundled.plan))
            else:
                log.warning("%s: the bundle's engine %s is unusable: %s", BACKEND, self._digest, bundled.miss)
        if self._cache is not None:
            cached = self._cache.lookup(key)
            if cached.plan is not None:
                found.append(("cached", cached.plan))
            else:
                log.info("%s: %s", BACKEND, cached.miss)
        return found

    def _build(self, trt: ModuleType) -> bytes:
        planned, settings = self._planned, self.tensorrt
        timing_path = self._cache.timing_cache_path(planned.key) if self._cache is not None else None
        timing = timing_path.read_bytes() if timing_path is not None and timing_path.is_file() else b""
        started = time.monotonic()
        what = f"TensorRT {trt.VERSION} engine from {planned.onnx.name} ({planned.recipe.name})"
        try:
            with BuildHeartbeat(what) as heartbeat:
                plan, timing = trt.build_plan(
                    planned.onnx,
                    planned.recipe,
                    profile_shapes(self.manifest),
                    self.manifest.input.name,
                    settings,
                    timing,
                    heartbeat,
                )
        except EngineError as err:
            raise EngineSkippedError(BACKEND, "build failed", str(err)) from err
        if self._cache is not None and timing_path is not None:
            self._cache.store(planned.key, plan, time.monotonic() - started)
            write_bytes_atomic(timing_path, timing)
        built: bytes = plan
        return built

    def _run(self, batch: npt.NDArray[np.float32]) -> Outputs:
        outputs: Outputs = self._loaded.run(batch)  # type: ignore[attr-defined]
        return outputs

    def _close(self) -> None:
        loaded = getattr(self, "_loaded", None)
        if loaded is not None:
            loaded.close()
            self._loaded = None

    def quarantine(self, reason: str) -> None:
        cache = getattr(self, "_cache", None)
        if cache is None:
            return
        cache.quarantine(self._digest, BACKEND, reason)
        log.error("%s: engine %s quarantined: %s", BACKEND, self._digest, reason)


__all__ = ["BACKEND", "PlannedBuild", "TensorRtEngine", "plan_build", "probe_tensorrt", "trtexec_args"]
