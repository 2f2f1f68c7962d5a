"""Every backend beside ort-cpu, on a box without GPU runtimes: each says why it is skipped,
the next one takes over, and the golden test judges each precision by its own tolerance.
Real ONNX Runtime on the committed colour bundle."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from lepton.edge.bundle.manifest import (
    DEFAULT_TOLERANCES,
    GoldenTolerance,
    describe_artifact,
    read_manifest,
    write_manifest,
)
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.engine_admin import planned_builds
from lepton.edge.engines.engine_cache import STATE_CACHE_DIR
from lepton.edge.engines.ort import OrtCpuEngine, OrtCudaEngine, OrtTrtEngine
from lepton.edge.engines.select import open_engine
from lepton.edge.engines.trt_engine import TensorRtEngine
from lepton.edge.errors import EngineError
from tests.conftest import MODELS

BUNDLE = MODELS / "color_bundle"
needs_no_gpu_runtimes = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="this box has TensorRT: the skips differ"
)


@needs_no_gpu_runtimes
def test_each_gpu_backend_says_why_it_cannot_run_here() -> None:
    trt = TensorRtEngine.unavailable()
    ort_trt, ort_cuda = OrtTrtEngine.unavailable(), OrtCudaEngine.unavailable()

    assert trt is not None and trt.startswith("not installed: Python cannot import tensorrt")
    assert "python3-libnvinfer" in trt and "lepton-line[tensorrt]" in trt
    assert ort_trt is not None and "TensorrtExecutionProvider" in ort_trt and "onnxruntime-gpu" in ort_trt
    assert ort_cuda is not None and "CUDAExecutionProvider" in ort_cuda
    assert OrtCpuEngine.unavailable() is None


@needs_no_gpu_runtimes
def test_the_fallback_chain_ends_on_ort_cpu_and_logs_each_skip(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = read_manifest(BUNDLE)
    config = EngineConfig(backends=("tensorrt", "ort-trt", "ort-cuda", "ort-cpu"))

    engine = open_engine(manifest, BundleConfig(path=BUNDLE), config, tmp_path / "state" / STATE_CACHE_DIR)
    try:
        assert engine.backend == "ort-cpu"
    finally:
        engine.close()
    for backend in ("tensorrt", "ort-trt", "ort-cuda"):
        assert f"engine {backend} skipped: " in caplog.text
    assert "engine tensorrt skipped: not installed: Python cannot import tensorrt" in caplog.text
    assert not (tmp_path / "state" / STATE_CACHE_DIR).exists()  # nothing built, nothing cached


def _bundle_with_golden_off_by(tmp_path: Path, noise: float, tolerances: dict[str, GoldenTolerance]) -> Path:
    """A copy of the colour bundle whose FP32 reference outputs are perturbed, with the given tolerances."""
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    manifest = read_manifest(bundle)
    assert manifest.golden is not None
    ref = bundle / manifest.golden.outputs["fp32"]
    with np.load(ref) as stored:
        arrays = {name: np.asarray(stored[name]) for name in stored.files}
    rng = np.random.default_rng(0)
    arrays = {
        n: a + noise * rng.standard_normal(a.shape).astype(np.float32) * np.abs(a).max()
        for n, a in arrays.items()
    }
    np.savez(ref, **arrays)  # type: ignore[arg-type]
    golden = manifest.golden.model_copy(update={"tolerances": tolerances})
    artifacts = tuple(
        describe_artifact(bundle, a.path, a.role, a.precision, a.opset)
        if a.path == manifest.golden.outputs["fp32"]
        else a
        for a in manifest.artifacts
    )
    write_manifest(bundle, manifest.model_copy(update={"golden": golden, "artifacts": artifacts}))
    return bundle


def test_a_backend_failing_its_golden_test_is_skipped_with_that_reason(tmp_path: Path) -> None:
    bundle = _bundle_with_golden_off_by(tmp_path, 0.2, {})

    with pytest.raises(EngineError) as caught:
        open_engine(
            read_manifest(bundle),
            BundleConfig(path=bundle),
            EngineConfig(),
            tmp_path / "state" / STATE_CACHE_DIR,
        )

    assert "ort-cpu fp32: golden smoke test failed on model.fp32.onnx" in str(caught.value)


def test_the_recorded_tolerance_of_the_precision_decides(tmp_path: Path) -> None:
    """Outputs off by ~1 %: FP32's default bar (cosine 0.999) refuses them; a bundle that records a
    looser FP32 tolerance at export accepts them."""
    strict = _bundle_with_golden_off_by(tmp_path / "strict", 0.03, {})
    loose = _bundle_with_golden_off_by(tmp_path / "loose", 0.03, {"fp32": GoldenTolerance(cosine_min=0.9)})

    # ORT CPU only: where the CPU has bf16, OpenVINO's bf16 candidate would pass on bf16's own bar
    only_ort = EngineConfig(backends=["ort-cpu"])
    with pytest.raises(EngineError, match=r"ort-cpu fp32: golden smoke test failed.*\(need ≥ 0\.999\)"):
        open_engine(read_manifest(strict), BundleConfig(path=strict), only_ort)
    engine = open_engine(read_manifest(loose), BundleConfig(path=loose), only_ort)
    engine.close()


def test_a_tensorrt_fp16_build_of_the_fp32_file_is_judged_by_fp16s_tolerance() -> None:
    manifest = read_manifest(BUNDLE)
    engine = TensorRtEngine(BUNDLE / "model.fp32.onnx", manifest, "fp32", 0, compute="fp16")
    assert manifest.golden is not None and engine.tolerance_keys == ("fp32", "fp16")
    assert manifest.golden.tolerance(engine.tolerance_keys) == DEFAULT_TOLERANCES["fp16"]
    assert engine.bundle_dir == BUNDLE  # where it looks for a bundled engine


def test_engine_build_plans_every_file_and_arithmetic_the_choice_may_try() -> None:
    manifest = read_manifest(BUNDLE)
    fp32 = manifest.model_artifact("fp32")
    assert fp32 is not None
    int8 = fp32.model_copy(update={"path": "model.int8.onnx", "precision": "int8", "sha256": "1" * 64})
    both = manifest.model_copy(update={"artifacts": (*manifest.artifacts, int8)})

    assert planned_builds(OrtTrtEngine, manifest, "auto") == [("fp32", "fp16"), ("fp32", "fp32")]
    assert planned_builds(OrtTrtEngine, both, "auto") == [
        ("fp32", "fp16"),
        ("fp32", "fp32"),
        ("int8", "int8"),
    ]
    assert planned_builds(OrtTrtEngine, both, "int8") == [("int8", "int8")]
    assert planned_builds(OrtTrtEngine, manifest, "int8") == []  # the bundle has no INT8 file
