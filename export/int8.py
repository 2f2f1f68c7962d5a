"""The INT8 half of a PyTorch export, called by ``pipeline.py`` when ``[calibration]`` is set.

    inputs   (before any model code) evaluation set found and hashed → the calibration set,
             disjoint from it (``int8_core.draw_calibration``)
    build    (in the staging directory, after the FP32 gates passed) every INT8 file made and
             checked (``int8_core.quantize_all``) → FP32 and INT8 over the evaluation set →
             tensor agreement gate (exit 4) → accuracy gate (exit 5) → speed and what ships
             (``int8_core.time_and_ship``) → plots

This module holds what judges class logits (tensor agreement, top-1 accuracy, the confusion
plots); the steps a model brought as ONNX shares are in ``int8_core.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lepton.calibration.evaluation import EvaluationSet, find_evaluation_set
from lepton.edge.bundle.manifest import CalibrationInfo, CheckResult
from lepton.edge.preprocess import Tensor
from lepton.export.config import ExportConfig, Int8Plan
from lepton.export.errors import AccuracyFailed, Int8ParityFailed
from lepton.export.int8_core import (
    INDEX_FILE,
    RANGES_FILE,
    Int8Job,
    Int8Source,
    Quantized,
    check_key,
    draw_calibration,
    golden_key,
    manifest_calibration,
    quantize_all,
    recorded_index,
    time_and_ship,
)
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.progress import StageProgress
from lepton.export.runner import Runner
from lepton.export.stages.accuracy import AccuracyResult, measure_accuracy
from lepton.export.stages.bundle import ModelFile
from lepton.export.stages.evaluate import EvaluationOutputs, Int8Runners, run_evaluation, run_on_samples
from lepton.export.stages.graph_checks import GraphExpectation
from lepton.export.stages.int8_parity import Int8ParityResult, measure_int8_parity
from lepton.export.stages.int8_report import (
    CalibrationSummary,
    Int8Report,
    QuantizeSummary,
    RecipeSummary,
)
from lepton.export.stages.onnx_export import OPSET
from lepton.export.stages.plots import CONFUSION_PLOT, SCORES_PLOT, plot_confusion, plot_scores
from lepton.export.stages.quantize import QuantRecipe
from lepton.export.stages.reports import recorded_path
from lepton.export.stages.speed import SpeedResult
from lepton.export.stages.task_eval import usage_errors
from lepton.export.stages.toolchain import read_cpu_flags

log = logging.getLogger(__name__)

EVALUATION_IMAGES_MIN = 1000
"""Below this the accuracy interval is too wide to mean much (notes §7); a warning, not an error."""


@dataclass(frozen=True)
class Int8Inputs:
    plan: Int8Plan
    labels: tuple[str, ...]
    evaluation: EvaluationSet | None
    """None with ``evaluation = false``: the tensor gates run on the [samples] images."""
    job: Int8Job


SKIPPED_WITHOUT_EVALUATION = {
    "accuracy_int8": "evaluation = false: no labelled data, so no held-out top-1 accuracy gate "
    "(tensor agreement ran on the [samples] images instead)",
}
"""Gate (check-name prefix) → why it did not run; named in reports/int8.json, summary.md and --json."""


@dataclass(frozen=True)
class Int8Build:
    """What the INT8 stages add to the bundle, once every INT8 gate passed."""

    models: tuple[ModelFile, ...]
    checks: tuple[CheckResult, ...]
    """The INT8 checks only (the FP32 ones are the pipeline's), speed aside."""
    speed: tuple[SpeedResult, ...]
    """Measured on this machine, so in ``build.json``, not in the reproducible manifest: each
    shipped file at ``speed.threads``, and the daemon's ORT CPU pick (key ``ort_cpu_pick``)
    at every ``speed.also_threads`` count."""
    golden_runners: tuple[tuple[str, Runner], ...]
    """(golden key, runner): "int8" for the general file, the path of each backend-specific one."""
    calibration_files: tuple[str, ...]
    manifest_calibration: CalibrationInfo
    report: Int8Report
    warnings: tuple[str, ...]
    skipped: dict[str, str]
    """Gates that did not run (check name → why)."""


def read_int8_inputs(config: ExportConfig, labels: tuple[str, ...], progress: bool) -> Int8Inputs | None:
    """Every INT8 input checked and loaded before any model code runs; None without [calibration]."""
    plan = config.int8
    if plan is None:
        return None
    evaluation: EvaluationSet | None = None
    if plan.evaluation is not None:
        with usage_errors():
            evaluation = find_evaluation_set(plan.evaluation.dir, labels, "evaluation.dir")
    held_out = evaluation.by_sha256() if evaluation is not None else {}
    where = f"evaluation.dir {plan.evaluation.dir}" if plan.evaluation is not None else ""
    job = draw_calibration(config, held_out, where, progress)
    assert job is not None  # config.int8 is set
    if evaluation is None:
        log.warning("evaluation = false: the INT8 accuracy gate is skipped (no labelled data)")
    elif len(evaluation.items) < EVALUATION_IMAGES_MIN:
        log.warning(
            "evaluation.dir %s has %d images (< %d): the accuracy interval will be wide",
            evaluation.root,
            len(evaluation.items),
            EVALUATION_IMAGES_MIN,
        )
    log.info(
        "INT8: %d calibration samples of %d candidates (index %s…); %s",
        len(job.data.index.samples),
        job.candidates,
        job.data.index.samples_sha256[:12],
        f"{len(evaluation.items)} evaluation images" if evaluation else "no evaluation set",
    )
    return Int8Inputs(plan=plan, labels=labels, evaluation=evaluation, job=job)


def build_int8(
    stage: Path,
    config: ExportConfig,
    inputs: Int8Inputs,
    fp32: tuple[Path, OrtCpuModel],
    fp32_checks: tuple[CheckResult, ...],
    samples: Tensor,
    progress: StageProgress,
) -> Int8Build:
    """Quantize, check and gate every INT8 artefact in ``stage``; raise on the first failed gate.

    ``samples`` (the [samples] images, preprocessed) stand in for the evaluation set when
    there is none (``evaluation = false``): tensor agreement needs images, not labels.
    """
    plan, job = inputs.plan, inputs.job
    spec = config.input.spec()
    expectation = GraphExpectation(
        config.input.name, config.output.name, spec.height, spec.width, len(inputs.labels), spec.batch_max > 1
    )
    source = Int8Source(fp32[0], config.output.name, expectation=expectation)
    quantized = quantize_all(stage, config, job, source, fp32_checks, progress)
    recipes = quantized.recipes
    checks = quantized.checks(job)
    names = (config.input.name, config.output.name)
    fused = {r.key: OrtCpuModel.load(stage / r.path, *names, optimized=r.ort_cpu_fuses) for r in recipes}
    runners = {r.key: Int8Runners(fused[r.key].run, _reference(stage / r.path, names)) for r in recipes}
    progress.stage("INT8 vs FP32 on the evaluation images")
    batch = (plan.evaluation.batch if plan.evaluation else None) or config.input.batch_max
    if inputs.evaluation is not None:
        outputs = run_evaluation(
            inputs.evaluation,
            (config.preprocess, spec),
            fp32[1].run,
            runners,
            batch,
            plan.parity.kernel_check_images,
            progress.enabled,
        )
    else:
        outputs = run_on_samples(samples, fp32[1].run, runners, batch, plan.parity.kernel_check_images)
    parity = tuple(
        measure_int8_parity(
            (r.key, r.path), outputs.fp32, outputs.int8[r.key], outputs.reference[r.key], plan.parity
        )
        for r in recipes
    )
    accuracy = tuple(
        measure_accuracy(
            (r.key, r.path),
            inputs.labels,
            outputs.targets,
            (outputs.fp32, outputs.int8[r.key]),
            plan.evaluation,
        )
        for r in recipes
        if plan.evaluation is not None
    )
    skipped = {} if plan.evaluation is not None else _skipped_accuracy(recipes)
    checks += (*(p.as_check() for p in parity), *(a.as_check() for a in accuracy))
    _gate_int8(parity, accuracy, fp32_checks + checks)
    shipped = time_and_ship(stage, config, job, source, fp32_checks + checks, progress)
    kept = shipped.keys
    plots: tuple[str, ...] = ()
    if config.export.plots:
        progress.stage("plots")
        plots = _plot(stage, inputs.labels, outputs, accuracy, {r.key: r.path for r in recipes})
    results = (_kept(parity, kept), _kept(accuracy, kept))
    report = _report(config, inputs, quantized, results, plots, skipped)
    return Int8Build(
        models=shipped.models(OPSET),
        checks=shipped.kept_checks(checks, quantized),
        speed=shipped.speed,
        golden_runners=tuple((golden_key(r), fused[r.key].run) for r in shipped.recipes),
        calibration_files=(RANGES_FILE, INDEX_FILE),
        manifest_calibration=manifest_calibration(job, quantized.float_nodes),
        report=report,
        warnings=shipped.warnings,
        skipped={k: v for k, v in skipped.items() if check_key(k, recipes) in kept},
    )


_Keyed = TypeVar("_Keyed", Int8ParityResult, AccuracyResult)


def _kept(results: tuple[_Keyed, ...], kept: set[str]) -> tuple[_Keyed, ...]:
    return tuple(r for r in results if r.key in kept)


def _skipped_accuracy(recipes: tuple[QuantRecipe, ...]) -> dict[str, str]:
    (reason,) = SKIPPED_WITHOUT_EVALUATION.values()
    return {f"accuracy_{r.key}": reason for r in recipes}


def _reference(path: Path, names: tuple[str, str]) -> Runner:
    return OrtCpuModel.load(path, *names, optimized=False).run


def _gate_int8(
    parity: tuple[Int8ParityResult, ...],
    accuracy: tuple[AccuracyResult, ...],
    checks: tuple[CheckResult, ...],
) -> None:
    """Tensor agreement first (exit 4): a broken graph also fails accuracy, and 4 names the cause."""
    for p in parity:
        if not p.passed:
            raise Int8ParityFailed(
                f"INT8 parity gate: {p.artifact} disagrees with model.fp32.onnx on {p.samples} "
                f"evaluation images: {p.failures()}; keep the offending nodes in float "
                "(quantize.exclude_nodes), try calibration.method, or ship FP32 (--no-int8)",
                checks=checks,
            )
    for a in accuracy:
        if not a.passed:
            raise AccuracyFailed(
                f"accuracy gate: {a.failure()}; keep sensitive nodes in float (quantize.exclude_nodes), "
                "try another calibration.method or more calibration samples, or ship FP32 (--no-int8)",
                checks=checks,
            )


def _plot(
    stage: Path,
    labels: tuple[str, ...],
    outputs: EvaluationOutputs,
    accuracy: tuple[AccuracyResult, ...],
    paths: dict[str, str],
) -> tuple[str, ...]:
    plot_scores(stage / SCORES_PLOT, labels, outputs.fp32, {paths[k]: v for k, v in outputs.int8.items()})
    if not accuracy:  # no labels (evaluation = false): nothing to confuse
        return (SCORES_PLOT,)
    matrices = {"model.fp32.onnx": accuracy[0].confusion_fp32} | {
        a.artifact: a.confusion_int8 for a in accuracy
    }
    plot_confusion(stage / CONFUSION_PLOT, labels, matrices)
    return (SCORES_PLOT, CONFUSION_PLOT)


def _report(
    config: ExportConfig,
    inputs: Int8Inputs,
    quantized: Quantized,
    results: tuple[tuple[Int8ParityResult, ...], tuple[AccuracyResult, ...]],
    plots: tuple[str, ...],
    skipped: dict[str, str],
) -> Int8Report:
    plan, index = inputs.plan, recorded_index(inputs.job.data.index, config)
    parity, accuracy = results
    evaluation = inputs.evaluation
    return Int8Report(
        evaluation_dir=recorded_path(evaluation.root, config.base_dir) if evaluation else None,
        evaluation_images=len(evaluation.items) if evaluation else 0,
        skipped_gates=skipped,
        calibration=CalibrationSummary(
            samples=len(index.samples),
            requested=index.requested,
            available=index.available,
            allow_small=index.allow_small,
            seed=index.seed,
            method=inputs.job.calibration.method,
            batch=inputs.job.calibration.batch,
            index_file=INDEX_FILE,
            index_sha256=index.samples_sha256,
            ranges_file=RANGES_FILE,
            ranges_tensors=quantized.ranges.tensors,
            sources=index.sources,
            symbolic_shape_inference=quantized.prepared.symbolic_shapes,
        ),
        quantize=QuantizeSummary(
            recipes=tuple(
                RecipeSummary(
                    key=r.key, path=r.path, description=r.description, trt_compatible=r.trt_compatible
                )
                for r in quantized.recipes  # every file made: graphs and parity name dropped ones too
            ),
            per_channel=plan.quantize.per_channel,
            reduce_range=plan.quantize.reduce_range,
            op_types=plan.quantize.op_types,
            exclude_patterns=quantized.float_nodes.patterns,
            float_nodes=quantized.float_nodes.nodes,
            float_stem=quantized.float_nodes.stem,
            float_head=quantized.float_nodes.head,
        ),
        graphs=quantized.graphs,
        parity=parity,
        accuracy=accuracy,
        cpu_flags=read_cpu_flags(),
        plots=plots,
    )


__all__ = [
    "EVALUATION_IMAGES_MIN",
    "INDEX_FILE",
    "RANGES_FILE",
    "Int8Build",
    "Int8Inputs",
    "build_int8",
    "read_int8_inputs",
]
