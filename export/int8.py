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
from typing import TypeVar

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
from lepton.edge.preprocess import Tensor
from lepton.export.config import ExportConfig, Int8Plan, QuantizeConfig, SpeedConfig
from lepton.export.errors import AccuracyFailed, GateFailed, Int8ParityFailed, SpeedFailed, UsageError
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.progress import StageProgress
from lepton.export.runner import Runner
from lepton.export.stages.accuracy import AccuracyResult, measure_accuracy
from lepton.export.stages.bundle import ModelFile
from lepton.export.stages.evaluate import EvaluationOutputs, Int8Runners, run_evaluation, run_on_samples
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
    CPU_ONLY,
    PORTABLE,
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
from lepton.export.stages.speed import (
    Int8File,
    SpeedResult,
    measure_engine_speeds,
    measure_speed,
    plan_speed_candidates,
)
from lepton.export.stages.toolchain import read_cpu_flags

log = logging.getLogger(__name__)

RANGES_FILE = "calib/ranges.json"
INDEX_FILE = "calib/index.json"
EVALUATION_IMAGES_MIN = 1000
"""Below this the accuracy interval is too wide to mean much (notes §7); a warning, not an error."""


@dataclass(frozen=True)
class Int8Inputs:
    plan: Int8Plan
    labels: tuple[str, ...]
    evaluation: EvaluationSet | None
    """None with ``evaluation = false``: the tensor gates run on the [samples] images."""
    calibration: CalibrationSet


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
    evaluation: EvaluationSet | None = None
    with _as_usage_error():
        if plan.evaluation is not None:
            evaluation = find_evaluation_set(plan.evaluation.dir, labels, "evaluation.dir")
        candidates = find_candidates(plan.calibration)
        if plan.evaluation is not None and evaluation is not None:
            check_disjoint(candidates, evaluation.by_sha256(), f"evaluation.dir {plan.evaluation.dir}")
        chosen = draw_samples(candidates, plan.calibration)
        calibration = load_calibration_set(
            candidates, chosen, plan.calibration, (config.preprocess, config.input.spec()), progress
        )
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
        len(calibration.index.samples),
        len(candidates.items),
        calibration.index.samples_sha256[:12],
        f"{len(evaluation.items)} evaluation images" if evaluation else "no evaluation set",
    )
    return Int8Inputs(plan=plan, labels=labels, evaluation=evaluation, calibration=calibration)


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
    samples: Tensor,
    progress: StageProgress,
) -> Int8Build:
    """Quantize, check and gate every INT8 artefact in ``stage``; raise on the first failed gate.

    ``samples`` (the [samples] images, preprocessed) stand in for the evaluation set when
    there is none (``evaluation = false``): tensor agreement needs images, not labels.
    """
    plan, recipes = inputs.plan, quant_recipes(inputs.plan.quantize)
    try:
        quantized = _quantize_all(stage, config, inputs, fp32[0], recipes, progress)
    except GateFailed as err:  # a graph check: report it with the FP32 checks that passed
        raise GateFailed(str(err), checks=fp32_checks + err.checks) from err
    checks = (_calibration_check(inputs), *(g.as_check() for g in quantized.graphs))
    names = (config.input.name, config.output.name)
    fused = {r.key: OrtCpuModel.load(stage / r.path, *names) for r in recipes}
    runners = {r.key: Int8Runners(fused[r.key].run, _reference(stage / r.path, names)) for r in recipes}
    progress.stage("INT8 vs FP32 on the evaluation images")
    batch = (plan.evaluation.batch if plan.evaluation else None) or config.input.batch_max
    if inputs.evaluation is not None:
        outputs = run_evaluation(
            inputs.evaluation,
            (config.preprocess, config.input.spec()),
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
    speed = _measure_speeds(stage, config, inputs, fp32[0], recipes, progress)
    failed = [s for s in speed if not s.passed]
    if failed:
        raise SpeedFailed(
            f"speed gate: {failed[0].artifact} runs at {failed[0].ratio:.2f}x {failed[0].baseline} "
            f"({failed[0].threads or 'default'} threads), below speed.fail_below = {failed[0].fail_below}; "
            "ship FP32 for this target (--no-int8) or remove speed.fail_below",
            checks=fp32_checks + checks + tuple(s.as_check() for s in speed),
        )
    shipped, dropped = _ship(stage, plan.quantize, recipes, speed)
    kept = {r.key for r in shipped}
    gone = {r.key for r in recipes} - kept
    speed = tuple(s for s in speed if s.key not in gone and s.key.removeprefix("openvino_") not in gone)
    pick, pick_warning = _daemon_pick_speed(stage, config, inputs, fp32[0], shipped, speed, progress)
    checks = tuple(c for c in checks if not _names_dropped(c.name, kept, recipes))
    plots: tuple[str, ...] = ()
    if config.export.plots:
        progress.stage("plots")
        plots = _plot(stage, inputs.labels, outputs, accuracy, {r.key: r.path for r in recipes})
    results = (_kept(parity, kept), _kept(accuracy, kept))
    report = _report(config, inputs, quantized, shipped, results, plots, skipped)
    warnings = tuple(s.warning for s in speed if s.warning)
    warnings += tuple(w for w in (pick_warning, *dropped.values()) if w)
    return Int8Build(
        models=tuple(ModelFile(r.path, "int8", OPSET, r.backends) for r in shipped),
        checks=checks,
        speed=speed + pick,
        golden_runners=tuple(
            (r.path if r.backends is not None else "int8", fused[r.key].run) for r in shipped
        ),
        calibration_files=(RANGES_FILE, INDEX_FILE),
        manifest_calibration=_manifest_calibration(inputs, quantized),
        report=report,
        warnings=warnings,
        skipped={k: v for k, v in skipped.items() if _check_key(k, recipes) in kept},
    )


_Keyed = TypeVar("_Keyed", Int8ParityResult, AccuracyResult)


def _kept(results: tuple[_Keyed, ...], kept: set[str]) -> tuple[_Keyed, ...]:
    return tuple(r for r in results if r.key in kept)


def _skipped_accuracy(recipes: tuple[QuantRecipe, ...]) -> dict[str, str]:
    (reason,) = SKIPPED_WITHOUT_EVALUATION.values()
    return {f"accuracy_{r.key}": reason for r in recipes}


def _check_key(name: str, recipes: tuple[QuantRecipe, ...]) -> str | None:
    """The recipe key a check name ends with (``parity_int8_cpu`` → ``int8_cpu``), longest first."""
    for key in sorted((r.key for r in recipes), key=len, reverse=True):
        if name.endswith(f"_{key}"):
            return key
    return None


def _names_dropped(name: str, kept: set[str], recipes: tuple[QuantRecipe, ...]) -> bool:
    key = _check_key(name, recipes)
    return key is not None and key not in kept


def _ship(
    stage: Path, config: QuantizeConfig, recipes: tuple[QuantRecipe, ...], speed: tuple[SpeedResult, ...]
) -> tuple[tuple[QuantRecipe, ...], dict[str, str]]:
    """With ``cpu_artifact = "auto"``, the ORT CPU file ships only where it pays.

    "Pays" is measured, against the file the daemon would run on ORT CPU without it (the
    portable one): same run, same threads. A file that does not pay is removed from the
    bundle; its measurements stay in reports/int8.json. Returns (shipped, dropped path → why).
    """
    ratios = {s.key: s.ratio for s in speed}
    if config.cpu_artifact != "auto" or CPU_ONLY not in recipes:
        return recipes, {}
    portable, cpu = ratios[PORTABLE.key], ratios[CPU_ONLY.key]
    if cpu > portable:
        log.info(
            "%s ships: %.2fx FP32 on ORT CPU vs %.2fx for %s", CPU_ONLY.path, cpu, portable, PORTABLE.path
        )
        return recipes, {}
    (stage / CPU_ONLY.path).unlink()
    why = (
        f"{CPU_ONLY.path} not shipped (quantize.cpu_artifact = 'auto'): {cpu:.2f}x FP32 on ORT CPU, "
        f"no faster than {PORTABLE.path} ({portable:.2f}x); the daemon runs {PORTABLE.path} there"
    )
    log.info(why)
    return tuple(r for r in recipes if r is not CPU_ONLY), {CPU_ONLY.path: why}


def _quantize_all(
    stage: Path,
    config: ExportConfig,
    inputs: Int8Inputs,
    fp32_path: Path,
    recipes: tuple[QuantRecipe, ...],
    progress: StageProgress,
) -> _Quantized:
    plan = inputs.plan
    # Inside the staging directory: whatever stops the export (a signal landing in the middle
    # of a cleanup included), removing the staging directory removes this too.
    with tempfile.TemporaryDirectory(prefix=".lepton-int8.", dir=stage) as tmp:
        progress.stage("quant_pre_process")
        prepared = prepare_for_quantization(fp32_path, Path(tmp) / "prepared.onnx")
        float_nodes = select_float_nodes(prepared.path, plan.quantize)
        progress.stage("calibration ranges")
        try:
            with _as_usage_error():  # the memory budget: exit 2, with the numbers and the fix
                ranges = compute_ranges(
                    prepared.path,
                    config.input.name,
                    inputs.calibration.tensor,
                    plan.calibration,
                    stage / RANGES_FILE,
                    progress.enabled,
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
            len(inputs.labels),
            spec.batch_max > 1,
        )
        graphs = []
        for recipe in recipes:
            progress.stage(f"quantize {recipe.path}")
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
    stage: Path,
    config: ExportConfig,
    inputs: Int8Inputs,
    fp32_path: Path,
    recipes: tuple[QuantRecipe, ...],
    progress: StageProgress,
) -> tuple[SpeedResult, ...]:
    progress.stage("speed: every engine the daemon may pick")
    speed = inputs.plan.speed
    batch = speed.batch or config.input.batch_opt
    tensor = inputs.calibration.tensor
    files = tuple(Int8File(r.key, stage / r.path, r.backends) for r in recipes)
    candidates = plan_speed_candidates(
        fp32_path, files, config.input.spec(), config.output.name, speed.threads
    )
    return measure_engine_speeds(candidates, tensor[np.arange(batch) % len(tensor)], speed, read_cpu_flags())


def _speed(
    path: Path,
    config: ExportConfig,
    inputs: Int8Inputs,
    fp32_path: Path,
    key_artifact: tuple[str, str],
    speed: SpeedConfig,
) -> SpeedResult:
    batch = speed.batch or config.input.batch_opt
    tensor = inputs.calibration.tensor
    return measure_speed(
        (fp32_path, path),
        (config.input.name, config.output.name),
        tensor[np.arange(batch) % len(tensor)],
        speed,
        key_artifact,
        read_cpu_flags(),
    )


DAEMON_PICK_KEY = "ort_cpu_pick"
"""build.json ``speed`` key of the daemon's ORT CPU pick timed at ``speed.also_threads``."""


def _daemon_pick_speed(
    stage: Path,
    config: ExportConfig,
    inputs: Int8Inputs,
    fp32_path: Path,
    shipped: tuple[QuantRecipe, ...],
    speed: tuple[SpeedResult, ...],
    progress: StageProgress,
) -> tuple[tuple[SpeedResult, ...], str | None]:
    """Time the file ``Manifest.model_artifact("int8", "ort-cpu")`` will return, as it ships.

    The per-file rows time each file at ``speed.threads``; a box runs the daemon's pick at
    its own thread count, and a depthwise model can win at 1 thread and lose at 2
    (mobilenet_v3: 0.88x at 2 threads on the issue's Xeon). Slower than FP32 at any count
    is a warning: such a box should run FP32 (``bundle.precision = "fp32"``).
    """
    pick = next((r for r in shipped if r.backends and "ort-cpu" in r.backends), None)
    pick = pick or next(r for r in shipped if r.backends is None)
    plan = inputs.plan.speed
    ratios = {s.threads: s.ratio for s in speed if s.key == pick.key}
    extra = []
    for threads in plan.also_threads:
        if threads in ratios:
            continue
        progress.stage(f"speed {pick.path} at {threads} threads")
        at = plan.model_copy(update={"threads": threads})
        label = f"{pick.path} on ort-cpu int8"  # as measure_engine_speeds labels its rows
        result = _speed(stage / pick.path, config, inputs, fp32_path, (DAEMON_PICK_KEY, label), at)
        ratios[threads] = result.ratio
        extra.append(result)
    slow = {t: r for t, r in ratios.items() if r < 1.0}
    if not slow:
        return tuple(extra), None
    at_threads = ", ".join(f"{r:.2f}x at {t or 'default'} thread(s)" for t, r in sorted(slow.items()))
    warning = (
        f"{pick.path}, the INT8 file lepton-edge runs on ORT CPU, is slower than FP32 there "
        f'({at_threads}); on CPU boxes like this one set bundle.precision = "fp32"'
    )
    log.warning("speed: %s", warning)
    return tuple(extra), warning


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
    skipped: dict[str, str],
) -> Int8Report:
    plan, index = inputs.plan, _recorded_index(inputs.calibration.index, config)
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
