"""The OpenVINO backend on the colour bundle: real OpenVINO, compared with real ONNX Runtime."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.engines.openvino import OpenVinoEngine, has_bf16
from lepton.edge.engines.ort import OrtCpuEngine
from lepton.edge.engines.smoke_test import golden_inputs, run_smoke_test
from lepton.edge.errors import EngineError
from tests.conftest import REPO
from tests.edge.engines.bundles import COLOR_BUNDLE

pytest.importorskip("openvino", reason="the openvino extra is not installed")


def test_runs_the_bundles_onnx_like_onnx_runtime_at_every_batch_size(tmp_path: Path) -> None:
    manifest = verify_bundle(COLOR_BUNDLE)
    inputs = golden_inputs(manifest, COLOR_BUNDLE)
    assert inputs is not None
    ov = OpenVinoEngine(
        COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 1, compute="fp32", cache_dir=tmp_path
    )
    ort = OrtCpuEngine(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 1)
    ov.open()
    ort.open()
    try:
        assert ov.inference_precision == "f32"  # compute = fp32 forces f32 even on a bf16 CPU
        assert run_smoke_test(ov, manifest, COLOR_BUNDLE) > 0.9999
        for size in range(manifest.input.batch_min, manifest.input.batch_max + 1):
            batch = np.ascontiguousarray(np.resize(inputs, (size, *inputs.shape[1:])))
            got, want = ov.infer(batch)["logits"], ort.infer(batch)["logits"]
            assert got.shape == (size, len(manifest.labels))
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        first = ov.infer(inputs[:1])["logits"]
        ov.infer(inputs[1:2])
        assert np.array_equal(first, ov.infer(inputs[:1])["logits"])  # outputs are copies, not views
    finally:
        ov.close()
        ort.close()
    # the compiled model is cached in the state dir: a restart skips compilation
    assert any(tmp_path.iterdir())


def test_a_batch_outside_the_bundles_range_is_refused_by_the_base_class() -> None:
    manifest = verify_bundle(COLOR_BUNDLE)
    ov = OpenVinoEngine(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 1)
    ov.open()
    try:
        with pytest.raises(EngineError, match=r"batch 5 outside the bundle's range \[1, 4\]"):
            ov.infer(np.zeros((5, 3, 32, 32), np.float32))
    finally:
        ov.close()


def test_an_unreadable_model_names_the_file_and_the_fix(tmp_path: Path) -> None:
    broken = tmp_path / "model.fp32.onnx"
    broken.write_bytes(b"not an onnx file")
    ov = OpenVinoEngine(broken, verify_bundle(COLOR_BUNDLE), "fp32", 1)
    with pytest.raises(EngineError, match=r"openvino: cannot compile model\.fp32\.onnx .*engine\.backends"):
        ov.open()


def test_bf16_is_offered_exactly_where_the_cpu_computes_it() -> None:
    offered = OpenVinoEngine.computes("fp32")
    assert offered == (("bf16", "fp32") if has_bf16() else ("fp32",))
    assert OpenVinoEngine.computes("int8") == ("int8",)
    assert OpenVinoEngine.unavailable() is None


@pytest.mark.skipif(not has_bf16(), reason="this CPU has no bf16 (AMX / AVX-512 BF16)")
def test_bf16_compiles_to_bf16_and_passes_with_the_bf16_tolerance() -> None:
    manifest = verify_bundle(COLOR_BUNDLE)
    ov = OpenVinoEngine(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 1, compute="bf16")
    ov.open()
    try:
        assert ov.inference_precision == "bf16"
        assert ov.tolerance_keys == ("fp32", "bf16")
        assert run_smoke_test(ov, manifest, COLOR_BUNDLE) > 0.99
    finally:
        ov.close()


def test_infer_many_keeps_two_requests_in_flight_and_returns_every_batch_in_order() -> None:
    manifest = verify_bundle(COLOR_BUNDLE)
    inputs = golden_inputs(manifest, COLOR_BUNDLE)
    assert inputs is not None
    rng = np.random.default_rng(0)
    batches = [
        np.ascontiguousarray(inputs[rng.integers(0, len(inputs), size)] * np.float32(rng.uniform(0.5, 1.5)))
        for size in (1, 3, 2, 4, 1, 1, 4, 2)
    ]
    ov = OpenVinoEngine(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 1)
    ov.open()
    try:
        streamed = list(ov.infer_many(iter(batches)))
        one_by_one = [ov.infer(b) for b in batches]
        with pytest.raises(EngineError, match="outside the bundle's range"):
            list(ov.infer_many([np.zeros((5, 3, 32, 32), np.float32)]))
    finally:
        ov.close()
    assert len(streamed) == len(batches)
    for got, want in zip(streamed, one_by_one, strict=True):
        np.testing.assert_array_equal(got["logits"], want["logits"])


ABANDONED_STREAMS = textwrap.dedent(
    """
    import numpy as np
    from lepton.edge.bundle.manifest import verify_bundle
    from lepton.edge.engines.openvino import OpenVinoEngine
    from lepton.edge.engines.smoke_test import golden_inputs
    from tests.edge.engines.bundles import COLOR_BUNDLE

    manifest = verify_bundle(COLOR_BUNDLE)
    batch = golden_inputs(manifest, COLOR_BUNDLE)[:4]
    engine = OpenVinoEngine(COLOR_BUNDLE / "model.fp32.onnx", manifest, "fp32", 1)
    engine.open()
    want = engine.infer(batch)["logits"]
    for _ in range(150):
        stream = engine.infer_many(iter([batch] * 20))
        next(stream)
        stream.close()  # the caller stops with requests still running
    got = list(engine.infer_many(iter([batch] * 3)))
    engine.close()
    assert all(np.array_equal(g["logits"], want) for g in got)
    print("clean")
    """
)


def test_a_stream_abandoned_with_requests_in_flight_leaves_the_process_whole() -> None:
    # in a child: the old code freed the request queue under running requests (SIGSEGV/SIGABRT)
    child = subprocess.run(
        [sys.executable, "-c", ABANDONED_STREAMS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (child.returncode, child.stdout.strip()) == (0, "clean"), child.stderr[-2000:]
