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
from lepton.edge.engines.engine_cache import EngineCache, EngineKey
from lepton.edge.engines.trt_build import Recipe, key_settings, profile_shapes
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


def ort_trt_recipe(engine: Engine) -> Recipe:
    """The EP parses Q/DQ explicitly; it takes FP16/INT8 as builder flags and builds strongly
    typed only with neither (onnxruntime#24298)."""
    fp16 = engine.compute == "fp16" or engine.precision == "int8"
    int8 = engine.precision == "int8"
    return Recipe(engine.precision, engine.compute, not (fp16 or int8), fp16, int8)


def ort_trt_key(engine: Engine) -> EngineKey:
    """The cache key of the EP's engines for this model and these settings."""
    ort_version = _version("onnxruntime-gpu", "onnxruntime")
    trt_version = _version("tensorrt", "tensorrt-cu12", "tensorrt-cu13")
    artifact = engine.manifest.model_artifact(engine.precision, BACKEND)
    return EngineKey(
        onnx_sha256=artifact.sha256 if artifact is not None else "unknown",
        runtime=BACKEND,
        runtime_version=f"onnxruntime {ort_version}; tensorrt {trt_version}",
        gpu_name="(in the EP's file names)",
        compute_capability="(in the EP's file names)",
        settings=key_settings(ort_trt_recipe(engine), engine.manifest, engine.tensorrt),
        lepton_version=__version__,
    )


def _cache(engine: Engine) -> EngineCache | None:
    if engine.cache_dir is None:
        return None
    return EngineCache(engine.cache_dir, keep=engine.tensorrt.engines_kept)


def provider_options(engine: Engine) -> dict[str, str]:
    """``TensorrtExecutionProvider`` options; raises EngineSkippedError when this build is quarantined."""
    settings = engine.tensorrt
    spec = engine.manifest.input
    recipe = ort_trt_recipe(engine)
    low, opt, high = ("x".join(map(str, shape)) for shape in profile_shapes(engine.manifest))
    options = {
        "trt_fp16_enable": str(recipe.fp16_flag),
        "trt_int8_enable": str(recipe.int8_flag),
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


__all__ = ["BACKEND", "ort_trt_key", "ort_trt_recipe", "provider_options", "quarantine_cache"]
