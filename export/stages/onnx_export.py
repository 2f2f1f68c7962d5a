"""Stage: PyTorch module → ``model.fp32.onnx`` at opset 19, dynamic batch, weights inline.

Two exporters, one switch (notes §2): the dynamo exporter is torch's default but has shipped
wrong graphs (pytorch#169178) and refuses data-dependent control flow; the TorchScript
("legacy") exporter still works but is deprecated. ``auto`` tries dynamo and falls back to
legacy when dynamo raises; either way the parity gate decides whether the graph ships.
Opset 19 is explicit because ``None`` drifts with torch (22 today) and ORT static
quantization refuses opset >= 21.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from edge.preprocess import Tensor
from export.config import ExporterChoice
from export.errors import GateFailed, UsageError, describe_exception
from export.stages.load_model import LoadedModel

log = logging.getLogger(__name__)

OPSET = 19
"""The opset every lepton ONNX file has: <= 20 for ORT quantization, >= 19 for ModelOpt INT8."""

ExporterName = Literal["dynamo", "legacy"]


@dataclass(frozen=True)
class ExportRequest:
    input_name: str
    output_name: str
    batch_max: int
    exporter: ExporterChoice
    example: Tensor
    """A real preprocessed batch to trace with (two images when the batch is dynamic)."""


@dataclass(frozen=True)
class ExportedGraph:
    path: Path
    exporter: ExporterName
    warnings: tuple[str, ...]
    """Distinct warnings the exporter raised (TracerWarnings are the ones to read)."""
    dynamo_error: str | None
    """Why dynamo was refused, when ``auto`` fell back to legacy."""


def export_onnx(model: LoadedModel, path: Path, request: ExportRequest) -> ExportedGraph:
    """Write ``path`` with the requested exporter; GateFailed when no exporter can."""
    if model.is_torchscript and request.exporter == "dynamo":
        raise UsageError(
            "export.exporter = 'dynamo': the dynamo exporter cannot read a TorchScript "
            "module (model.torchscript); use exporter 'legacy' or 'auto'"
        )
    example = torch.from_numpy(np.require(request.example, dtype=np.float32, requirements=["C", "W"]))
    dynamo_error: str | None = None
    if request.exporter == "dynamo" or (request.exporter == "auto" and not model.is_torchscript):
        try:
            caught = _export_dynamo(model.module, example, path, request)
        except Exception as err:  # torch.export / onnxscript raise many unrelated types
            dynamo_error = _describe_with_root_cause(err)
            if request.exporter == "dynamo":
                raise GateFailed(
                    f"export: the dynamo exporter failed ({dynamo_error}); set export.exporter "
                    "= 'auto' or 'legacy' (or --exporter legacy) to use the TorchScript "
                    "exporter, or make the model exportable with torch.export"
                ) from err
            log.warning("dynamo exporter failed (%s); falling back to the TorchScript exporter", dynamo_error)
        else:
            log.info("exported %s with the dynamo exporter (opset %d)", path.name, OPSET)
            return ExportedGraph(path, "dynamo", _log_warnings(caught), None)
    elif model.is_torchscript:
        log.info("TorchScript module: using the TorchScript exporter (dynamo cannot read it)")
    try:
        caught = _export_legacy(model.module, example, path, request)
    except Exception as err:
        tried = f"dynamo: {dynamo_error}; " if dynamo_error else ""
        raise GateFailed(
            f"export: no exporter could convert the model to ONNX opset {OPSET} "
            f"({tried}legacy: {describe_exception(err)}); change the unsupported op or "
            "control flow named above"
        ) from err
    log.info("exported %s with the TorchScript (legacy) exporter (opset %d)", path.name, OPSET)
    return ExportedGraph(path, "legacy", _log_warnings(caught), dynamo_error)


def _describe_with_root_cause(err: BaseException) -> str:
    """torch.export wraps the real reason (an unsupported op, a data-dependent branch) in
    a generic TorchExportError; name both, the wrapper first."""
    root = err
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    if root is err:
        return describe_exception(err)
    return f"{describe_exception(err)} <- {describe_exception(root)}"


def _export_dynamo(
    module: torch.nn.Module, example: torch.Tensor, path: Path, request: ExportRequest
) -> list[warnings.WarningMessage]:
    dynamic_shapes = None
    if request.batch_max > 1:
        dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=request.batch_max)},)
    with _exporter_side_effects_contained() as caught:
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[request.input_name],
            output_names=[request.output_name],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    return caught


def _export_legacy(
    module: torch.nn.Module, example: torch.Tensor, path: Path, request: ExportRequest
) -> list[warnings.WarningMessage]:
    dynamic_axes = None
    if request.batch_max > 1:
        dynamic_axes = {request.input_name: {0: "batch"}, request.output_name: {0: "batch"}}
    with _exporter_side_effects_contained() as caught:
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[request.input_name],
            output_names=[request.output_name],
            opset_version=OPSET,
            dynamo=False,
            dynamic_axes=dynamic_axes,
        )
    return caught


@contextlib.contextmanager
def _exporter_side_effects_contained() -> Iterator[list[warnings.WarningMessage]]:
    """Collect the exporters' warnings and prints; log them instead of letting them out.

    stdout belongs to ``--json``, and torch.export prints whole FX graphs to stderr when it
    gives up, which ``auto`` expects to happen; the prints are kept for ``-v``. The legacy
    exporter always emits a DeprecationWarning: under ``-W error`` (pytest) that would abort
    the export, so warnings are recorded here and logged once by ``_log_warnings``.
    """
    printed = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            yield caught
    finally:
        if printed.getvalue().strip():
            log.debug("exporter output:\n%s", printed.getvalue().rstrip())


def _log_warnings(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    distinct: dict[str, type[Warning]] = {}
    for w in caught:
        lines = str(w.message).strip().splitlines()
        text = f"{w.category.__name__}: {lines[0] if lines else ''}"
        distinct.setdefault(text, w.category)
    for text, category in distinct.items():
        # A TracerWarning means the trace may not generalise to other inputs; parity will tell.
        level = logging.WARNING if category.__name__ == "TracerWarning" else logging.DEBUG
        log.log(level, "exporter warning: %s", text)
    return tuple(distinct)


__all__ = ["OPSET", "ExportRequest", "ExportedGraph", "ExporterName", "export_onnx"]
