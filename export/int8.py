"""The INT8 half of the export sequence, called by ``pipeline.py`` when ``[calibration]`` is set.

    inputs   (before any model code) quantize.op_types checked → evaluation set found and
             hashed → calibration candidates found and hashed, refused if any is also an
             evaluation image → seeded draw → decoded and preprocessed by edge.preprocess
    build    (in the staging directory, after the FP32 gates passed)
             quant_pre_process → nodes kept in float → ranges (calib/ranges.json) and the
             sample index (calib/index.json) → quantize each artefact → graph and Q/DQ checks
             → FP32 and INT8 over the evaluation set → tensor agreement gate (exit 4)
             → accuracy gate (exit 5) → speed (warning; exit 6 only with speed.fail_below)
             → plots

Kept apart from ``pipeline.py`` so each reads as one sequence; like it, this module only
wires stages together. Calibration-package errors become ``UsageError`` here, where we call it.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lepton.calibration.config import MIN_CALIBRATION_SAMPLES
from lepton.calibration.errors import CalibrationDataError
from lepton.calibration.evaluation import EvaluationSet, find_evaluation_set
from lepton.calibration.index import CalibrationIndex, write_index
from lepton.calibration.ranges import RangeComputationError, RangesSummary, compute_ranges
from lepton.calibration.sampling import (
    CalibrationSet,
    check_disjoint,
    draw_samples,
    find_candidates,
    load_calibration_set,
)
from lepton.edge.bundle.manifest import CalibrationInfo, CheckResult
from lepton.export.config import ExportConfig, Int8Plan
from lepton.export.errors import AccuracyFailed, GateFailed, Int8ParityFailed, SpeedFailed, UsageError
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.runner import Runner
from lepton.export.stages.accuracy import AccuracyResult, measure_accuracy
from lepton.export.stages.bundle import ModelFile
from lepton.export.stages.evaluate import EvaluationOutputs, Int8Runners, run_evaluation
from lepton.export.stages.graph_checks import GraphExpectation, check_graph
from lepton.export.stages.int8_parity import Int8ParityResult, measure_int8_parity
from lepton.export.stages.int8_report import (
    CalibrationSummary,
    Int8Report,
    QuantizeSummary,
    RecipeSummary,
)
from lepton.export.stages.onnx_export import OPSET
from lepton.export.stages.plots import CONFUSION_PLOT, SCORES_PLOT, plot_confusion, plot_scores
from lepton.export.stages.qdq_checks import QdqReport, check_qdq, graph_outputs_of
from lepton.export.stages.quantize import (
    FloatNodes,
    PreparedGraph,
    QuantizeRequest,
    QuantRecipe,
    check_op_types,
    prepare_for_quantization,
    quant_recipes,
    quantize,
    select_float_nodes,
)
from lepton.export.stages.reports import recorded_path
from lepton.export.stages.speed import Int8File, SpeedResult, measure_engine_speeds, plan_speed_candidates
from lepton.export.stages.toolchain import read_cpu_flags

log = logging.getLogger(__name__)

RANGES_FILE = "calib/ranges.json"
INDEX_FILE = "calib/index.json"
EVALUATION_IMAGES_MIN = 1000
"""Below this the accuracy interval is too wide to mean much (notes §7); a warning, not an error."""


@dataclass(frozen=True)
class Int8Inputs:
    plan: Int8Plan
    evaluation: EvaluationSet
    calibration: CalibrationSet


@dataclass(frozen=True)
class Int8Build:
    """What the INT8 stages add to the bundle, once every INT8 gate passed."""

    models: tuple[ModelFile, ...]
    checks: tuple[CheckResult, ...]
    """The INT8 checks only (the FP32 ones are the pipeline's), speed aside."""
    speed: tuple[SpeedResult, ...]
    """Measured on this machine, so in ``build.json``, not in the reproducible manifest."""
    golden_runners: tuple[tuple[str, Runner], ...]
    """(golden key, runner): "int8" for the general file, the path of each backend-specific one."""
    calibration_files: tuple[str, ...]
    manifest_calibration: CalibrationInfo
    report: Int8Report
    warnings: tuple[str, ...]


@contextlib.contextmanager
def _as_usage_error() -> Iterator[None]:
    try:
        yield
    except CalibrationDataError as err:
        raise UsageError(str(err)) from err


def read_int8_inputs(config: ExportConfig, labels: tuple[str, ...], progress: bool) -> Int8Inputs | None:
    """Every INT8 input checked and loaded before any model code runs; None without [calibration]."""
    plan = config.int8
    if plan is None:
        return None
    check_op_types(plan.quantize)
    with _as_usage_error():
        evaluation = find_evaluation_set(plan.evaluation.dir, labels, "evaluation.dir")
        candidates = find_candidates(plan.calibration)
        check_disjoint(candidates, evaluation.by_sha256(), f"evaluation.dir {plan.evaluation.dir}")
        chosen = draw_samples(candidates, plan.calibration)
        calibration = load_calibration_set(
            candidates, chosen, plan.calibration, (config.preprocess, config.input.spec()), progress
        )
    if len(evaluation.items) < EVALUATION_IMAGES_MIN:
        log.warning(
            "evaluation.dir %s has %d images (< %d): the accuracy interval will be wide",
            plan.evaluation.dir,
            len(evaluation.items),
            EVALUATION_IMAGES_MIN,
        )
    log.info(
        "INT8: %d calibration samples of %d candidates (index %s…); %d evaluation images",
        len(calibration.index.samples),
        len(candidates.items),
        calibration.index.samples_sha256[:12],
        len(evaluation.items),
    )
    return Int8Inputs(plan=plan, evaluation=evaluation, calibration=calibration)


@dataclass(frozen=True)
class _Quantized:
    prepared: PreparedGraph
    float_nodes: FloatNodes
    ranges: RangesSummary
    graphs: tuple[QdqReport, ...]


def build_int8(
    stage: Path,
    config: ExportConfig,
    inputs: Int8Inputs,
    fp32: tuple[Path, OrtCpuModel],
    fp32_checks: tuple[CheckResult, ...],
    progress: bool,
) -> Int8Build:
    """Quantize, check and gate every INT8 artefact in ``stage``; raise on the first failed gate."""
    plan, recipes = inputs.plan, quant_recipes(inputs.plan.quantize)
    try:
        quantized = _quantize_all(stage, config, inputs, fp32[0], recipes, progress)
    except GateFailed as err:  # a graph check: report it with the FP32 checks that passed
        raise GateFailed(str(err), checks=fp32_checks + err.checks) from err
    checks = (_calibration_check(inputs), *(g.as_check() for g in quantized.graphs))
    names = (config.input.name, config.output.name)
    fused = {r.key: OrtCpuModel.load(stage / r.path, *names) for r in recipes}
    outputs = run_evaluation(
        inputs.evaluation,
        (config.preprocess, config.input.spec()),
        fp32[1].run,
        {r.key: Int8Runners(fused[r.key].run, _reference(stage / r.path, names)) for r in recipes},
        plan.evaluation.batch or config.input.batch_max,
        plan.parity.kernel_check_images,
        progress,
    )
    parity = tuple(
        measure_int8_parity(
            (r.key, r.path), outputs.fp32, outputs.int8[r.key], outputs.reference[r.key], plan.parity
        )
        for r in recipes
    )
    accuracy = tuple(
        measure_accuracy(
            (r.key, r.path),
            inputs.evaluation.labels,
            outputs.targets,
            (outputs.fp32, outputs.int8[r.key]),
            plan.evaluation,
        )
        for r in recipes
    )
    checks += (*(p.as_check() for p in parity), *(a.as_check() for a in accuracy))
    _gate_int8(parity, accuracy, fp32_checks + checks)
    speed = _measure_speeds(stage, config, inputs, fp32[0], recipes)
    failed = [s for s in speed if not s.passed]
    if failed:
        checks += tuple(s.as_check() for s in speed)
        raise SpeedFailed(
            f"speed gate: {failed[0].artifact} runs at {failed[0].ratio:.2f}x {failed[0].baseline} "
            f"({failed[0].threads or 'default'} threads), below speed.fail_below = {failed[0].fail_below}; "
            "ship FP32 for this target (--no-int8) or remove speed.fail_below",
            checks=fp32_checks + checks,
        )
    plots = _plot(stage, inputs.evaluation.labels, outputs, accuracy)
    report = _report(config, inputs, quantized, recipes, (parity, accuracy), plots)
    return Int8Build(
        models=tuple(ModelFile(r.path, "int8", OPSET, r.backends) for r in recipes),
        checks=checks,
        speed=speed,
        golden_runners=tuple(
            (r.path if r.backends is not None else "int8", fused[r.key].run) for r in recipes
        ),
        calibration_files=(RANGES_FILE, INDEX_FILE),
        manifest_calibration=_manifest_calibration(inputs, quantized),
        report=report,
        warnings=tuple(s.warning for s in speed if s.warning),
    )


def _quantize_all(
    stage: Path,
    config: ExportConfig,
    inputs: Int8Inputs,
    fp32_path: Path,
    recipes: tuple[QuantRecipe, ...],
    progress: bool,
) -> _Quantized:
    plan = inputs.plan
    with tempfile.TemporaryDirectory(prefix="lepton-int8.") as tmp:
        prepared = prepare_for_quantization(fp32_path, Path(tmp) / "prepared.onnx")
        float_nodes = select_float_nodes(prepared.path, plan.quantize)
        try:
            ranges = compute_ranges(
                prepared.path,
                config.input.name,
                inputs.calibration.tensor,
                plan.calibration,
                stage / RANGES_FILE,
                progress,
            )
        except RangeComputationError as err:
            raise GateFailed(
                f"calibration: onnxruntime's {plan.calibration.method} calibrator failed on "
                f"{fp32_path.name} ({err}); try calibration.method = 'minmax', or report it"
            ) from err
        write_index(stage / INDEX_FILE, _recorded_index(inputs.calibration.index, config))
        request = QuantizeRequest(
            prepared.path, ranges.path, plan.calibration.method, plan.quantize, float_nodes
        )
        float_outputs = graph_outputs_of(prepared.path, float_nodes.nodes)
        spec = config.input.spec()
        expectation = GraphExpectation(
            config.input.name,
            config.output.name,
            spec.height,
            spec.width,
            len(inputs.evaluation.labels),
            spec.batch_max > 1,
        )
        graphs = []
        for recipe in recipes:
            quantize(request, recipe, stage / recipe.path)
            check_graph(stage / recipe.path, expectation, f"graph_{recipe.key}")
            graphs.append(check_qdq(stage / recipe.path, recipe, float_outputs))
            log.info("quantized %s: %s", recipe.path, recipe.description)
    return _Quantized(prepared, float_nodes, ranges, tuple(graphs))


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


def _measure_speeds(
    stage: Path, config: ExportConfig, inputs: Int8Inputs, fp32_path: Path, recipes: tuple[QuantRecipe, ...]
) -> tuple[SpeedResult, ...]:
    speed = inputs.plan.speed
    batch = speed.batch or config.input.batch_opt
    tensor = inputs.calibration.tensor
    files = tuple(Int8File(r.key, stage / r.path, r.backends) for r in recipes)
    candidates = plan_speed_candidates(
        fp32_path, files, config.input.spec(), config.output.name, speed.threads
    )
    return measure_engine_speeds(candidates, tensor[np.arange(batch) % len(tensor)], speed, read_cpu_flags())


def _plot(
    stage: Path, labels: tuple[str, ...], outputs: EvaluationOutputs, accuracy: tuple[AccuracyResult, ...]
) -> tuple[str, ...]:
    plot_scores(
        stage / SCORES_PLOT, labels, outputs.fp32, {a.artifact: outputs.int8[a.key] for a in accuracy}
    )
    matrices = {"model.fp32.onnx": accuracy[0].confusion_fp32} | {
        a.artifact: a.confusion_int8 for a in accuracy
    }
    plot_confusion(stage / CONFUSION_PLOT, labels, matrices)
    return (SCORES_PLOT, CONFUSION_PLOT)


def _calibration_check(inputs: Int8Inputs) -> CheckResult:
    index = inputs.calibration.index
    return CheckResult(
        name="calibration",
        passed=True,
        measured={"samples": len(index.samples), "available": index.available},
        thresholds={"samples_min": MIN_CALIBRATION_SAMPLES},
        detail=f"seeded draw (seed {index.seed}) preprocessed by edge.preprocess; index sha256 "
        f"{index.samples_sha256}"
        + ("; allow_small: below the minimum on purpose" if index.allow_small else ""),
    )


def _manifest_calibration(inputs: Int8Inputs, quantized: _Quantized) -> CalibrationInfo:
    c = inputs.plan.calibration
    return CalibrationInfo(
        n=len(inputs.calibration.index.samples),
        batch=c.batch,
        method=c.method,
        seed=c.seed,
        index_sha256=inputs.calibration.index.samples_sha256,
        index_file=INDEX_FILE,
        ranges_file=RANGES_FILE,
        excluded_patterns=quantized.float_nodes.patterns,
        float_nodes=quantized.float_nodes.nodes,
        allow_small=c.allow_small,
    )


def _recorded_index(index: CalibrationIndex, config: ExportConfig) -> CalibrationIndex:
    """The index with its source folders as the reports record paths (``recorded_path``)."""
    sources = tuple(
        s.model_copy(update={"path": recorded_path(s.path, config.base_dir)}) for s in index.sources
    )
    return index.model_copy(update={"sources": sources})


def _report(
    config: ExportConfig,
    inputs: Int8Inputs,
    quantized: _Quantized,
    recipes: tuple[QuantRecipe, ...],
    results: tuple[tuple[Int8ParityResult, ...], tuple[AccuracyResult, ...]],
    plots: tuple[str, ...],
) -> Int8Report:
    plan, index = inputs.plan, _recorded_index(inputs.calibration.index, config)
    parity, accuracy = results
    return Int8Report(
        evaluation_dir=recorded_path(inputs.evaluation.root, config.base_dir),
        evaluation_images=len(inputs.evaluation.items),
        calibration=CalibrationSummary(
            samples=len(index.samples),
            requested=index.requested,
            available=index.available,
            allow_small=index.allow_small,
            seed=index.seed,
            method=plan.calibration.method,
            batch=plan.calibration.batch,
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
                for r in recipes
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
