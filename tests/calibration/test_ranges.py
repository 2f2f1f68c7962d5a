"""Ranges through ORT's calibrator: every method, fed in windows, saved as ORT's own cache
that quantize_static reads back (so every INT8 artefact uses the same numbers)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import load_tensors_data

from lepton.calibration.config import CalibrationConfig, CalibrationMethodName
from lepton.calibration.ranges import (
    HISTOGRAM_OVERHEAD,
    CalibrationBudgetError,
    activation_size,
    collection_windows,
    compute_ranges,
    ort_method,
    plan_windows,
)
from lepton.calibration.reader import TensorReader
from tests.calibration.conftest import INPUT


def _data(n: int) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 1, (n, 3, INPUT.height, INPUT.width)).astype(np.float32)


def test_collection_windows_keep_every_batch_of_a_call_the_same_size() -> None:
    assert collection_windows(20, 8, 16) == [(0, 16), (16, 20)]
    assert collection_windows(300, 8, 128) == [(0, 128), (128, 256), (256, 296), (296, 300)]
    assert collection_windows(16, 8, 16) == [(0, 16)] and collection_windows(3, 8, 16) == [(0, 3)]
    # a window is whole batches, at least one
    assert collection_windows(20, 8, 20) == [(0, 16), (16, 20)]
    assert collection_windows(20, 8, 3) == [(0, 8), (8, 16), (16, 20)]


# tiny_onnx per sample: conv and relu 8x12x16 floats, pool and flat 8, logits 3
TINY_TOTAL = 4 * (2 * 8 * 12 * 16 + 8 + 8 + 3)
TINY_LARGEST = 4 * 8 * 12 * 16


def test_activation_size_counts_every_float_tensor_a_node_writes_per_sample(tiny_onnx: Path) -> None:
    size = activation_size(tiny_onnx)

    assert (size.total_bytes, size.largest_bytes, size.tensors, size.unknown) == (
        TINY_TOTAL,
        TINY_LARGEST,
        5,
        (),
    )


def _budgeted(method: CalibrationMethodName, batch: int, budget_mb: int) -> CalibrationConfig:
    return CalibrationConfig.model_validate(
        {
            "images": ["x"],
            "count": 20,
            "allow_small": True,
            "method": method,
            "batch": batch,
            "memory_budget_mb": budget_mb,
        }
    )


@pytest.mark.parametrize("method", ["entropy", "percentile", "minmax"])
def test_windows_are_sized_by_bytes_within_the_budget(tiny_onnx: Path, method: CalibrationMethodName) -> None:
    config = _budgeted(method, batch=8, budget_mb=16)

    plan = plan_windows(tiny_onnx, config)

    per_sample = TINY_TOTAL + HISTOGRAM_OVERHEAD * TINY_LARGEST if method != "minmax" else 8 * 5
    assert plan.held_bytes_per_sample == per_sample
    assert plan.window_samples % 8 == 0
    held = plan.window_samples * per_sample + 8 * TINY_TOTAL
    assert held <= 16 * 2**20 < held + 8 * per_sample  # as many whole batches as fit, no more


def test_a_batch_beyond_the_budget_is_refused_with_the_numbers_and_the_fix(tiny_onnx: Path) -> None:
    # 1000 samples x ~43 kB for the entropy calibrator > 16 MiB; minmax holds 40 B per sample
    with pytest.raises(CalibrationBudgetError) as err:
        plan_windows(tiny_onnx, _budgeted("entropy", batch=1000, budget_mb=16))

    message = str(err.value)
    assert "calibration.memory_budget_mb = 16: one calibration batch of 1000 sample(s)" in message
    assert "lower calibration.batch" in message and "'minmax'" in message and err.value.exit_code == 2
    assert plan_windows(tiny_onnx, _budgeted("minmax", batch=1000, budget_mb=16)).window_samples >= 1000


def test_compute_ranges_feeds_byte_sized_windows(
    tiny_onnx: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a budget of 16 MiB holds hundreds of samples of this model: one window for the whole set
    with caplog.at_level(logging.INFO, logger="lepton.calibration.ranges"):
        summary = compute_ranges(
            tiny_onnx, "images", _data(20), _budgeted("entropy", 4, 16), tmp_path / "r.json", progress=False
        )

    assert summary.windows.window_samples >= 20 and summary.windows.activations.total_bytes == TINY_TOTAL
    # the log says what happens to these 20 samples, not the window's capacity (hundreds)
    assert "calibration: all 20 samples in one window" in caplog.text, caplog.text


class _Stop(BaseException):
    """What a checkpoint raises: a BaseException, like the export's signal."""


def test_the_checkpoint_runs_before_each_window_and_what_it_raises_stops_calibration(
    tiny_onnx: Path, tmp_path: Path
) -> None:
    calls: list[int] = []

    def checkpoint() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise _Stop

    config = _budgeted("entropy", 4, 16)  # histograms: windows of hundreds of samples (minmax: 400,000)
    window = plan_windows(tiny_onnx, config).window_samples
    assert window < 1000
    with pytest.raises(_Stop):  # three windows' worth of samples
        compute_ranges(
            tiny_onnx, "images", _data(2 * window + 1), config, tmp_path / "r.json", False, checkpoint
        )
    assert len(calls) == 2 and not (tmp_path / "r.json").exists()


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
