"""The INT8 half of a model brought as ONNX (``onnx_build.py``), when ``[calibration]`` is set.

    inputs  (before anything is written) calibration candidates, refused if any is a
            held-out image → seeded draw → decoded, preprocessed by edge.preprocess
    build   quant_pre_process → nodes kept in float: quantize.exclude_nodes (detection
            head decode, DFL, NMS by name), the first and last Conv, and for detection and
            anomaly models the decode tail (every node after the last Conv/Gemm/MatMul:
            box decoding, sigmoid scores, score maps) → ranges → Q/DQ (model.int8.onnx,
            TensorRT-valid) → Q/DQ checks → the task's accuracy gate (exit 5) → speed

Kept apart from ``int8.py``, whose gates read class logits: these read boxes and scores.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from lepton.calibration.config import CalibrationConfig
from lepton.calibration.index import write_index
from lepton.calibration.ranges import RangeComputationError, compute_ranges
from lepton.calibration.sampling import (
    CalibrationSet,
    check_disjoint,
    draw_samples,
    find_candidates,
    load_calibration_set,
)
from lepton.edge.bundle.manifest import CalibrationInfo, CheckResult, Manifest
from lepton.export.config import ExportConfig, QuantizeConfig, SpeedConfig
from lepton.export.errors import GateFailed, SpeedFailed
from lepton.export.int8 import INDEX_FILE, RANGES_FILE
from lepton.export.onnx_gates import (
    HeldOut,
    Models,
    accuracy_check,
    gate_anomaly,
    gate_detection,
    gate_top1,
    raise_if_failed,
)
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.stages.bundle import ModelFile
from lepton.export.stages.qdq_checks import check_qdq, graph_outputs_of
from lepton.export.stages.quantize import (
    INT8_MODEL,
    PORTABLE,
    FloatNodes,
    QuantizeRequest,
    check_op_types,
    prepare_for_quantization,
    quantize,
    select_float_nodes,
)
from lepton.export.stages.speed import measure_speed
from lepton.export.stages.task_eval import RunNamed, hashes_of, usage_errors
from lepton.export.stages.toolchain import read_cpu_flags
from lepton.export.task_config import AnomalyConfig, DetectionConfig

log = logging.getLogger(__name__)

DECODE_TAIL = "(decode tail: after the last Conv/Gemm/MatMul)"
_COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass(frozen=True)
class OnnxInt8Inputs:
    calibration: CalibrationConfig
    quantize: QuantizeConfig
    speed: SpeedConfig
    data: CalibrationSet


def read_onnx_int8_inputs(config: ExportConfig, held: HeldOut, progress: bool) -> OnnxInt8Inputs | None:
    """The calibration set, disjoint from the held-out images; None without ``[calibration]``."""
    if config.calibration is None:
        return None
    assert config.quantize is not None and config.speed is not None  # defaulted with [calibration]
    check_op_types(config.quantize)
    held_out = hashes_of(held.paths) if held.judge == "labels" else {}
    with usage_errors():
        candidates = find_candidates(config.calibration)
        check_disjoint(candidates, held_out, f"[{config.model.task}.evaluation]")
        chosen = draw_samples(candidates, config.calibration)
        data = load_calibration_set(
            candidates, chosen, config.calibration, (config.preprocess, config.input.spec()), progress
        )
    calibration = config.calibration
    if calibration.batch > config.input.batch_max:  # e.g. Ultralytics' default export: static batch 1
        log.info("calibration.batch %d > the graph's batch %d: calibrating %d at a time",
                 calibration.batch, config.input.batch_max, config.input.batch_max)  # fmt: skip
        calibration = calibration.model_copy(update={"batch": config.input.batch_max})
    return OnnxInt8Inputs(calibration, config.quantize, config.speed, data)


def decode_tail(path: Path) -> tuple[str, ...]:
    """Nodes no Conv/Gemm/MatMul depends on: the box decoding, sigmoids and maps at a model's end."""
    graph = onnx.load(str(path), load_external_data=False).graph
    nodes = list(graph.node)
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    feeds_compute = [False] * len(nodes)  # by position: node names may be empty
    for index in reversed(range(len(nodes))):  # topological order: consumers come later
        feeds_compute[index] = any(
            nodes[c].op_type in _COMPUTE or feeds_compute[c]
            for out in nodes[index].output
            for c in consumers.get(out, [])
        )
    return tuple(
        n.name for i, n in enumerate(nodes) if n.name and n.op_type not in _COMPUTE and not feeds_compute[i]
    )


@dataclass(frozen=True)
class OnnxInt8Build:
    models: tuple[ModelFile, ...]
    checks: tuple[CheckResult, ...]
    golden_runner: RunNamed
    calibration_files: tuple[str, ...]
    manifest_calibration: CalibrationInfo
    report: dict[str, object]
    warnings: tuple[str, ...]


def build_onnx_int8(
    stage: Path,
    config: ExportConfig,
    inputs: OnnxInt8Inputs,
    draft: Manifest,
    held: HeldOut,
    fp32: tuple[Path, RunNamed, tuple[CheckResult, ...]],
    progress: bool,
) -> OnnxInt8Build:
    fp32_path, fp32_run, fp32_checks = fp32
    names = tuple(o.name for o in draft.outputs)
    with tempfile.TemporaryDirectory(prefix="lepton-int8.") as tmp:
        prepared = prepare_for_quantization(fp32_path, Path(tmp) / "prepared.onnx")
        float_nodes = select_float_nodes(prepared.path, inputs.quantize)
        if draft.decoder.kind != "classification":
            float_nodes = replace(
                float_nodes, matched={**float_nodes.matched, DECODE_TAIL: decode_tail(prepared.path)}
            )
        try:
            ranges = compute_ranges(
                prepared.path,
                config.input.name,
                inputs.data.tensor,
                inputs.calibration,
                stage / RANGES_FILE,
                progress,
            )
        except RangeComputationError as err:
            raise GateFailed(
                f"calibration: onnxruntime's {inputs.calibration.method} calibrator failed on "
                f"{fp32_path.name} ({err}); try calibration.method = 'minmax', or report it",
                checks=fp32_checks,
            ) from err
        write_index(stage / INDEX_FILE, inputs.data.index)
        request = QuantizeRequest(
            prepared.path, ranges.path, inputs.calibration.method, inputs.quantize, float_nodes
        )
        quantize(request, PORTABLE, stage / INT8_MODEL)
        try:
            qdq = check_qdq(stage / INT8_MODEL, PORTABLE, graph_outputs_of(prepared.path, float_nodes.nodes))
        except GateFailed as err:
            raise GateFailed(str(err), checks=fp32_checks + err.checks) from err
    log.info("quantized %s; %d node(s) kept in float", INT8_MODEL, len(float_nodes.nodes))
    int8 = OrtCpuModel.load(stage / INT8_MODEL, config.input.name, draft.decoder.output)

    def int8_run(batch: np.ndarray) -> dict[str, np.ndarray]:
        return int8.run_named(batch, names)

    models = Models(
        fp32_run, int8_run, INT8_MODEL, config.input.batch_max, (config.preprocess, config.input.spec())
    )
    checks = (*fp32_checks, _calibration_check(inputs), qdq.as_check())
    accuracy, failure, details = _accuracy(config, draft, held, models)
    checks += (accuracy,)
    raise_if_failed(accuracy, failure, checks)
    speed = measure_speed(
        (fp32_path, stage / INT8_MODEL), (config.input.name, draft.decoder.output),
        inputs.data.tensor[np.arange(inputs.speed.batch or config.input.batch_opt) % len(inputs.data.tensor)],
        inputs.speed, (PORTABLE.key, INT8_MODEL), read_cpu_flags(),
    )  # fmt: skip
    checks += (speed.as_check(),)
    if not speed.passed:
        raise SpeedFailed(
            f"speed gate: {INT8_MODEL} runs at {speed.ratio:.2f}x FP32 on ORT CPU, below speed.fail_below = "
            f"{speed.fail_below}; ship FP32 for this target (--no-int8) or remove speed.fail_below",
            checks=checks,
        )
    return OnnxInt8Build(
        models=(ModelFile(INT8_MODEL, "int8", _opset(stage / INT8_MODEL)),),
        checks=checks[len(fp32_checks) :],
        golden_runner=int8_run,
        calibration_files=(RANGES_FILE, INDEX_FILE),
        manifest_calibration=_manifest_calibration(inputs, float_nodes),
        report={
            "accuracy": details,
            "qdq": qdq.model_dump(mode="json"),
            "speed": speed.model_dump(mode="json"),
            "float_nodes": list(float_nodes.nodes),
        },
        warnings=(speed.warning,) if speed.warning else (),
    )


def _accuracy(
    config: ExportConfig, draft: Manifest, held: HeldOut, models: Models
) -> tuple[CheckResult, str, dict[str, object]]:
    if draft.decoder.kind == "detection":
        det = gate_detection(held, draft, config.detection or DetectionConfig(), models)
        return accuracy_check(det), det.failure(), det.model_dump(mode="json")
    if draft.decoder.kind == "anomaly":
        ano = gate_anomaly(held, draft, config.anomaly or AnomalyConfig(), models)
        return accuracy_check(ano), ano.failure(), ano.model_dump(mode="json")
    minimum = config.int8_parity.top1_agreement_min if config.int8_parity else 0.97
    check = gate_top1(held, draft.decoder.output, minimum, models)
    failure = f"{INT8_MODEL}: top-1 agreement with FP32 {check.measured['top1_agreement']:.3f} < {minimum}"
    return check, failure, check.model_dump(mode="json")


def _opset(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _calibration_check(inputs: OnnxInt8Inputs) -> CheckResult:
    index = inputs.data.index
    return CheckResult(
        name="calibration",
        passed=True,
        measured={"samples": float(len(index.samples)), "available": float(index.available)},
        detail=f"seeded draw (seed {index.seed}) preprocessed by edge.preprocess; "
        f"index sha256 {index.samples_sha256}",
    )


def _manifest_calibration(inputs: OnnxInt8Inputs, float_nodes: FloatNodes) -> CalibrationInfo:
    c = inputs.calibration
    return CalibrationInfo(
        n=len(inputs.data.index.samples),
        batch=c.batch,
        method=c.method,
        seed=c.seed,
        index_sha256=inputs.data.index.samples_sha256,
        index_file=INDEX_FILE,
        ranges_file=RANGES_FILE,
        excluded_patterns=float_nodes.patterns,
        float_nodes=float_nodes.nodes,
        allow_small=c.allow_small,
    )


__all__ = [
    "DECODE_TAIL",
    "OnnxInt8Build",
    "OnnxInt8Inputs",
    "build_onnx_int8",
    "decode_tail",
    "read_onnx_int8_inputs",
]
