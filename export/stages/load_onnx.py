"""Stage: the user's ONNX file becomes ``model.fp32.onnx`` (bring your own ONNX).

Replaces the PyTorch export and its parity gate: the file is the reference. What the
daemon does not read is dropped (anomalib's boolean ``pred_label``/``pred_mask``, which no
lepton engine returns as float32), then the file is checked like an exported one:
``onnx.checker`` (full), strict shape inference, opset >= 13 (per-channel Q/DQ), IR <= 10,
one float32 NCHW input of the configured name and size, a batch range the graph accepts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import onnx
from onnx import shape_inference

from lepton.edge.bundle.manifest import CheckResult, InputSpec, sha256_file
from lepton.export.errors import GateFailed, UsageError, describe_exception
from lepton.export.stages.graph_checks import IR_VERSION_MAX

OPSET_MIN = 13
"""Per-channel QuantizeLinear/DequantizeLinear need opset 13."""

Dim = int | str


@dataclass(frozen=True)
class OnnxOutputs:
    """The source file's outputs, before anything is dropped: name → shape."""

    shapes: dict[str, tuple[Dim, ...]]


def _dims(value: onnx.ValueInfoProto) -> tuple[Dim, ...]:
    dims = value.type.tensor_type.shape.dim
    return tuple(d.dim_param if d.HasField("dim_param") else d.dim_value for d in dims)


def read_outputs(path: Path) -> OnnxOutputs:
    if not path.is_file():
        raise UsageError(f"model.onnx {path}: file not found; point it at the .onnx file to bundle")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise UsageError(f"model.onnx {path}: not a readable ONNX file ({describe_exception(err)})") from err
    return OnnxOutputs({o.name: _dims(o) for o in model.graph.output})


@dataclass(frozen=True)
class ImportedGraph:
    path: Path
    source_sha256: str
    opset: int
    ir_version: int
    producer: str
    outputs: dict[str, tuple[Dim, ...]]
    dropped_outputs: tuple[str, ...]
    op_counts: dict[str, int]

    def as_check(self) -> CheckResult:
        return CheckResult(
            name="graph_fp32",
            passed=True,
            measured={
                "opset": self.opset,
                "ir_version": self.ir_version,
                "nodes": sum(self.op_counts.values()),
            },
            thresholds={"opset_min": OPSET_MIN, "ir_version_max": IR_VERSION_MAX},
            detail="user's ONNX: onnx.checker full_check, strict shape inference, input name/dtype/shape"
            + (
                f"; outputs dropped (not read by the decoder): {list(self.dropped_outputs)}"
                if self.dropped_outputs
                else ""
            ),
        )


def import_onnx(source: Path, target: Path, keep: tuple[str, ...], spec: InputSpec) -> ImportedGraph:
    """Write ``source`` to ``target`` with only the outputs in ``keep``; GateFailed on a bad graph."""
    model = onnx.load(str(source))
    names = [o.name for o in model.graph.output]
    dropped = tuple(n for n in names if n not in keep)
    if dropped:
        kept = [o for o in model.graph.output if o.name in keep]
        del model.graph.output[:]
        model.graph.output.extend(kept)
        _drop_dead_nodes(model.graph)
    try:
        onnx.checker.check_model(model, full_check=True)
        model = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as err:
        _fail(
            source,
            f"is not a valid ONNX model ({describe_exception(err)})",
            "re-export it and check the exporter's warnings",
        )
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < OPSET_MIN:
        _fail(
            source,
            f"has opset {opset}, INT8 Q/DQ per channel needs >= {OPSET_MIN}",
            "re-export with opset 17 or later",
        )
    if model.ir_version > IR_VERSION_MAX:
        _fail(
            source,
            f"has IR version {model.ir_version}, > {IR_VERSION_MAX}",
            "re-export with an onnx package <= 1.16 or downgrade the IR",
        )
    _check_input(source, model.graph, spec)
    for out in model.graph.output:
        if out.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            dtype = onnx.TensorProto.DataType.Name(out.type.tensor_type.elem_type)
            _fail(
                source,
                f"output {out.name!r} is {dtype}, the decoder reads float32",
                "export the model with float32 outputs",
            )
    onnx.save(model, str(target))
    ops = Counter(n.op_type for n in model.graph.node)
    return ImportedGraph(
        path=target,
        source_sha256=sha256_file(source),
        opset=opset,
        ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        outputs={o.name: _dims(o) for o in model.graph.output},
        dropped_outputs=dropped,
        op_counts=dict(sorted(ops.items())),
    )


def _check_input(source: Path, graph: onnx.GraphProto, spec: InputSpec) -> None:
    weights = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if [i.name for i in inputs] != [spec.name]:
        _fail(
            source,
            f"has inputs {[i.name for i in inputs]}, expected [{spec.name!r}]",
            "set [input] name to the model's input",
        )
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        _fail(source, f"input {spec.name!r} is not float32", "export the model with a float32 input")
    shape = _dims(inputs[0])
    want = (3, spec.height, spec.width)
    if len(shape) != 4 or any(isinstance(g, int) and g != w for g, w in zip(shape[1:], want, strict=True)):
        expected = f"[batch, 3, {spec.height}, {spec.width}]"
        _fail(source, f"input {spec.name!r} has shape {list(shape)}, expected {expected}",
              "set [input] height/width to the size the model was exported at")  # fmt: skip
    batch = shape[0]
    if isinstance(batch, int) and batch > 0 and not spec.batch_min <= batch == spec.batch_max:
        _fail(
            source,
            f"input {spec.name!r} has a static batch of {batch}, [input] batch_max is {spec.batch_max}",
            f"set batch_max = {batch}, or re-export with a dynamic batch (Ultralytics: dynamic=True)",
        )


def _drop_dead_nodes(graph: onnx.GraphProto) -> None:
    """Remove nodes no kept output depends on (walking back from the outputs)."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
            for attr in node.attribute:  # subgraph bodies read outer values by name
                for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                    needed.update(i for n in sub.node for i in n.input if i)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    used = {i.name for i in graph.initializer if i.name in needed}
    initializers = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _fail(path: Path, what: str, fix: str) -> NoReturn:
    check = CheckResult(name="graph_fp32", passed=False, detail=f"{path.name} {what}")
    raise GateFailed(f"graph check: {path.name} {what}; {fix}", checks=(check,))


__all__ = ["OPSET_MIN", "ImportedGraph", "OnnxOutputs", "import_onnx", "read_outputs"]
