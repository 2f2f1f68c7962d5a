"""The ``tensorrt`` backend on a real GPU: build, cache, reload, verify.

Skipped (with the reason) wherever TensorRT or a GPU is absent, which includes this project's
CI: no stand-in TensorRT is ever tested here. Run it first on a real box, from a checkout:
``python -m pytest tests/edge/engines/test_tensorrt_device.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lepton.edge.bundle.manifest import read_manifest, verify_bundle
from lepton.edge.config.models import TensorRtConfig
from lepton.edge.engines.engine_cache import PLAN_NAME, STATE_CACHE_DIR
from lepton.edge.engines.ort import OrtCpuEngine
from lepton.edge.engines.smoke_test import golden_inputs, run_smoke_test
from lepton.edge.engines.trt_engine import BACKEND, TensorRtEngine, probe_tensorrt
from tests.conftest import MODELS

BUNDLE = MODELS / "color_bundle"

_refused = probe_tensorrt()
pytestmark = pytest.mark.skipif(_refused is not None, reason=f"needs TensorRT and a GPU: {_refused}")


def _engine(state_dir: Path, bundle: Path = BUNDLE, **settings: object) -> TensorRtEngine:
    return TensorRtEngine(
        bundle / "model.fp32.onnx",
        read_manifest(bundle),
        "fp32",
        0,
        compute="fp16",
        cache_dir=state_dir / STATE_CACHE_DIR / BACKEND,
        tensorrt=TensorRtConfig.model_validate(settings),
    )


def test_builds_caches_and_reloads_an_engine_that_passes_the_golden_test(tmp_path: Path) -> None:
    first = _engine(tmp_path, workspace_mib=256)
    first.open()
    try:
        assert first.source == "built"
        assert first.plan_path is not None and first.plan_path.is_file()  # what selfcheck hands trtexec
        cosine = run_smoke_test(first, first.manifest, BUNDLE)
        assert cosine >= first.manifest.golden.tolerance(first.tolerance_keys).cosine_min  # type: ignore[union-attr]
        batch = np.resize(golden_inputs(first.manifest, BUNDLE), (4, 3, 32, 32)).astype(np.float32)
        got = first.infer(batch)["logits"]
    finally:
        first.close()
    reference = OrtCpuEngine(BUNDLE / "model.fp32.onnx", first.manifest, "fp32", 1)
    reference.open()
    want = reference.infer(batch)["logits"]
    reference.close()
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2)  # FP16 arithmetic
    assert got.shape == (4, 3)

    again = _engine(tmp_path, workspace_mib=256)
    again.open()
    try:
        assert again.source == "cached" and again.digest == first.digest
    finally:
        again.close()


def test_a_torn_cached_plan_is_rebuilt_not_loaded(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.open()
    engine.close()
    plan = tmp_path / STATE_CACHE_DIR / BACKEND / engine.digest / PLAN_NAME
    plan.write_bytes(plan.read_bytes()[:1000])

    rebuilt = _engine(tmp_path)
    rebuilt.open()
    try:
        assert rebuilt.source == "built"
        run_smoke_test(rebuilt, rebuilt.manifest, BUNDLE)
    finally:
        rebuilt.close()


def test_an_engine_exported_into_the_bundle_is_used_by_a_box_with_the_same_key(tmp_path: Path) -> None:
    from lepton.export.stages.engine import add_engines

    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    added = add_engines(bundle, bundle, "auto", TensorRtConfig())
    manifest = verify_bundle(bundle)
    assert sorted(a.engine_key or "" for a in manifest.engine_artifacts()) == sorted(a.digest for a in added)
    fp16 = next(a for a in added if a.compute == "fp16")

    engine = _engine(tmp_path / "box-state", bundle)
    engine.open()
    try:
        assert engine.source == "bundled" and engine.digest == fp16.digest
    finally:
        engine.close()
    other = _engine(tmp_path / "box-state", bundle, builder_optimization_level=2)  # another key: builds
    other.open()
    try:
        assert other.source == "built"
    finally:
        other.close()
