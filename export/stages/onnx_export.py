"""Stage: PyTorch module → ``model.fp32.onnx`` at opset 19, dynamic batch, weights inline.

Two exporters, one switch (notes §2): the dynamo exporter is torch's default but has shipped
wrong graphs (pytorch#169178) and refuses data-dependent control flow; the TorchScript
("legacy") exporter still works but is deprecated. ``auto`` tries dynamo and falls back to
legacy when dynamo raises; either way the parity gate decides whether the graph ships.
A TorchScript module only goes through legacy, a ``torch.export`` program only through dynamo.
Opset 19 is explicit because ``None`` drifts with torch (22 today) and ORT static
quantization refuses opset >= 21. The saved graph carries no path of this machine
(``drop_source_locations``), so two checkouts export the same bytes.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch

from lepton.edge.preprocess import Tensor
from lepton.export.config import ExporterChoice
from lepton.export.errors import GateFailed, UsageError, describe_exception
from lepton.export.stages.library_output import contained_output, log_distinct_warnings
from lepton.export.stages.load_model import LoadedModel

log = logging.getLogger(__name__)

OPSET = 19
"""The opset every lepton ONNX file has: <= 20 for ORT quantization, >= 19 for ModelOpt INT8."""

ExporterName = Literal["dynamo", "legacy"]

SOURCE_LOCATION_KEYS = frozenset({"pkg.torch.onnx.stack_trace"})
"""Node metadata that records where in Python a node was traced: absolute file paths."""


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
    _check_exporter_choice(model, request.exporter)
    example = torch.from_numpy(np.require(request.example, dtype=np.float32, requirements=["C", "W"]))
    if request.exporter == "legacy" or model.is_torchscript:
        if request.exporter == "auto":
            log.info("TorchScript module: using the TorchScript exporter (dynamo cannot read it)")
        return _export_legacy(model, example, path, request, dynamo_error=None)
    try:
        caught = _run_exporter("dynamo", model, example, path, request)
    except Exception as err:  # torch.export / onnxscript raise many unrelated types
        dynamo_error = _describe_with_root_cause(err)
        if model.program is not None:
            raise GateFailed(
                f"export: the dynamo exporter failed on the torch.export program ({dynamo_error}); "
                "the TorchScript exporter cannot read a program: change the op named above, or "
                "export from model.factory + model.weights with --exporter legacy"
            ) from err
        if request.exporter == "dynamo":
            raise GateFailed(
                f"export: the dynamo exporter failed ({dynamo_error}); set export.exporter "
                "= 'auto' or 'legacy' (or --exporter legacy) to use the TorchScript "
                "exporter, or make the model exportable with torch.export"
            ) from err
        log.warning("dynamo exporter failed (%s); falling back to the TorchScript exporter", dynamo_error)
        return _export_legacy(model, example, path, request, dynamo_error)
    log.info("exported %s with the dynamo exporter (opset %d)", path.name, OPSET)
    return ExportedGraph(path, "dynamo", log_distinct_warnings("exporter", caught), None)


def _check_exporter_choice(model: LoadedModel, exporter: ExporterChoice) -> None:
    """Each exporter reads only some model sources; a mismatch is the caller's to fix."""
    if model.is_torchscript and exporter == "dynamo":
        raise UsageError(
            "export.exporter = 'dynamo': the dynamo exporter cannot read a TorchScript "
            "module (model.torchscript); use exporter 'legacy' or 'auto'"
        )
    if model.program is not None and exporter == "legacy":
        raise UsageError(
            "export.exporter = 'legacy': the TorchScript exporter cannot read a torch.export "
            f"program (model.exported_program {model.source_path}); use exporter 'dynamo' or "
            "'auto' (--exporter auto)"
        )


def _export_legacy(
    model: LoadedModel, example: torch.Tensor, path: Path, request: ExportRequest, dynamo_error: str | None
) -> ExportedGraph:
    try:
        caught = _run_exporter("legacy", model, example, path, request)
    except Exception as err:
        tried = f"dynamo: {dynamo_error}; " if dynamo_error else ""
        raise GateFailed(
            f"export: no exporter could convert the model to ONNX opset {OPSET} "
            f"({tried}legacy: {describe_exception(err)}); change the unsupported op or "
            "control flow named above"
        ) from err
    log.info("exported %s with the TorchScript (legacy) exporter (opset %d)", path.name, OPSET)
    return ExportedGraph(path, "legacy", log_distinct_warnings("exporter", caught), dynamo_error)


def _describe_with_root_cause(err: BaseException) -> str:
    """torch.export wraps the real reason (an unsupported op, a data-dependent branch) in
    a generic TorchExportError; name both, the wrapper first."""
    root = err
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    if root is err:
        return describe_exception(err)
    return f"{describe_exception(err)} <- {describe_exception(root)}"


def _run_exporter(
    exporter: ExporterName, model: LoadedModel, example: torch.Tensor, path: Path, request: ExportRequest
) -> list[warnings.WarningMessage]:
    """One ``torch.onnx.export`` call; the exporters differ only in how a dynamic batch is
    asked for. A torch.export program is exported as it is: its own dims decide the batch."""
    options: dict[str, Any]
    dynamic = request.batch_max > 1 and model.program is None
    if exporter == "dynamo":
        options = {"dynamo": True, "external_data": False, "verbose": False}
        if dynamic:
            options["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=request.batch_max)},)
    else:
        options = {"dynamo": False}
        if dynamic:
            options["dynamic_axes"] = {request.input_name: {0: "batch"}, request.output_name: {0: "batch"}}
    target = model.program if model.program is not None else model.module
    with contained_output("exporter") as caught:
        torch.onnx.export(
            target,
            (example,),
            str(path),
            input_names=[request.input_name],
            output_names=[request.output_name],
            opset_version=OPSET,
            **options,
        )
    drop_source_locations(path)
    return caught


def drop_source_locations(path: Path) -> None:
    """Remove what ties the graph to this machine's file system, in place.

    The dynamo exporter records each node's Python stack trace (absolute paths of the model's
    source file and of site-packages) in its metadata, and the TorchScript exporter can put one
    in a node's ``doc_string``: the same model exported from two checkouts would differ in
    bytes and hash (issue 12). Node names, module scopes (``pkg.torch.onnx.name_scopes``, which
    ``quantize.exclude_nodes`` matches) and class names stay; they are the model's, not the
    machine's.
    """
    model = onnx.load(str(path))
    for graph in _graphs(model):
        for node in graph.node:
            node.doc_string = ""
            kept = [p for p in node.metadata_props if p.key not in SOURCE_LOCATION_KEYS]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
    onnx.save(model, str(path))


def _graphs(model: onnx.ModelProto) -> list[onnx.GraphProto | onnx.FunctionProto]:
    """The main graph, every subgraph (If/Loop/Scan bodies) and every local function."""
    found: list[onnx.GraphProto | onnx.FunctionProto] = []
    pending: list[onnx.GraphProto | onnx.FunctionProto] = [model.graph, *model.functions]
    while pending:
        graph = pending.pop()
        found.append(graph)
        for node in graph.node:
            for attribute in node.attribute:
                pending += [attribute.g] if attribute.HasField("g") else []
                pending += list(attribute.graphs)
    return found


__all__ = [
    "OPSET",
    "SOURCE_LOCATION_KEYS",
    "ExportRequest",
    "ExportedGraph",
    "ExporterName",
    "drop_source_locations",
    "export_onnx",
]
