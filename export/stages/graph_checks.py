"""Stage: prove the saved ONNX file is valid and is the graph the manifest will describe.

Read back from disk, not from the exporter's in-memory object: the file is what ships.
Checks: ``onnx.checker`` (full), strict shape inference, opset == 19 (``opset_version`` can
silently drift through the version converter), IR version <= 10 (what ORT and TensorRT
parsers in the fleet read), and that the input/output names, dtypes and shapes are those of
the manifest. The op census goes into the report for the TensorRT allow-list to come.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import onnx
from onnx import shape_inference

from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.strict_model import StrictModel
from lepton.export.errors import GateFailed, describe_exception
from lepton.export.stages.onnx_export import OPSET

IR_VERSION_MAX = 10

Dim = int | str


@dataclass(frozen=True)
class GraphExpectation:
    input_name: str
    output_name: str
    height: int
    width: int
    num_classes: int
    dynamic_batch: bool


class GraphReport(StrictModel):
    """What the file holds: versions, I/O shapes, and how many nodes of each op."""

    opset: int
    ir_version: int
    producer: str
    input_shape: tuple[Dim, ...]
    output_shape: tuple[Dim, ...]
    node_count: int
    op_counts: dict[str, int]

    def as_check(self, name: str = "graph_fp32") -> CheckResult:
        return CheckResult(
            name=name,
            passed=True,
            measured={"opset": self.opset, "ir_version": self.ir_version, "nodes": self.node_count},
            thresholds={"opset": OPSET, "ir_version_max": IR_VERSION_MAX},
            detail="onnx.checker full_check, strict shape inference, I/O names/dtypes/shapes",
        )


def check_graph(path: Path, expect: GraphExpectation, check_name: str = "graph_fp32") -> GraphReport:
    """Raise GateFailed naming the first failed check; else the graph's report."""
    try:
        return _check_graph(path, expect)
    except GateFailed as err:
        check = CheckResult(name=check_name, passed=False, detail=str(err))
        raise GateFailed(str(err), checks=(check,)) from err


def _check_graph(path: Path, expect: GraphExpectation) -> GraphReport:
    try:
        onnx.checker.check_model(str(path), full_check=True)
        model = shape_inference.infer_shapes(onnx.load(str(path)), check_type=True, strict_mode=True)
    except Exception as err:  # onnx raises ValidationError, InferenceError, DecodeError...
        _fail(
            path,
            f"is not a valid ONNX model ({describe_exception(err)})",
            "re-export; check the exporter warnings",
        )
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset != OPSET:
        _fail(
            path,
            f"has opset {opset}, lepton needs {OPSET}",
            "the exporter ignored opset_version: pin torch/onnxscript or use --exporter legacy",
        )
    if model.ir_version > IR_VERSION_MAX:
        _fail(
            path,
            f"has IR version {model.ir_version}, > {IR_VERSION_MAX}",
            "downgrade onnx/onnxscript or re-export with the legacy exporter",
        )
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    batch: Dim = "batch" if expect.dynamic_batch else 1
    input_shape = _io_shape(path, inputs, expect.input_name, "input")
    _expect_shape(path, f"input {expect.input_name!r}", input_shape, (batch, 3, expect.height, expect.width))
    output_shape = _io_shape(path, list(graph.output), expect.output_name, "output")
    _expect_shape(path, f"output {expect.output_name!r}", output_shape, (batch, expect.num_classes))
    ops = _op_census(graph)
    return GraphReport(
        opset=opset,
        ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        input_shape=input_shape,
        output_shape=output_shape,
        node_count=sum(ops.values()),
        op_counts=dict(sorted(ops.items())),
    )


def _io_shape(path: Path, values: list[onnx.ValueInfoProto], name: str, kind: str) -> tuple[Dim, ...]:
    names = [v.name for v in values]
    if names != [name]:
        _fail(
            path,
            f"has {kind}s {names}, expected exactly [{name!r}]",
            f"set [{kind}] name to match the model, or fix the export",
        )
    tensor_type = values[0].type.tensor_type
    if tensor_type.elem_type != onnx.TensorProto.FLOAT:
        dtype = onnx.TensorProto.DataType.Name(tensor_type.elem_type)
        _fail(
            path,
            f"{kind} {name!r} is {dtype}, lepton bundles are float32",
            "make the model take and return float32",
        )
    return tuple(d.dim_param if d.HasField("dim_param") else d.dim_value for d in tensor_type.shape.dim)


def _expect_shape(path: Path, what: str, got: tuple[Dim, ...], want: tuple[Dim, ...]) -> None:
    # A symbolic batch is a symbolic batch whatever the exporter named it.
    if len(got) != len(want) or any(
        (isinstance(w, str) and not isinstance(g, str)) or (isinstance(w, int) and g != w)
        for g, w in zip(got, want, strict=False)
    ):
        _fail(
            path,
            f"{what} has shape {list(got)}, expected {list(want)}",
            "check [input] height/width/batch_max and the model's output",
        )


def _op_census(graph: onnx.GraphProto) -> Counter[str]:
    """Count ops, subgraphs (If/Loop bodies) included; non-default domains are prefixed."""
    ops: Counter[str] = Counter()
    for node in graph.node:
        ops[f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type] += 1
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                ops.update(_op_census(sub))
    return ops


def _fail(path: Path, what: str, fix: str) -> NoReturn:
    raise GateFailed(f"graph check: {path.name} {what}; {fix}")


__all__ = ["IR_VERSION_MAX", "GraphExpectation", "GraphReport", "check_graph"]
