"""Stage: the FP32 graph → INT8 Q/DQ graphs, from the calibration ranges (notes §3).

``model.int8.onnx`` is the portable artefact: QDQ, signed INT8 activations and weights,
every zero point 0 (``ActivationSymmetric``/``WeightSymmetric``), per-channel weights,
float bias (TensorRT refuses an INT32 bias DequantizeLinear: onnx-tensorrt#850,
NVIDIA/TensorRT#3360), opset 19. ORT CPU and TensorRT strongly typed builds both read it.
``model.int8.cpu.onnx`` (optional) trades TensorRT validity for ORT CPU speed: uint8
activations let ORT fold every ReLU into the preceding QLinearConv. ``model.int8.openvino.onnx``
(optional) is placed by NNCF, not by ORT's quantizer (``quantize_nncf.py``): OpenVINO fuses
its Q/DQ pattern into INT8 kernels where it does not fuse ORT's.

Sequence: ``quant_pre_process`` (shape inference + basic optimisation, as ORT recommends),
then the calibration package computes ranges on the pre-processed graph (tensor names
must match), then ``quantize_static`` reads those ranges from the cache file, once per
artefact. Nodes kept in float are chosen by regex on node names and module scopes, plus
the first and the last compute node (``float_stem``, ``float_head``).
"""

from __future__ import annotations

import ast
import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import onnx

from lepton.calibration.config import CalibrationMethodName
from lepton.calibration.library_output import library_output_contained
from lepton.calibration.ranges import ort_method
from lepton.export.config import QuantizeConfig
from lepton.export.errors import GateFailed, UsageError, describe_exception

log = logging.getLogger(__name__)

INT8_MODEL = "model.int8.onnx"
INT8_CPU_MODEL = "model.int8.cpu.onnx"
INT8_OPENVINO_MODEL = "model.int8.openvino.onnx"


@dataclass(frozen=True)
class QuantRecipe:
    """One INT8 artefact: its file, who places its Q/DQ, and the ORT settings that differ
    between artefacts (``activation`` to ``quantize_bias``: unused when NNCF makes it)."""

    key: str
    """Names its checks (``graph_<key>``, ``parity_<key>``, ...) and report entries."""
    path: str
    activation: Literal["int8", "uint8"]
    symmetric_activations: bool
    quantize_bias: bool
    trt_compatible: bool
    description: str
    backends: tuple[str, ...] | None
    """The engine backends the daemon may run it on (the manifest records it); None: every one."""
    maker: Literal["onnxruntime", "nncf"] = "onnxruntime"

    @property
    def ort_cpu_fuses(self) -> bool:
        """ORT CPU may run the file, so the gates run it with ORT's fused INT8 kernels. A file
        made for other backends only is run op by op (its Q/DQ graph as written): NNCF
        quantizes a depthwise Conv's input per channel, which ORT's QLinearConv refuses."""
        return self.backends is None or "ort-cpu" in self.backends


PORTABLE = QuantRecipe(
    key="int8",
    path=INT8_MODEL,
    activation="int8",
    symmetric_activations=True,
    quantize_bias=False,
    trt_compatible=True,
    description="QDQ S8S8 symmetric (zero points 0), float bias: ORT CPU and TensorRT",
    backends=None,
)
CPU_ONLY = QuantRecipe(
    key="int8_cpu",
    path=INT8_CPU_MODEL,
    activation="uint8",
    symmetric_activations=False,
    quantize_bias=True,
    trt_compatible=False,
    description="QDQ U8S8 (uint8 activations, ReLU folded into QLinearConv): ORT CPU only",
    backends=("ort-cpu",),
)
OPENVINO_ONLY = QuantRecipe(
    key="int8_openvino",
    path=INT8_OPENVINO_MODEL,
    activation="int8",
    symmetric_activations=True,
    quantize_bias=False,
    trt_compatible=False,
    description="QDQ placed by NNCF's ONNX post-training quantization: OpenVINO only",
    backends=("openvino",),
    maker="nncf",
)


def quant_recipes(config: QuantizeConfig) -> tuple[QuantRecipe, ...]:
    """The portable file, the CPU one unless ``cpu_artifact = false``, the OpenVINO one unless
    ``openvino_artifact = false``; with "auto" the speed stage decides whether such a file
    ships (it does where it runs faster than the portable one on its backend)."""
    optional = ((config.cpu_artifact, CPU_ONLY), (config.openvino_artifact, OPENVINO_ONLY))
    return (PORTABLE, *(recipe for wanted, recipe in optional if wanted is not False))


def check_op_types(config: QuantizeConfig) -> None:
    """``quantize.op_types`` may name only ops onnxruntime can quantize (checked before any export)."""
    if config.op_types is None:
        return
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    supported = sorted(set(QDQRegistry) | set(QLinearOpsRegistry))
    unknown = [op for op in config.op_types if op not in supported]
    if unknown:
        raise UsageError(
            f"quantize.op_types: onnxruntime cannot quantize {unknown}; remove them (they stay in "
            f"float anyway) or pick from {supported}"
        )


@dataclass(frozen=True)
class PreparedGraph:
    path: Path
    symbolic_shapes: bool
    """False when ORT's symbolic shape inference failed and ONNX shape inference was used alone."""


def prepare_for_quantization(fp32_path: Path, out_path: Path) -> PreparedGraph:
    """``quant_pre_process``; symbolic shape inference is skipped if it cannot read the graph.

    ORT's symbolic inference does not know ReduceMax with axes as an input (opset 18+), which
    the dynamo exporter emits for a global max pool; ONNX shape inference covers such graphs.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    for skip_symbolic in (False, True):
        try:
            with library_output_contained(log, "quant_pre_process"), _no_symbolic_debug_dump_left():
                quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=skip_symbolic)
        except Exception as err:  # ORT's tools raise TypeError/ValueError/onnx errors
            if not skip_symbolic:
                log.info(
                    "symbolic shape inference failed (%s); using ONNX shape inference",
                    describe_exception(err),
                )
                continue
            raise GateFailed(
                f"quantize: onnxruntime's quant_pre_process cannot read {fp32_path.name} "
                f"({describe_exception(err)}); report it with the model, or export without [calibration]"
            ) from err
        pools = _mean_over_space_as_global_pool(out_path)
        if pools:
            log.info("%d spatial ReduceMean node(s) rewritten as GlobalAveragePool", pools)
        return PreparedGraph(out_path, symbolic_shapes=not skip_symbolic)
    raise AssertionError("unreachable")


SYMBOLIC_DEBUG_DUMP = "sym_shape_infer_temp.onnx"
"""What ORT's symbolic shape inference saves into the working directory when it gives up."""


@contextlib.contextmanager
def _no_symbolic_debug_dump_left() -> Iterator[None]:
    """Remove the model ORT's symbolic shape inference dumps into the *working directory* (with
    its external-data file) when it cannot infer every shape: an export writes only under --out."""
    cwd = Path.cwd()
    before = {p.name for p in cwd.iterdir()}
    try:
        yield
    finally:
        dump = cwd / SYMBOLIC_DEBUG_DUMP
        if dump.name not in before and dump.is_file():
            with contextlib.suppress(Exception):  # an unreadable dump: remove the dump alone
                model = onnx.load(str(dump), load_external_data=False)
                for tensor in model.graph.initializer:  # saved as one external file next to it
                    for entry in tensor.external_data:
                        data = cwd / entry.value
                        if entry.key == "location" and data.name not in before and data.parent == cwd:
                            data.unlink(missing_ok=True)
            dump.unlink(missing_ok=True)


def _mean_over_space_as_global_pool(path: Path) -> int:
    """``ReduceMean(axes=[2, 3], keepdims=1)`` on NCHW → ``GlobalAveragePool``, the same numbers.

    The dynamo exporter writes global average pooling (squeeze-excitation, the classifier's
    pool) as ReduceMean, which ORT's quantizer does not quantize: each one is a float island
    with a DQ/Q pair around it. GlobalAveragePool is quantized and has an INT8 kernel on ORT
    CPU (QLinearGlobalAveragePool) and a pooling layer in TensorRT.
    """
    model = onnx.load(str(path))
    graph = model.graph
    constants = {i.name: onnx.numpy_helper.to_array(i).tolist() for i in graph.initializer}
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in (*graph.value_info, *graph.input)
        if v.type.tensor_type.HasField("shape")
    }
    rewritten = 0
    for node in graph.node:
        if node.op_type != "ReduceMean" or node.domain not in ("", "ai.onnx"):
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        axes = attrs.get("axes") or (constants.get(node.input[1]) if len(node.input) > 1 else None)
        spatial = sorted(int(a) % 4 for a in axes or []) == [2, 3]  # [-2, -1] as written by dynamo
        if ranks.get(node.input[0]) != 4 or attrs.get("keepdims", 1) != 1 or not spatial:
            continue
        pooled = onnx.helper.make_node(
            "GlobalAveragePool", [node.input[0]], list(node.output), name=node.name
        )
        pooled.metadata_props.extend(node.metadata_props)
        node.CopyFrom(pooled)
        rewritten += 1
    if rewritten:
        onnx.save(model, str(path))
    return rewritten


@dataclass(frozen=True)
class FloatNodes:
    """The nodes ``quantize_static`` leaves in float, and why."""

    patterns: tuple[str, ...]
    matched: dict[str, tuple[str, ...]]
    """pattern → names of the nodes it matched."""
    stem: str | None
    """The first Conv, when ``float_stem`` kept it in float."""
    head: str | None
    """The last Conv/Gemm/MatMul, when ``float_head`` kept it in float."""

    @property
    def nodes(self) -> tuple[str, ...]:
        names = {n for ns in self.matched.values() for n in ns}
        return tuple(sorted(names | {n for n in (self.stem, self.head) if n}))


def select_float_nodes(model_path: Path, config: QuantizeConfig) -> FloatNodes:
    """Expand ``exclude_nodes`` over the graph; a pattern the user set must match something."""
    graph = onnx.load(str(model_path), load_external_data=False).graph
    matched = {
        pattern: tuple(n.name for n in graph.node if _matches(re.compile(pattern), n))
        for pattern in config.exclude_nodes
    }
    if "exclude_nodes" in config.model_fields_set:
        empty = [p for p, names in matched.items() if not names]
        if empty:
            sample = ", ".join(f"{n.name} [{_scope(n)}]" for n in list(graph.node)[:6])
            raise UsageError(
                f"quantize.exclude_nodes: {empty} match no node name or module scope of the "
                f"model (e.g. {sample}, ...); fix the regex"
            )
    stem = None
    if config.float_stem:
        inputs = {i.name for i in graph.input} - {i.name for i in graph.initializer}
        stem = next((n.name for n in graph.node if n.op_type == "Conv" and n.input[0] in inputs), None)
    compute = [n.name for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    head = compute[-1] if config.float_head and compute else None
    for pattern, names in matched.items():
        if names:
            log.info("quantize.exclude_nodes %r keeps %d node(s) in float: %s", pattern, len(names), names)
    return FloatNodes(patterns=config.exclude_nodes, matched=matched, stem=stem, head=head)


def _scope(node: onnx.NodeProto) -> str:
    """The torch module path the dynamo exporter records (its node names carry none)."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                parts = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return str(prop.value)
            return "/".join(str(p) for p in parts if p)
    return ""


def _matches(pattern: re.Pattern[str], node: onnx.NodeProto) -> bool:
    return bool(pattern.search(node.name) or pattern.search(_scope(node)))


@dataclass(frozen=True)
class QuantizeRequest:
    prepared: Path
    ranges: Path
    method: CalibrationMethodName
    config: QuantizeConfig
    float_nodes: FloatNodes


def quantize(request: QuantizeRequest, recipe: QuantRecipe, out_path: Path) -> None:
    """``quantize_static`` from the ranges file, then drop opset imports no node uses."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    activation = QuantType.QInt8 if recipe.activation == "int8" else QuantType.QUInt8
    extra: dict[str, Any] = {
        "ActivationSymmetric": recipe.symmetric_activations,
        "WeightSymmetric": True,
        "QuantizeBias": recipe.quantize_bias,
    }
    try:
        with library_output_contained(log, f"quantize_static ({recipe.path})"):
            quantize_static(
                str(request.prepared),
                str(out_path),
                calibration_data_reader=None,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(request.config.op_types) if request.config.op_types else None,
                per_channel=request.config.per_channel,
                reduce_range=request.config.reduce_range,
                activation_type=activation,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=list(request.float_nodes.nodes),
                calibrate_method=ort_method(request.method),
                extra_options=extra,
                calibration_cache_path=str(request.ranges),
            )
    except Exception as err:  # the quantizer raises ValueError/KeyError/onnx errors on odd graphs
        raise UsageError(
            f"quantize: onnxruntime could not quantize the model for {recipe.path} "
            f"({describe_exception(err)}); keep the node it names in float with "
            "quantize.exclude_nodes, or limit quantize.op_types"
        ) from err
    drop_unused_opsets(out_path)


def drop_unused_opsets(path: Path) -> None:
    """quant_pre_process declares every ORT domain; a parser on the device needs only the used ones."""
    model = onnx.load(str(path))
    used = {n.domain for n in model.graph.node} | {""}
    kept = [o for o in model.opset_import if o.domain in used or (o.domain == "ai.onnx" and "" in used)]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.save(model, str(path))


__all__ = [
    "CPU_ONLY",
    "INT8_CPU_MODEL",
    "INT8_MODEL",
    "INT8_OPENVINO_MODEL",
    "OPENVINO_ONLY",
    "PORTABLE",
    "FloatNodes",
    "PreparedGraph",
    "QuantRecipe",
    "QuantizeRequest",
    "check_op_types",
    "drop_unused_opsets",
    "prepare_for_quantization",
    "quant_recipes",
    "quantize",
    "select_float_nodes",
]
