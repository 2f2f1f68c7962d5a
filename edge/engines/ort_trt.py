"""Settings and cache folder of ONNX Runtime's TensorRT execution provider (backend ``ort-trt``).

The EP builds TensorRT engines itself; lepton gives it a cache folder keyed like the
``tensorrt`` backend's (ONNX sha256, ONNX Runtime and TensorRT versions, builder settings,
lepton version; the EP's own file names add the GPU's compute capability), its timing cache,
the optimization profile from the manifest, and the workspace, DLA and optimization level
from ``engine.tensorrt``. Option names: ONNX Runtime's *TensorRT Execution Provider* page.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os

from lepton.edge.engines.base import Engine, EngineSkippedError
from lepton.edge.engines.engine_cache import EngineCache, EngineKey, state_caches
from lepton.edge.engines.trt_build import choose_recipe, key_settings, profile_shapes
from lepton.edge.version import __version__

log = logging.getLogger(__name__)

BACKEND = "ort-trt"


def _version(*names: str) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "system"  # JetPack's TensorRT is a Debian package: its version is in the EP's file names


def ort_trt_key(engine: Engine) -> EngineKey:
    """The cache key of the EP's engines for this model and these settings."""
    ort_version = _version("onnxruntime-gpu", "onnxruntime")
    trt_version = _version("tensorrt", "tensorrt-cu12", "tensorrt-cu13")
    # TensorRT 10-style recipe: the EP parses Q/DQ explicitly and takes fp16/int8 as flags
    recipe = choose_recipe(10, engine.precision, engine.manifest)
    return EngineKey(
        onnx_sha256=_artifact_sha256(engine),
        runtime=BACKEND,
        runtime_version=f"onnxruntime {ort_version}; tensorrt {trt_version}",
        gpu_name="(in the EP's file names)",
        compute_capability="(in the EP's file names)",
        settings=key_settings(recipe, engine.manifest, engine.context.tensorrt),
        lepton_version=__version__,
    )


def _artifact_sha256(engine: Engine) -> str:
    artifact = engine.manifest.model_artifact(engine.precision, BACKEND)
    return artifact.sha256 if artifact is not None else "unknown"


def _cache(engine: Engine) -> EngineCache | None:
    state_dir = engine.context.state_dir
    if state_dir is None:
        return None
    return state_caches(state_dir, engine.context.tensorrt.engines_kept)[BACKEND]


def provider_options(engine: Engine) -> dict[str, str]:
    """``TensorrtExecutionProvider`` options; raises EngineSkippedError when this build is quarantined."""
    settings = engine.context.tensorrt
    spec = engine.manifest.input
    low, opt, high = ("x".join(map(str, shape)) for shape in profile_shapes(engine.manifest))
    options = {
        "trt_fp16_enable": "True",
        "trt_int8_enable": "True" if engine.precision == "int8" else "False",
        "trt_builder_optimization_level": str(settings.builder_optimization_level),
        "trt_profile_min_shapes": f"{spec.name}:{low}",
        "trt_profile_opt_shapes": f"{spec.name}:{opt}",
        "trt_profile_max_shapes": f"{spec.name}:{high}",
    }
    if settings.workspace_mib is not None:
        options["trt_max_workspace_size"] = str(settings.workspace_mib << 20)
    if settings.dla_core is not None:
        options |= {"trt_dla_enable": "True", "trt_dla_core": str(settings.dla_core)}
    cache = _cache(engine)
    if cache is not None:
        digest = ort_trt_key(engine).digest()
        note = cache.quarantined(digest)
        if note is not None:
            raise EngineSkippedError(
                BACKEND,
                "quarantined",
                f"its engines {digest} failed the golden test ({note.reason}); after fixing the cause "
                "run: lepton-edge engine clear --config F",
            )
        folder = cache.entry(digest)
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)  # last use: what pruning keeps
        cache.prune(keep_digest=digest)
        options |= {
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(folder),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache.root),
        }
    return options


def quarantine_cache(engine: Engine, reason: str) -> None:
    cache = _cache(engine)
    if cache is not None:
        digest = ort_trt_key(engine).digest()
        cache.quarantine(digest, BACKEND, reason)
        log.error("%s: engines %s quarantined: %s", BACKEND, digest, reason)


__all__ = ["BACKEND", "ort_trt_key", "provider_options", "quarantine_cache"]
