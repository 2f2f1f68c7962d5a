"""The composition root of ``lepton-export build``: it reads as the export sequence.

    inputs   labels → samples (seeded draw, decoded, preprocessed by edge.preprocess)
    int8     (with [calibration]) evaluation set found and hashed → calibration candidates,
             refused if any is an evaluation image → seeded draw → decoded, preprocessed
    model    factory + state_dict, TorchScript, or a torch.export program; classes checked
             against the labels
    bundle   (in a staging directory; published only if every stage passes)
             export ONNX → graph checks → [simplify → graph checks again] → FP32 parity
             gate → golden set
             → [INT8 (export/int8.py): quant_pre_process → ranges → quantize → graph
                checks → evaluation → tensor agreement, accuracy, speed gates → plots]
             → reports → labels + manifest → verify
    publish  atomic rename, then verify the published bundle again

Cheap usage checks run before any model code, and nothing is written where the bundle
goes until everything passed: a failed export leaves no partial bundle for a daemon to load.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lepton.edge.atomic_write import staged_directory
from lepton.edge.bundle.manifest import CheckResult, Manifest, sha256_file, verify_bundle
from lepton.edge.preprocess import Tensor, preprocess_batch
from lepton.export.config import ExportConfig
from lepton.export.errors import GateFailed, Interrupted
from lepton.export.int8 import Int8Build, Int8Inputs, build_int8, read_int8_inputs
from lepton.export.interrupt import Signalled, signals_raise
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.progress import StageProgress
from lepton.export.stages.bundle import (
    FP32_MODEL,
    BundleContents,
    ModelFile,
    check_bundle_target,
    write_bundle_manifest,
)
from lepton.export.stages.golden import write_golden_inputs, write_golden_outputs
from lepton.export.stages.graph_checks import GraphExpectation, GraphReport, check_graph
from lepton.export.stages.labels import check_background_labels, read_labels
from lepton.export.stages.load_model import LoadedModel, load_model
from lepton.export.stages.onnx_export import OPSET, ExportedGraph, ExportRequest, export_onnx
from lepton.export.stages.parity import ParityResult, build_parity_cases, compare_outputs
from lepton.export.stages.reports import ExportReport, SamplesSummary, recorded_path, write_reports
from lepton.export.stages.samples import SampleSet, load_frames, select_samples, uniform_frame
from lepton.export.stages.simplify import SimplifyReport, check_simplifier_installed, simplify_graph
from lepton.export.stages.toolchain import collect_toolchain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    bundle_dir: Path
    manifest: Manifest
    elapsed_s: float
    warnings: tuple[str, ...] = ()
    """Findings that did not fail the export (e.g. INT8 not faster than FP32 on this CPU)."""
    skipped_gates: dict[str, str] = field(default_factory=dict)
    """Gates that did not run (check name → why), e.g. accuracy with ``evaluation = false``."""


@dataclass(frozen=True)
class _Inputs:
    labels: tuple[str, ...]
    samples: SampleSet
    batch: Tensor
    """Every drawn sample, preprocessed: (count, 3, H, W) float32."""
    int8: Int8Inputs | None


def build_bundle(config: ExportConfig, out_dir: Path, progress: bool = True) -> BuildResult:
    """Export ``config``'s model into a verified bundle at ``out_dir``, or raise and leave none.

    Raises UsageError for bad inputs (before anything is written), GateFailed (or one of its
    INT8 subclasses) when a check fails, and Interrupted on SIGTERM/SIGINT, whichever source
    the model comes from.
    """
    with _signals_interrupt(out_dir.resolve()):
        if config.model.onnx is not None:  # bring your own ONNX: the same sequence after the FP32 export
            from lepton.export.onnx_build import build_onnx_bundle

            return build_onnx_bundle(config, out_dir, progress)
        if config.model.task == "detection":  # PyTorch detector: exported here, then the same sequence
            from lepton.export.torch_detection_build import build_torch_detection_bundle

            return build_torch_detection_bundle(config, out_dir, progress)
        return _build_classifier(config, out_dir, progress)


def _build_classifier(config: ExportConfig, out_dir: Path, progress: bool) -> BuildResult:
    """A PyTorch classifier: exported, checked and quantized here."""
    started = time.monotonic()
    out_dir = out_dir.resolve()
    check_bundle_target(out_dir)
    if config.export.simplify:
        check_simplifier_installed()
    with StageProgress(progress) as stages:
        stages.stage("inputs")
        inputs = _read_inputs(config, progress)
        stages.stage("load model")
        model = load_model(config.model, inputs.labels, config.input)
        log.info("loaded %s (%s, %d classes)", config.model.name, model.source, model.num_classes)
        with staged_directory(out_dir) as stage:
            warnings, skipped = _build_in(stage, config, inputs, model, stages)
            stages.stage("verify")
            verify_bundle(stage)
    manifest = verify_bundle(out_dir)
    log.info("bundle %s written and verified", out_dir)
    return BuildResult(
        bundle_dir=out_dir,
        manifest=manifest,
        elapsed_s=time.monotonic() - started,
        warnings=warnings,
        skipped_gates=skipped,
    )


@contextlib.contextmanager
def _signals_interrupt(out_dir: Path) -> Iterator[None]:
    """SIGTERM and SIGINT stop the export as an exception (``interrupt.py``), re-raised as
    ``Interrupted``.

    A CI job cancelled (SIGTERM) used to die on the spot and leave the ``.staging``
    directory beside ``--out`` and the quantizer's temporary files; as an exception, the
    signal unwinds every ``with`` block, which removes them, and the CLI exits 128 + signal.
    """
    try:
        with signals_raise():
            yield
    except Signalled as stop:
        raise Interrupted(
            f"{signal.Signals(stop.signum).name}: export stopped; nothing was written at {out_dir} "
            "(the staging directory and temporary files were removed)",
            stop.signum,
        ) from None


def _read_inputs(config: ExportConfig, progress: bool) -> _Inputs:
    labels = read_labels(config.model.labels_file)
    check_background_labels(config.model.background_labels, labels, config.model.labels_file)
    samples = select_samples(config.samples)
    int8 = read_int8_inputs(config, labels, progress)
    batch = preprocess_batch(load_frames(samples), config.preprocess, config.input.spec())
    log.info("%d labels; %d of %d sample images drawn", len(labels), len(samples.paths), samples.available)
    return _Inputs(labels=labels, samples=samples, batch=batch, int8=int8)


@dataclass(frozen=True)
class _Fp32:
    """The FP32 graph once it has passed its gates, and the evidence."""

    exported: ExportedGraph
    graph: GraphReport
    """The checks of the graph that ships: the simplified one when simplification applied."""
    simplify: SimplifyReport | None
    ort: OrtCpuModel
    parity: ParityResult

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        simplify = (self.simplify.as_check(),) if self.simplify else ()
        return (self.graph.as_check(), *simplify, self.parity.as_check("parity_fp32"))

    @property
    def warnings(self) -> tuple[str, ...]:
        return (self.simplify.warning,) if self.simplify and self.simplify.warning else ()


def _build_in(
    stage: Path, config: ExportConfig, inputs: _Inputs, model: LoadedModel, progress: StageProgress
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Write every bundle file into ``stage``; return the warnings worth surfacing and the
    gates that did not run."""
    fp32 = _export_fp32(stage, config, inputs, model, progress)
    progress.stage("golden set")
    names = (config.input.name, config.output.name)
    golden = write_golden_inputs(stage, inputs.batch[: config.samples.golden_count], names[0])
    golden = write_golden_outputs(stage, golden, "fp32", fp32.ort.run, names, config.input.batch_max)
    models: tuple[ModelFile, ...] = (ModelFile(FP32_MODEL, "fp32", OPSET),)
    checks = fp32.checks
    int8: Int8Build | None = None
    if inputs.int8 is not None:
        int8 = build_int8(
            stage, config, inputs.int8, (fp32.exported.path, fp32.ort), checks, inputs.batch, progress
        )
        for key, runner in int8.golden_runners:
            golden = write_golden_outputs(stage, golden, key, runner, names, config.input.batch_max)
        models += int8.models
        checks += int8.checks
    reports = write_reports(
        stage, _report(config, inputs, fp32, sha256_file(stage / FP32_MODEL)), int8.report if int8 else None
    )
    contents = BundleContents(
        config=config,
        labels=inputs.labels,
        source_sha256=model.source_sha256,
        models=models,
        golden=golden,
        reports=reports,
        toolchain=collect_toolchain(fp32.exported.exporter),
        checks=checks,
        calibration_files=int8.calibration_files if int8 else (),
        calibration=int8.manifest_calibration if int8 else None,
        speed=int8.speed if int8 else (),
    )
    progress.stage("reports and manifest")
    write_bundle_manifest(stage, contents)
    return fp32.warnings + (int8.warnings if int8 else ()), (int8.skipped if int8 else {})


def _export_fp32(
    stage: Path, config: ExportConfig, inputs: _Inputs, model: LoadedModel, progress: StageProgress
) -> _Fp32:
    """Export, check the graph, and gate on parity with PyTorch; GateFailed on any failure."""
    spec, names = config.input.spec(), (config.input.name, config.output.name)
    request = ExportRequest(
        *names,
        batch_max=spec.batch_max,
        exporter=config.export.exporter,
        example=inputs.batch[: min(2, spec.batch_max)],
    )
    progress.stage("export ONNX")
    exported = export_onnx(model, stage / FP32_MODEL, request)
    progress.stage("graph checks")
    expectation = GraphExpectation(
        *names, spec.height, spec.width, model.num_classes, model.exports_dynamic_batch(spec.batch_max)
    )
    graph = check_graph(exported.path, expectation)
    simplify: SimplifyReport | None = None
    if config.export.simplify:
        graph, simplify = simplify_graph(exported.path, expectation, graph)
    progress.stage("FP32 parity")
    ort_fp32 = OrtCpuModel.load(exported.path, *names)
    black, white = (preprocess_batch([uniform_frame(spec, v)], config.preprocess, spec) for v in (0, 255))
    parity = compare_outputs(
        ("pytorch eager", model.run),
        ("onnxruntime cpu fp32", ort_fp32.run),
        build_parity_cases(inputs.batch, black, white, spec.batch_max),
        config.parity,
        spec.batch_max,
        progress.enabled,
    )
    fp32 = _Fp32(exported, graph, simplify, ort_fp32, parity)
    if not parity.passed:
        simplified = ", simplified by onnxslim" if simplify and simplify.applied else ""
        raise GateFailed(
            f"parity gate: {FP32_MODEL} ({exported.exporter} exporter{simplified}) differs from the "
            f"PyTorch model: {parity.failures()}; {_parity_fix(exported, model, simplify)}",
            checks=fp32.checks,
        )
    log.info("FP32 parity passed: max |diff| %.3g, min cosine %.7f", parity.max_abs_diff, parity.min_cosine)
    return fp32


def _parity_fix(exported: ExportedGraph, model: LoadedModel, simplify: SimplifyReport | None) -> str:
    """What to try next depends on which tool produced the wrong graph."""
    if simplify and simplify.applied:
        return "retry with --no-simplify: if parity passes then, the simplifier changed the results"
    if model.program is not None:
        return (
            "the TorchScript exporter cannot read a torch.export program: export from "
            "model.factory + model.weights and try --exporter legacy (the dynamo exporter has "
            "shipped wrong graphs, pytorch#169178)"
        )
    if exported.exporter == "dynamo":
        return "try --exporter legacy (the dynamo exporter has shipped wrong graphs, pytorch#169178)"
    tracer = "a TracerWarning logged above means a traced branch does not generalise (-v shows all)"
    if exported.dynamo_error:
        return f"dynamo refused this model, so fix the model: {tracer}"
    return f"try --exporter dynamo, and {tracer}"


def _report(config: ExportConfig, inputs: _Inputs, fp32: _Fp32, onnx_sha256: str) -> ExportReport:
    used = inputs.samples.relative()
    return ExportReport(
        model=config.model.name,
        version=config.model.version,
        exporter=fp32.exported.exporter,
        exporter_warnings=fp32.exported.warnings,
        dynamo_error=fp32.exported.dynamo_error,
        onnx=FP32_MODEL,
        onnx_sha256=onnx_sha256,
        graph=fp32.graph,
        simplify=fp32.simplify,
        parity=fp32.parity,
        samples=SamplesSummary(
            dir=recorded_path(inputs.samples.root, config.base_dir),
            available=inputs.samples.available,
            seed=inputs.samples.seed,
            used=used,
            golden=used[: config.samples.golden_count],
        ),
    )


__all__ = ["BuildResult", "build_bundle"]
