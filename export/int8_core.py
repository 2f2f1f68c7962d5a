"""The INT8 steps every model source shares: a PyTorch export (``int8.py``) or a model brought
as ONNX (``onnx_int8.py``).

    inputs  quantize.op_types checked → calibration candidates, refused if any is a held-out
            image → seeded draw → decoded and preprocessed by edge.preprocess
    make    quant_pre_process → nodes kept in float (quantize.exclude_nodes, stem, head, and
            what the source adds: a detection or anomaly model's decode tail) → ranges
            (calib/ranges.json) and the sample index (calib/index.json) → each recipe's file
            (model.int8.onnx, model.int8.cpu.onnx unless quantize.cpu_artifact = false,
            model.int8.openvino.onnx by NNCF where quantize.openvino_artifact asks) → graph
            and Q/DQ checks
    ship    (after the source's own accuracy gates) every engine the daemon may pick timed
            (exit 6 only with speed.fail_below) → a file set to "auto" ships only where it
            pays on its backend → the daemon's ORT CPU pick timed at speed.also_threads

What differs between sources is how INT8 is judged (class logits against labels, or boxes
and scores through the task's decoder), so the adapters keep that and call these in order.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lepton.calibration.config import MIN_CALIBRATION_SAMPLES, CalibrationConfig
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
from lepton.export.config import ExportConfig, QuantizeConfig, SpeedConfig
from lepton.export.errors import GateFailed, SpeedFailed
from lepton.export.interrupt import raise_if_signalled
from lepton.export.progress import StageProgress
from lepton.export.stages.bundle import ModelFile
from lepton.export.stages.graph_checks import GraphExpectation, check_graph
from lepton.export.stages.qdq_checks import QdqReport, check_qdq, graph_outputs_of
from lepton.export.stages.quantize import (
    CPU_ONLY,
    OPENVINO_ONLY,
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
from lepton.export.stages.quantize_nncf import check_nncf, quantize_with_nncf
from lepton.export.stages.reports import recorded_path
from lepton.export.stages.speed import (
    Int8File,
    SpeedResult,
    measure_engine_speeds,
    measure_speed,
    plan_speed_candidates,
)
from lepton.export.stages.task_eval import usage_errors
from lepton.export.stages.toolchain import read_cpu_flags

log = logging.getLogger(__name__)

RANGES_FILE = "calib/ranges.json"
INDEX_FILE = "calib/index.json"
DAEMON_PICK_KEY = "ort_cpu_pick"
"""build.json ``speed`` key of the daemon's ORT CPU pick timed at ``speed.also_threads``."""


@dataclass(frozen=True)
class Int8Job:
    """The INT8 settings and calibration data of one export, whichever the source."""

    calibration: CalibrationConfig
    quantize: QuantizeConfig
    speed: SpeedConfig
    data: CalibrationSet
    candidates: int
    """How many calibration images there were to draw from."""

    @property
    def recipes(self) -> tuple[QuantRecipe, ...]:
        return quant_recipes(self.quantize)


def draw_calibration(
    config: ExportConfig, held_out: Mapping[str, Path], held_out_key: str, progress: bool
) -> Int8Job | None:
    """The calibration set, disjoint from the held-out images (sha256 → path); None without
    ``[calibration]``. ``held_out_key`` names the held-out set's key in the refusal."""
    if config.calibration is None:
        return None
    assert config.quantize is not None and config.speed is not None  # defaulted with [calibration]
    check_op_types(config.quantize)
    check_nncf(config.quantize)
    with usage_errors():
        candidates = find_candidates(config.calibration)
        if held_out:
            check_disjoint(candidates, dict(held_out), held_out_key)
        chosen = draw_samples(candidates, config.calibration)
        data = load_calibration_set(
            candidates, chosen, config.calibration, (config.preprocess, config.input.spec()), progress
        )
    return Int8Job(config.calibration, config.quantize, config.speed, data, len(candidates.items))


@dataclass(frozen=True)
class Int8Source:
    """What the shared steps need from the source: its FP32 file and what to keep in float."""

    fp32_path: Path
    output_name: str
    """The output ORT returns and the speed stage times (the decoder's main output)."""
    extra_float: Callable[[Path], dict[str, tuple[str, ...]]] | None = None
    """More nodes kept in float, read from the pre-processed graph (reason → node names)."""
    expectation: GraphExpectation | None = None
    """The graph check each INT8 file gets where the source's outputs are known (class logits)."""


@dataclass(frozen=True)
class Quantized:
    prepared: PreparedGraph
    float_nodes: FloatNodes
    ranges: RangesSummary
    graphs: tuple[QdqReport, ...]
    recipes: tuple[QuantRecipe, ...]

    def checks(self, plan: Int8Job) -> tuple[CheckResult, ...]:
        return (calibration_check(plan.data.index), *(g.as_check() for g in self.graphs))


def quantize_all(
    stage: Path,
    config: ExportConfig,
    plan: Int8Job,
    source: Int8Source,
    fp32_checks: tuple[CheckResult, ...],
    progress: StageProgress,
) -> Quantized:
    """Every recipe's file in ``stage``, checked; a GateFailed carries the FP32 checks that passed."""
    try:
        return _quantize_all(stage, config, plan, source, progress)
    except GateFailed as err:
        raise GateFailed(str(err), checks=fp32_checks + err.checks) from err


def _quantize_all(
    stage: Path, config: ExportConfig, plan: Int8Job, source: Int8Source, progress: StageProgress
) -> Quantized:
    # Inside the staging directory: whatever stops the export (a signal landing in the middle
    # of a cleanup included), removing the staging directory removes this too.
    with tempfile.TemporaryDirectory(prefix=".lepton-int8.", dir=stage) as tmp:
        progress.stage("quant_pre_process")
        prepared = prepare_for_quantization(source.fp32_path, Path(tmp) / "prepared.onnx")
        float_nodes = select_float_nodes(prepared.path, plan.quantize)
        if source.extra_float is not None:
            extra = source.extra_float(prepared.path)
            float_nodes = replace(float_nodes, matched={**float_nodes.matched, **extra})
        progress.stage("calibration ranges")
        try:
            with usage_errors():  # the memory budget: exit 2, with the numbers and the fix
                ranges = compute_ranges(
                    prepared.path,
                    config.input.name,
                    plan.data.tensor,
                    plan.calibration,
                    stage / RANGES_FILE,
                    progress.enabled,
                    checkpoint=raise_if_signalled,
                )
        except RangeComputationError as err:
            raise GateFailed(
                f"calibration: onnxruntime's {plan.calibration.method} calibrator failed on "
                f"{source.fp32_path.name} ({err}); try calibration.method = 'minmax', or report it"
            ) from err
        write_index(stage / INDEX_FILE, recorded_index(plan.data.index, config))
        request = QuantizeRequest(
            prepared.path, ranges.path, plan.calibration.method, plan.quantize, float_nodes
        )
        float_outputs = graph_outputs_of(prepared.path, float_nodes.nodes)
        graphs = []
        for recipe in plan.recipes:
            progress.stage(f"quantize {recipe.path}")
            if recipe.maker == "nncf":
                quantize_with_nncf(
                    prepared.path, config.input.name, plan.data.tensor, float_nodes.nodes, stage / recipe.path
                )
            else:
                quantize(request, recipe, stage / recipe.path)
            if source.expectation is not None:
                check_graph(stage / recipe.path, source.expectation, f"graph_{recipe.key}")
            graphs.append(check_qdq(stage / recipe.path, recipe, float_outputs))
            log.info("quantized %s: %s; %d node(s) in float", recipe.path, recipe.description,
                     len(float_nodes.nodes))  # fmt: skip
    return Quantized(prepared, float_nodes, ranges, tuple(graphs), plan.recipes)


@dataclass(frozen=True)
class Shipped:
    """What passed the speed stage and ships, and what it measured."""

    recipes: tuple[QuantRecipe, ...]
    speed: tuple[SpeedResult, ...]
    """Each shipped file at ``speed.threads`` and the daemon's pick at ``speed.also_threads``:
    measured on this machine, so in ``build.json``, not in the reproducible manifest."""
    warnings: tuple[str, ...]

    @property
    def keys(self) -> set[str]:
        return {r.key for r in self.recipes}

    def models(self, opset: int) -> tuple[ModelFile, ...]:
        return tuple(ModelFile(r.path, "int8", opset, r.backends) for r in self.recipes)

    def kept_checks(self, checks: tuple[CheckResult, ...], quantized: Quantized) -> tuple[CheckResult, ...]:
        """The checks of the files that ship: a dropped file's checks stay in the report only."""
        return tuple(
            c for c in checks if (key := check_key(c.name, quantized.recipes)) is None or key in self.keys
        )


def golden_key(recipe: QuantRecipe) -> str:
    """ "int8" for the general file, its path for a file made for some backends."""
    return recipe.path if recipe.backends is not None else "int8"


def time_and_ship(
    stage: Path,
    config: ExportConfig,
    plan: Int8Job,
    source: Int8Source,
    checks: tuple[CheckResult, ...],
    progress: StageProgress,
) -> Shipped:
    """Time every engine the daemon may pick; raise SpeedFailed below ``speed.fail_below``."""
    progress.stage("speed: every engine the daemon may pick")
    recipes = plan.recipes
    files = tuple(Int8File(r.key, stage / r.path, r.backends) for r in recipes)
    candidates = plan_speed_candidates(
        source.fp32_path, files, config.input.spec(), source.output_name, plan.speed.threads
    )
    speed = measure_engine_speeds(candidates, _speed_batch(config, plan), plan.speed, read_cpu_flags())
    failed = [s for s in speed if not s.passed]
    if failed:
        raise SpeedFailed(
            f"speed gate: {failed[0].artifact} runs at {failed[0].ratio:.2f}x {failed[0].baseline} "
            f"({failed[0].threads or 'default'} threads), below speed.fail_below = {failed[0].fail_below}; "
            "ship FP32 for this target (--no-int8) or remove speed.fail_below",
            checks=checks + tuple(s.as_check() for s in speed),
        )
    shipped, dropped = _ship(stage, plan.quantize, recipes, speed)
    gone = {r.key for r in recipes} - {r.key for r in shipped}
    speed = tuple(s for s in speed if s.key not in gone and s.key.removeprefix("openvino_") not in gone)
    pick, pick_warning = _daemon_pick_speed(stage, config, plan, source, shipped, speed, progress)
    warnings = tuple(s.warning for s in speed if s.warning)
    warnings += tuple(w for w in (pick_warning, *dropped.values()) if w)
    return Shipped(shipped, speed + pick, warnings)


def _speed_batch(config: ExportConfig, plan: Int8Job) -> np.ndarray:
    tensor = plan.data.tensor
    return tensor[np.arange(plan.speed.batch or config.input.batch_opt) % len(tensor)]


@dataclass(frozen=True)
class _AutoFile:
    """A file made for one backend that ``"auto"`` ships only where it beats the portable one."""

    recipe: QuantRecipe
    setting: str
    """Its ``[quantize]`` key."""
    backend: str
    timed: str
    """Its speed row's key; ``against``: the portable file's row on the same backend."""
    against: str


AUTO_FILES = (
    _AutoFile(CPU_ONLY, "cpu_artifact", "ORT CPU", CPU_ONLY.key, PORTABLE.key),
    _AutoFile(OPENVINO_ONLY, "openvino_artifact", "OpenVINO", f"openvino_{OPENVINO_ONLY.key}",
              f"openvino_{PORTABLE.key}"),
)  # fmt: skip


def _ship(
    stage: Path, config: QuantizeConfig, recipes: tuple[QuantRecipe, ...], speed: tuple[SpeedResult, ...]
) -> tuple[tuple[QuantRecipe, ...], dict[str, str]]:
    """A file set to ``"auto"`` (``cpu_artifact``, ``openvino_artifact``) ships only where it pays.

    "Pays" is measured on its backend, against the file the daemon would run there without it
    (the portable one): same run, same threads. A file that does not pay, or that could not
    be timed (OpenVINO not installed here), is removed from the bundle; its measurements stay
    in the report. Returns (shipped, dropped path → why).
    """
    ratios = {s.key: s.ratio for s in speed}
    dropped: dict[str, str] = {}
    for auto in AUTO_FILES:
        if getattr(config, auto.setting) != "auto" or auto.recipe not in recipes:
            continue
        path, setting = auto.recipe.path, f"quantize.{auto.setting} = 'auto'"
        timed, against = ratios.get(auto.timed), ratios.get(auto.against)
        if timed is not None and against is not None and timed > against:
            log.info("%s ships: %.2fx FP32 on %s vs %.2fx for %s", path, timed, auto.backend, against,
                     PORTABLE.path)  # fmt: skip
            continue
        if timed is None or against is None:
            why = (
                f"{path} not shipped ({setting}): {auto.backend} is not installed here, so it could "
                f"not be timed against {PORTABLE.path}; install it (the openvino extra) or set "
                f"quantize.{auto.setting} = true"
            )
        else:
            why = (
                f"{path} not shipped ({setting}): {timed:.2f}x FP32 on {auto.backend}, no faster "
                f"than {PORTABLE.path} ({against:.2f}x); the daemon runs {PORTABLE.path} there"
            )
        (stage / path).unlink()
        log.info(why)
        dropped[path] = why
    return tuple(r for r in recipes if r.path not in dropped), dropped


def _daemon_pick_speed(
    stage: Path,
    config: ExportConfig,
    plan: Int8Job,
    source: Int8Source,
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
    ratios = {s.threads: s.ratio for s in speed if s.key == pick.key}
    extra = []
    for threads in plan.speed.also_threads:
        if threads in ratios:
            continue
        progress.stage(f"speed {pick.path} at {threads} threads")
        label = f"{pick.path} on ort-cpu int8"  # as measure_engine_speeds labels its rows
        result = measure_speed(
            (source.fp32_path, stage / pick.path),
            (config.input.name, source.output_name),
            _speed_batch(config, plan),
            plan.speed.model_copy(update={"threads": threads}),
            (DAEMON_PICK_KEY, label),
            read_cpu_flags(),
        )
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


def check_key(name: str, recipes: tuple[QuantRecipe, ...]) -> str | None:
    """The recipe key a check name ends with (``parity_int8_cpu`` → ``int8_cpu``), longest first."""
    for key in sorted((r.key for r in recipes), key=len, reverse=True):
        if name.endswith(f"_{key}"):
            return key
    return None


def calibration_check(index: CalibrationIndex) -> CheckResult:
    return CheckResult(
        name="calibration",
        passed=True,
        measured={"samples": len(index.samples), "available": index.available},
        thresholds={"samples_min": MIN_CALIBRATION_SAMPLES},
        detail=f"seeded draw (seed {index.seed}) preprocessed by edge.preprocess; index sha256 "
        f"{index.samples_sha256}"
        + ("; allow_small: below the minimum on purpose" if index.allow_small else ""),
    )


def manifest_calibration(plan: Int8Job, float_nodes: FloatNodes) -> CalibrationInfo:
    c = plan.calibration
    return CalibrationInfo(
        n=len(plan.data.index.samples),
        batch=c.batch,
        method=c.method,
        seed=c.seed,
        index_sha256=plan.data.index.samples_sha256,
        index_file=INDEX_FILE,
        ranges_file=RANGES_FILE,
        excluded_patterns=float_nodes.patterns,
        float_nodes=float_nodes.nodes,
        allow_small=c.allow_small,
    )


def recorded_index(index: CalibrationIndex, config: ExportConfig) -> CalibrationIndex:
    """The index with its source folders as the reports record paths (``recorded_path``)."""
    sources = tuple(
        s.model_copy(update={"path": recorded_path(s.path, config.base_dir)}) for s in index.sources
    )
    return index.model_copy(update={"sources": sources})


__all__ = [
    "DAEMON_PICK_KEY",
    "INDEX_FILE",
    "RANGES_FILE",
    "Int8Job",
    "Int8Source",
    "Quantized",
    "Shipped",
    "calibration_check",
    "check_key",
    "draw_calibration",
    "golden_key",
    "manifest_calibration",
    "quantize_all",
    "recorded_index",
    "time_and_ship",
]
