"""Ranges through ORT's calibrator: every method, fed in windows, saved as ORT's own cache
that quantize_static reads back (so every INT8 artefact uses the same numbers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import load_tensors_data

from lepton.calibration.config import CalibrationConfig, CalibrationMethodName
from lepton.calibration.ranges import collection_windows, compute_ranges, ort_method
from lepton.calibration.reader import TensorReader
from tests.calibration.conftest import INPUT


def _data(n: int) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 1, (n, 3, INPUT.height, INPUT.width)).astype(np.float32)


def test_collection_windows_keep_every_batch_of_a_call_the_same_size() -> None:
    assert collection_windows(20, 8) == [(0, 16), (16, 20)]
    assert collection_windows(300, 8) == [(0, 128), (128, 256), (256, 296), (296, 300)]
    assert collection_windows(16, 8) == [(0, 16)] and collection_windows(3, 8) == [(0, 3)]


def test_reader_slices_batches_then_ends() -> None:
    reader = TensorReader("images", _data(5), batch=2)

    shapes = [batch["images"].shape[0] for batch in iter(reader.get_next, None)]
    reader.rewind()

    assert shapes == [2, 2, 1] and len(reader) == 3 and reader.get_next() is not None


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_every_method_writes_a_cache_that_quantize_static_reads(
    tiny_onnx: Path, tmp_path: Path, method: CalibrationMethodName
) -> None:
    config = CalibrationConfig.model_validate(
        {"images": ["x"], "count": 20, "allow_small": True, "method": method, "batch": 8}
    )

    # 20 = 2 batches of 8 + one of 4: ORT's histogram calibrators cannot stack mixed sizes in one call
    summary = compute_ranges(
        tiny_onnx, "images", _data(20), config, tmp_path / "calib" / "ranges.json", progress=False
    )

    ranges = load_tensors_data(summary.path)
    assert ranges.calibration_method == ort_method(method)
    assert {"conv", "relu", "logits"} <= set(ranges.data) and summary.samples == 20
    low, high = ranges.data["relu"].range_value
    assert np.min(low) >= 0.0 and np.max(high) > 0.0
    out = tmp_path / "int8.onnx"
    quantize_static(
        str(tiny_onnx),
        str(out),
        calibration_data_reader=None,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=ort_method(method),
        calibration_cache_path=str(summary.path),
        extra_options={"ActivationSymmetric": True},
    )
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)
