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
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
from onnxruntime.quantization.calibrate import (
    CalibrationMethod,
    TensorsData,
    create_calibrator,
    save_tensors_data,
)
from tqdm import tqdm

from lepton.calibration.config import CalibrationConfig, CalibrationMethodName
from lepton.calibration.errors import CalibrationDataError
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

HISTOGRAM_OVERHEAD = 3
"""ORT's histogram collector stacks one tensor's window into one array, flattens it and takes
its absolute value: up to three more copies of the largest tensor's window at a time."""

_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT: 4,
    onnx.TensorProto.FLOAT16: 2,
    onnx.TensorProto.BFLOAT16: 2,
    onnx.TensorProto.DOUBLE: 8,
}


@dataclass(frozen=True)
class ActivationSize:
    """What one sample's intermediate float tensors weigh, from ONNX shape inference."""

    total_bytes: int
    largest_bytes: int
    tensors: int
    unknown: tuple[str, ...]
    """Tensors whose non-batch dims shape inference could not resolve (counted as 1 element)."""


def activation_size(model_path: Path) -> ActivationSize:
    """Bytes of every float tensor a node writes, per sample (the batch dim left out)."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path), load_external_data=False))
    graph = model.graph
    produced = {name for node in graph.node for name in node.output}
    sizes: list[int] = []
    unknown: list[str] = []
    for info in (*graph.value_info, *graph.output):
        itemsize = _FLOAT_TYPES.get(info.type.tensor_type.elem_type)
        if info.name not in produced or itemsize is None or not info.type.tensor_type.HasField("shape"):
            continue
        elements = 1
        for dim in list(info.type.tensor_type.shape.dim)[1:]:
            if dim.HasField("dim_value") and dim.dim_value > 0:
                elements *= dim.dim_value
            else:
                unknown.append(info.name)
        sizes.append(elements * itemsize)
    return ActivationSize(
        total_bytes=sum(sizes),
        largest_bytes=max(sizes, default=0),
        tensors=len(sizes),
        unknown=tuple(unknown),
    )


def held_bytes_per_sample(size: ActivationSize, method: CalibrationMethodName) -> int:
    """What ORT's calibrator holds per sample of one ``collect_data`` call.

    The histogram calibrators (entropy, percentile) keep every intermediate tensor of every
    batch of the call, then copy the largest one a few times while binning it. MinMax adds
    ReduceMin/ReduceMax nodes and keeps two floats per tensor and batch, but ORT still
    computes the whole batch: one batch's activations are the floor of every method.
    """
    if method == "minmax":
        return 8 * size.tensors
    return size.total_bytes + HISTOGRAM_OVERHEAD * size.largest_bytes


@dataclass(frozen=True)
class WindowPlan:
    """How the calibration set is fed to ORT within ``memory_budget_mb``."""

    window_samples: int
    """Samples per ``collect_data`` call: a multiple of the calibration batch."""
    held_bytes_per_sample: int
    batch_bytes: int
    """One batch's activations while ORT runs it (the floor of any window)."""
    activations: ActivationSize


class CalibrationBudgetError(CalibrationDataError):
    """The model cannot be calibrated within ``calibration.memory_budget_mb``."""


def plan_windows(model_path: Path, config: CalibrationConfig) -> WindowPlan:
    """Size the windows by bytes: as many whole batches as the budget holds, at least one.

    A single batch that does not fit is refused before ORT allocates it, with the numbers
    and the fix, instead of the kernel killing the export half-way (exit 137, no message).
    """
    size = activation_size(model_path)
    budget = config.memory_budget_mb * 2**20
    per_sample = held_bytes_per_sample(size, config.method)
    batch_bytes = config.batch * (size.total_bytes + per_sample)
    if batch_bytes > budget:
        mb = 2**20
        raise CalibrationBudgetError(
            f"calibration.memory_budget_mb = {config.memory_budget_mb}: one calibration batch of "
            f"{config.batch} sample(s) of the model needs about {batch_bytes / mb:.0f} MB "
            f"({size.total_bytes / mb:.2f} MB of activations per sample over {size.tensors} tensors, "
            f"{config.method} calibrator); raise calibration.memory_budget_mb to at least "
            f"{-(-batch_bytes // mb)} or lower calibration.batch"
            + (
                ", or use calibration.method = 'minmax' (it keeps two numbers per tensor)"
                if config.method != "minmax"
                else ""
            )
        )
    batches = max(1, int((budget - config.batch * size.total_bytes) // (config.batch * max(per_sample, 1))))
    return WindowPlan(
        window_samples=batches * config.batch,
        held_bytes_per_sample=per_sample,
        batch_bytes=batch_bytes,
        activations=size,
    )


def collection_windows(samples: int, batch: int, window_samples: int) -> list[tuple[int, int]]:
    """(start, stop) sample ranges, one ``collect_data`` call each, every batch of a call the same size.

    ``window_samples`` (a multiple of ``batch``) bounds what ORT keeps in memory per call.
    ORT's histogram calibrators stack one call's batches into one array, so a short last
    batch among full ones fails (``inhomogeneous shape``); it gets a call of its own.
    """
    full = samples - samples % batch
    window = max(batch, window_samples - window_samples % batch)
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
    windows: WindowPlan


def ort_method(name: CalibrationMethodName) -> Any:
    """The ``CalibrationMethod`` to pass to ``quantize_static`` with a cache of this method."""
    return METHODS[name]


def _beside(model_path: Path) -> Path | None:
    """The augmented model goes next to the model when that folder is writable (export hands
    us a file in its staging directory, removed whatever stops the export), else to $TMPDIR."""
    folder = model_path.resolve().parent
    return folder if os.access(folder, os.W_OK) else None


def compute_ranges(
    model_path: Path,
    input_name: str,
    data: Tensor,
    config: CalibrationConfig,
    out_path: Path,
    progress: bool = True,
    checkpoint: Callable[[], None] | None = None,
) -> RangesSummary:
    """Calibrate every float tensor of ``model_path`` on ``data``; write ORT's cache to ``out_path``.

    Raises CalibrationBudgetError (before any inference) when one batch exceeds the budget.
    ``checkpoint`` runs before each window: the export raises a signal there that a finalizer
    swallowed (a large model calibrates for minutes).
    """
    plan = plan_windows(model_path, config)
    per_sample = f"{plan.activations.total_bytes / 2**20:.0f} MB of activations per sample"
    if plan.window_samples >= len(data):  # e.g. minmax, which keeps two numbers per tensor
        log.info("calibration: all %d samples in one window (%s)", len(data), per_sample)
    else:
        log.info(
            "calibration: %d samples in windows of %d (%s; budget %d MB)",
            len(data),
            plan.window_samples,
            per_sample,
            config.memory_budget_mb,
        )
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
            tempfile.TemporaryDirectory(prefix="lepton-calib.", dir=_beside(model_path)) as tmp,
            library_output_contained(log, "onnxruntime calibrator"),
        ):
            calibrator = create_calibrator(
                model_path,
                None,  # every float tensor: the quantizer picks what it needs
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=METHODS[config.method],
                extra_options=options,
            )
            for start, stop in collection_windows(len(data), config.batch, plan.window_samples):
                if checkpoint is not None:
                    checkpoint()
                calibrator.collect_data(TensorReader(input_name, data[start:stop], config.batch, bar))
            ranges = calibrator.compute_data()
            del calibrator
    except MemoryError as err:
        raise CalibrationBudgetError(
            f"calibration: out of memory in a window of {plan.window_samples} samples "
            f"(calibration.memory_budget_mb = {config.memory_budget_mb}); lower "
            "calibration.memory_budget_mb or calibration.batch"
        ) from err
    except Exception as err:  # ORT raises ValueError, RuntimeError and its own pybind11 types
        raise RangeComputationError(f"{type(err).__name__}: {err}") from err
    finally:
        bar.close()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Sorted by tensor name: the calibrator collects them in a set, whose order changes with
    # PYTHONHASHSEED, and the same inputs must give the same bytes (reproducible bundles).
    ranges = TensorsData(ranges.calibration_method, dict(sorted(ranges.data.items())))
    save_tensors_data(ranges, out_path)
    return RangesSummary(
        path=out_path, method=config.method, tensors=len(ranges.data), samples=len(data), windows=plan
    )


__all__ = [
    "HISTOGRAM_OVERHEAD",
    "METHODS",
    "ActivationSize",
    "CalibrationBudgetError",
    "RangeComputationError",
    "RangesSummary",
    "WindowPlan",
    "activation_size",
    "collection_windows",
    "compute_ranges",
    "held_bytes_per_sample",
    "ort_method",
    "plan_windows",
]
