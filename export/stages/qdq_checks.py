"""Stage: prove an INT8 file is the Q/DQ graph its consumers expect.

On top of the graph checks every ONNX file gets (``graph_checks``: checker, opset 19,
IR <= 10, I/O as the manifest states), a Q/DQ graph must actually be quantized, and the
TensorRT-bound artefact must use only signed INT8 Q/DQ with every zero point 0: TensorRT's
explicit quantization has no zero points, and rejects uint8 and INT32 (bias) Q/DQ. The
outputs of nodes kept in float (a detection head) must not come out of a DequantizeLinear.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NoReturn

import numpy as np
import onnx
from onnx import numpy_helper

from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.strict_model import StrictModel
from lepton.export.errors import GateFailed
from lepton.export.stages.quantize import QuantRecipe

_QDQ = ("QuantizeLinear", "DequantizeLinear")
_COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul")


class QdqReport(StrictModel):
    """What the quantizer produced, for the reports and the manifest's ``graph_int8`` check."""

    key: str
    artifact: str
    trt_compatible: bool
    backends: tuple[str, ...] | None = None
    """The backends the file is made for (None: every one)."""
    quantize_linear: int
    dequantize_linear: int
    quantized_compute: dict[str, int]
    """Conv/Gemm/MatMul nodes that read a DequantizeLinear output (i.e. run in INT8)."""
    float_compute: tuple[str, ...]
    """Conv/Gemm/MatMul nodes left in float."""
    qdq_dtypes: tuple[str, ...]
    nonzero_zero_points: int

    def as_check(self) -> CheckResult:
        return CheckResult(
            name=f"graph_{self.key}",
            passed=True,
            measured={
                "quantize_linear": self.quantize_linear,
                "dequantize_linear": self.dequantize_linear,
                "quantized_compute": sum(self.quantized_compute.values()),
                "float_compute": len(self.float_compute),
                "nonzero_zero_points": self.nonzero_zero_points,
            },
            thresholds={"nonzero_zero_points_max": 0} if self.trt_compatible else {},
            detail=f"{self.artifact}: onnx.checker full_check, opset 19, IR <= 10, I/O as the manifest; "
            f"Q/DQ types {list(self.qdq_dtypes)}"
            + (
                "; TensorRT: signed INT8 only, zero points 0"
                if self.trt_compatible
                else f"; for {', '.join(self.backends or ('ORT CPU',))} only"
            ),
        )


def check_qdq(path: Path, recipe: QuantRecipe, float_outputs: tuple[str, ...]) -> QdqReport:
    """``float_outputs``: graph outputs produced by nodes kept in float in the FP32 graph."""
    try:
        return _check_qdq(path, recipe, float_outputs)
    except GateFailed as err:
        check = CheckResult(name=f"graph_{recipe.key}", passed=False, detail=str(err))
        raise GateFailed(str(err), checks=(check,)) from err


def _check_qdq(path: Path, recipe: QuantRecipe, float_outputs: tuple[str, ...]) -> QdqReport:
    graph = onnx.load(str(path)).graph
    constants = _constants(graph)
    ops = Counter(n.op_type for n in graph.node)
    if not (ops["QuantizeLinear"] and ops["DequantizeLinear"]):
        _fail(
            path,
            "has no QuantizeLinear/DequantizeLinear node: nothing was quantized",
            "check quantize.op_types and quantize.exclude_nodes",
        )
    dtypes: set[str] = set()
    nonzero = 0
    for node in graph.node:
        if node.op_type not in _QDQ:
            continue
        quantized = node.output[0] if node.op_type == "QuantizeLinear" else node.input[0]
        zero_point = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        dtype = str(zero_point.dtype) if zero_point is not None else _value_dtype(graph, quantized, constants)
        dtypes.add(dtype)
        if zero_point is not None and np.any(zero_point != 0):
            nonzero += 1
    if recipe.trt_compatible:
        if nonzero:
            _fail(
                path,
                f"has {nonzero} Q/DQ node(s) with a non-zero zero point; TensorRT needs every zero point 0",
                "this is a lepton bug: the portable recipe must quantize symmetrically",
            )
        if dtypes - {"int8"}:
            _fail(
                path,
                f"has Q/DQ of type {sorted(dtypes - {'int8'})}; TensorRT takes only signed INT8 Q/DQ "
                "(an INT32 bias DequantizeLinear fails to parse, onnx-tensorrt#850)",
                "this is a lepton bug: the portable recipe must keep bias in float",
            )
    producers = {out: n for n in graph.node for out in n.output}
    dequantized = [o for o in float_outputs if o in producers and producers[o].op_type == "DequantizeLinear"]
    if dequantized:
        _fail(
            path,
            f"outputs {dequantized} come out of a DequantizeLinear though their nodes stay in float",
            f"report it: {recipe.maker} quantized an excluded node",
        )
    quantized_compute: Counter[str] = Counter()
    float_compute = []
    for node in graph.node:
        if node.op_type in _COMPUTE:
            feeder = producers.get(node.input[0])
            if feeder is not None and feeder.op_type == "DequantizeLinear":
                quantized_compute[node.op_type] += 1
            else:
                float_compute.append(node.name)
    return QdqReport(
        key=recipe.key,
        artifact=recipe.path,
        trt_compatible=recipe.trt_compatible,
        backends=recipe.backends,
        quantize_linear=ops["QuantizeLinear"],
        dequantize_linear=ops["DequantizeLinear"],
        quantized_compute=dict(sorted(quantized_compute.items())),
        float_compute=tuple(float_compute),
        qdq_dtypes=tuple(sorted(dtypes)),
        nonzero_zero_points=nonzero,
    )


def graph_outputs_of(model_path: Path, node_names: tuple[str, ...]) -> tuple[str, ...]:
    """The graph outputs that ``node_names`` produce (the tensors that must stay float)."""
    graph = onnx.load(str(model_path), load_external_data=False).graph
    outputs = {o.name for o in graph.output}
    wanted = set(node_names)
    return tuple(sorted(out for n in graph.node if n.name in wanted for out in n.output if out in outputs))


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _value_dtype(graph: onnx.GraphProto, name: str, constants: dict[str, np.ndarray]) -> str:
    if name in constants:
        return str(constants[name].dtype)
    for info in [*graph.value_info, *graph.input, *graph.output]:
        if info.name == name:
            return str(onnx.helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type))
    return "unknown"


def _fail(path: Path, what: str, fix: str) -> NoReturn:
    raise GateFailed(f"INT8 graph check: {path.name} {what}; {fix}")


__all__ = ["QdqReport", "check_qdq", "graph_outputs_of"]
