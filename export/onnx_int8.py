"""The INT8 half of a model brought as ONNX (``onnx_build.py``), when ``[calibration]`` is set.

    inputs  the calibration set, disjoint from the held-out images (``int8_core``), its batch
            fitted to the graph's
    build   every INT8 file made and checked (``int8_core.quantize_all``) with, for detection
            and anomaly models, the decode tail kept in float (every node after the last
            Conv/Gemm/MatMul: box decoding, sigmoid scores, score maps; quantize.exclude_nodes
            keeps DFL and NMS by name) → the task's accuracy gate on each file (exit 5) →
            speed and what ships (``int8_core.time_and_ship``)

This module holds what judges boxes and scores (through the daemon's decoder); the steps a
PyTorch export shares are in ``int8_core.py``. Without labelled data (no evaluation table,
or ``evaluation = false``) INT8 is judged against FP32's own outputs, and the labelled gate
that did not run is named in the report and ``--json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import onnx

from lepton.edge.bundle.manifest import CalibrationInfo, CheckResult, Manifest
from lepton.edge.engines.base import Outputs
from lepton.edge.preprocess import Tensor
from lepton.export.config import ExportConfig
from lepton.export.int8_core import (
    INDEX_FILE,
    RANGES_FILE,
    Int8Job,
    Int8Source,
    draw_calibration,
    golden_key,
    manifest_calibration,
    quantize_all,
    time_and_ship,
)
from lepton.export.onnx_gates import (
    HeldOut,
    Models,
    accuracy_check,
    gate_anomaly,
    gate_detection,
    gate_top1,
    labelled_top1,
    raise_if_failed,
)
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.progress import StageProgress
from lepton.export.stages.bundle import ModelFile
from lepton.export.stages.quantize import INT8_MODEL, QuantRecipe
from lepton.export.stages.speed import SpeedResult
from lepton.export.stages.task_eval import RunNamed, hashes_of
from lepton.export.task_config import AnomalyConfig, DetectionConfig

log = logging.getLogger(__name__)

DECODE_TAIL = "(decode tail: after the last Conv/Gemm/MatMul)"
_COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_LABELLED_METRIC = {
    "detection": "mAP@0.5 and mAP@0.5:0.95 drop",
    "anomaly": "AUROC and F1 drop",
    "classification": "top-1 accuracy drop",
}


def read_onnx_int8_inputs(config: ExportConfig, held: HeldOut, progress: bool) -> Int8Job | None:
    """The calibration set, disjoint from the held-out images; None without ``[calibration]``."""
    held_out = hashes_of(held.paths) if held.judge == "labels" else {}
    key = "evaluation.dir" if config.model.task == "classification" else f"[{config.model.task}.evaluation]"
    job = draw_calibration(config, held_out, key, progress)
    if job is None or job.calibration.batch <= config.input.batch_max:
        return job
    # e.g. Ultralytics' default export: static batch 1
    log.info("calibration.batch %d > the graph's batch %d: calibrating %d at a time",
             job.calibration.batch, config.input.batch_max, config.input.batch_max)  # fmt: skip
    return replace(job, calibration=job.calibration.model_copy(update={"batch": config.input.batch_max}))


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
    speed: tuple[SpeedResult, ...]
    """For ``build.json``, as a PyTorch export's."""
    golden_runners: tuple[tuple[str, RunNamed], ...]
    """(golden key, runner): "int8" for the general file, the path of each backend-specific one."""
    calibration_files: tuple[str, ...]
    manifest_calibration: CalibrationInfo
    report: dict[str, object]
    warnings: tuple[str, ...]
    skipped: dict[str, str]
    """Gates that did not run (gate → why): the labelled one, without labelled data."""


def build_onnx_int8(
    stage: Path,
    config: ExportConfig,
    job: Int8Job,
    draft: Manifest,
    held: HeldOut,
    fp32: tuple[Path, RunNamed, tuple[CheckResult, ...]],
    progress: StageProgress,
) -> OnnxInt8Build:
    """Quantize, check and gate every INT8 file in ``stage``; raise on the first failed gate."""
    fp32_path, fp32_run, fp32_checks = fp32
    tail = draft.decoder.kind != "classification"
    source = Int8Source(fp32_path, draft.decoder.output, extra_float=_decode_tail_in_float if tail else None)
    quantized = quantize_all(stage, config, job, source, fp32_checks, progress)
    checks = quantized.checks(job)
    names = tuple(o.name for o in draft.outputs)
    runs = {
        r.key: _named_runner(stage / r.path, config, draft.decoder.output, names, r.ort_cpu_fuses)
        for r in quantized.recipes
    }
    details: dict[str, object] = {}
    for recipe in quantized.recipes:
        progress.stage(f"accuracy of {recipe.path}")
        models = Models(
            fp32_run,
            runs[recipe.key],
            recipe.path,
            config.input.batch_max,
            (config.preprocess, config.input.spec()),
        )
        check, failure, details[recipe.path] = _accuracy(config, draft, held, models, recipe.key)
        checks += (check.model_copy(update={"name": f"accuracy_{recipe.key}"}),)
        raise_if_failed(checks[-1], failure, fp32_checks + checks)
    shipped = time_and_ship(stage, config, job, source, fp32_checks + checks, progress)
    skipped = _skipped(config, draft, held, shipped.recipes)
    return OnnxInt8Build(
        models=shipped.models(_opset(stage / INT8_MODEL)),
        checks=shipped.kept_checks(checks, quantized),
        speed=shipped.speed,
        golden_runners=tuple((golden_key(r), runs[r.key]) for r in shipped.recipes),
        calibration_files=(RANGES_FILE, INDEX_FILE),
        manifest_calibration=manifest_calibration(job, quantized.float_nodes),
        report={
            "accuracy": {r.path: details[r.path] for r in shipped.recipes},
            "qdq": [g.model_dump(mode="json") for g in quantized.graphs],
            "float_nodes": list(quantized.float_nodes.nodes),
            "skipped_gates": skipped,
        },
        warnings=shipped.warnings,
        skipped=skipped,
    )


def _decode_tail_in_float(prepared: Path) -> dict[str, tuple[str, ...]]:
    return {DECODE_TAIL: decode_tail(prepared)}


def _named_runner(
    path: Path, config: ExportConfig, output: str, names: tuple[str, ...], optimized: bool
) -> RunNamed:
    model = OrtCpuModel.load(path, config.input.name, output, optimized=optimized)

    def run(batch: Tensor) -> Outputs:
        return model.run_named(batch, names)

    return run


def _skipped(
    config: ExportConfig, draft: Manifest, held: HeldOut, recipes: tuple[QuantRecipe, ...]
) -> dict[str, str]:
    """The labelled gate, named as not run when INT8 was judged against FP32 alone."""
    if held.judge == "labels":
        return {}
    task = draft.decoder.kind
    if config.skip_evaluation:
        why = "evaluation = false: no labelled data"
    else:
        table = "evaluation" if task == "classification" else f"{task}.evaluation"
        why = f"no [{table}] table: no labelled data"
    return {
        f"accuracy_{r.key}_labelled": f"{why}, so no held-out {_LABELLED_METRIC[task]} gate "
        f"(accuracy_{r.key} judged {r.path} against FP32's own outputs on the [samples] images)"
        for r in recipes
    }


def _accuracy(
    config: ExportConfig, draft: Manifest, held: HeldOut, models: Models, key: str
) -> tuple[CheckResult, str, dict[str, object]]:
    if draft.decoder.kind == "detection":
        det = gate_detection(held, draft, config.detection or DetectionConfig(), models)
        return accuracy_check(det), det.failure(), det.model_dump(mode="json")
    if draft.decoder.kind == "anomaly":
        ano = gate_anomaly(held, draft, config.anomaly or AnomalyConfig(), models)
        return accuracy_check(ano), ano.failure(), ano.model_dump(mode="json")
    if held.judge == "labels":
        assert config.evaluation is not None  # find_held_out judges by labels only with it
        top1 = labelled_top1(held, draft, config.evaluation, models, key)
        return top1.as_check(), top1.failure(), top1.model_dump(mode="json")
    minimum = config.int8_parity.top1_agreement_min if config.int8_parity else 0.97
    check = gate_top1(held, draft.decoder.output, minimum, models)
    failure = (
        f"{models.artifact}: top-1 agreement with FP32 {check.measured['top1_agreement']:.3f} < {minimum}"
    )
    return check, failure, check.model_dump(mode="json")


def _opset(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


__all__ = [
    "DECODE_TAIL",
    "OnnxInt8Build",
    "build_onnx_int8",
    "decode_tail",
    "read_onnx_int8_inputs",
]
