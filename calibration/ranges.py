"""Tensor ranges: run ORT's calibrator over the calibration set and save its cache JSON.

The ranges are computed once, on the CPU (they do not depend on the execution provider,
notes §1.2), and written as onnxruntime's calibration cache (``save_tensors_data``). The
quantize stage hands that file to ``quantize_static(calibration_cache_path=...)``, so every
INT8 artefact of a bundle is quantized from the same ranges, and the bundle ships the
exact numbers (``calib/ranges.json``) next to the index of the samples that produced them.
The cache is always fresh: it is written into the bundle being built, never looked up by
name (stale caches silently change accuracy, ultralytics#16005).
"""

from __future__ import annotations

import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort
from onnxruntime.quantization.calibrate import (
    CalibrationMethod,
    TensorsData,
    create_calibrator,
    save_tensors_data,
)
from tqdm import tqdm

from lepton.calibration.config import CalibrationConfig, CalibrationMethodName
from lepton.calibration.library_output import library_output_contained
from lepton.calibration.reader import TensorReader
from lepton.edge.preprocess import Tensor

log = logging.getLogger(__name__)

METHODS: dict[CalibrationMethodName, Any] = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
"""Our config names → onnxruntime's ``CalibrationMethod``."""

_WINDOW_BATCHES = 16
"""Batches per ``collect_data`` call: ORT keeps every intermediate output of a call in
memory, so the set is fed in windows (histograms and min/max merge across calls)."""


def collection_windows(samples: int, batch: int) -> list[tuple[int, int]]:
    """(start, stop) sample ranges, one ``collect_data`` call each, every batch of a call the same size.

    ORT's histogram calibrators stack one call's batches into one array, so a short last
    batch among full ones fails (``inhomogeneous shape``); it gets a call of its own.
    """
    full = samples - samples % batch
    window = batch * _WINDOW_BATCHES
    ranges = [(start, min(start + window, full)) for start in range(0, full, window)]
    return ranges + ([(full, samples)] if full < samples else [])


class RangeComputationError(Exception):
    """ORT's calibrator failed; the caller decides what that means (export: a gate failure)."""


@dataclass(frozen=True)
class RangesSummary:
    path: Path
    method: CalibrationMethodName
    tensors: int
    samples: int


def ort_method(name: CalibrationMethodName) -> Any:
    """The ``CalibrationMethod`` to pass to ``quantize_static`` with a cache of this method."""
    return METHODS[name]


def compute_ranges(
    model_path: Path,
    input_name: str,
    data: Tensor,
    config: CalibrationConfig,
    out_path: Path,
    progress: bool = True,
) -> RangesSummary:
    """Calibrate every float tensor of ``model_path`` on ``data``; write ORT's cache to ``out_path``."""
    options: dict[str, Any] = {"percentile": config.percentile} if config.method == "percentile" else {}
    enabled = progress and sys.stderr.isatty()
    bar = tqdm(
        total=len(data),
        desc=f"calibration ({config.method})",
        unit="img",
        file=sys.stderr,
        disable=not enabled,
    )
    ort.set_default_logger_severity(3)  # the augmented model's initializer notices are noise
    try:
        with (
            tempfile.TemporaryDirectory(prefix="lepton-calib.") as tmp,
            library_output_contained(log, "onnxruntime calibrator"),
        ):
            calibrator = create_calibrator(
                model_path,
                None,  # every float tensor: the quantizer picks what it needs
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=METHODS[config.method],
                extra_options=options,
            )
            for start, stop in collection_windows(len(data), config.batch):
                calibrator.collect_data(TensorReader(input_name, data[start:stop], config.batch, bar))
            ranges = calibrator.compute_data()
            del calibrator
    except Exception as err:  # ORT raises ValueError, RuntimeError and its own pybind11 types
        raise RangeComputationError(f"{type(err).__name__}: {err}") from err
    finally:
        bar.close()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Sorted by tensor name: the calibrator collects them in a set, whose order changes with
    # PYTHONHASHSEED, and the same inputs must give the same bytes (reproducible bundles).
    ranges = TensorsData(ranges.calibration_method, dict(sorted(ranges.data.items())))
    save_tensors_data(ranges, out_path)
    return RangesSummary(path=out_path, method=config.method, tensors=len(ranges.data), samples=len(data))


__all__ = [
    "METHODS",
    "RangeComputationError",
    "RangesSummary",
    "collection_windows",
    "compute_ranges",
    "ort_method",
]
