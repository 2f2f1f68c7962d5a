"""The composition root of ``lepton-export build`` for a model brought as ONNX (``model.onnx``).

    inputs   labels (file, or names from the file's metadata) → samples → the decoder's
             outputs and settings (task_outputs) → held-out set → INT8 calibration set
    bundle   (in a staging directory; published only if every stage passes)
             import the ONNX (outputs the decoder does not read dropped) → graph checks →
             FP32 on the samples, decoded by the daemon's own decoder → [anomaly: the
             threshold chosen on the held-out good/bad parts] → golden set
             → [INT8 (onnx_int8.py): Q/DQ with the decode tail in float → the task's
                accuracy gate → speed] → report → labels + manifest → verify
    publish  atomic rename, then verify the published bundle again

The same sequence as ``pipeline.py`` after its FP32 export: the user's file is the
reference, so there is no PyTorch parity gate; everything the daemon will do with the
outputs is done here once on real images first.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lepton.edge.atomic_write import staged_directory, write_text_atomic
from lepton.edge.bundle.manifest import CheckResult, verify_bundle
from lepton.edge.engines.base import Outputs
from lepton.edge.preprocess import Tensor, preprocess_batch
from lepton.export.config import ExportConfig
from lepton.export.errors import UsageError
from lepton.export.int8_core import Int8Job
from lepton.export.onnx_gates import HeldOut, Models, anomaly_scores, find_held_out
from lepton.export.onnx_int8 import OnnxInt8Build, build_onnx_int8, read_onnx_int8_inputs
from lepton.export.ort_cpu import OrtCpuModel
from lepton.export.pipeline import BuildResult
from lepton.export.progress import StageProgress
from lepton.export.stages.anomaly_metrics import best_f1_threshold
from lepton.export.stages.bundle import (
    FP32_MODEL,
    BundleContents,
    ModelFile,
    check_bundle_target,
    write_bundle_manifest,
)
from lepton.export.stages.golden import GoldenSet, golden_outputs_name, write_golden_inputs
from lepton.export.stages.labels import read_labels
from lepton.export.stages.load_onnx import ImportedGraph, import_onnx, read_outputs
from lepton.export.stages.reports import recorded_path
from lepton.export.stages.samples import load_frames, select_samples
from lepton.export.stages.task_eval import RunNamed
from lepton.export.stages.task_outputs import (
    TaskOutputs,
    build_decoder,
    check_box_geometry,
    decode,
    describe_outputs,
    draft_manifest,
)
from lepton.export.stages.toolchain import collect_toolchain

log = logging.getLogger(__name__)

ONNX_REPORT = "reports/onnx_import.json"
EXPORTER = "user onnx"


@dataclass(frozen=True)
class TorchOrigin:
    """Where an ONNX file came from when lepton-export exported it from PyTorch itself
    (``torch_detection_build.py``): the checkpoint, the exporter, the parity gate's evidence."""

    source_path: Path
    source_sha256: str
    exporter: str
    checks: tuple[CheckResult, ...]
    report: dict[str, Any] = field(default_factory=dict)


def read_onnx_labels(config: ExportConfig) -> tuple[str, ...]:
    """The labels file, else the names inline (or from Ultralytics' metadata); both must agree."""
    names = config.model.names
    if config.model.labels is None:
        assert names is not None  # ModelConfig requires one of them
        if len(set(names)) != len(names):
            raise UsageError(f"model.names: duplicate labels in {list(names)}; each class needs its own name")
        return names
    labels = read_labels(config.model.labels)
    if names is not None and tuple(names) != labels:
        raise UsageError(
            f"model.labels {config.model.labels}: {list(labels)} differ from model.names {list(names)} "
            "(the ONNX file's own class names); remove one of them or make them agree"
        )
    return labels


def build_onnx_bundle(
    config: ExportConfig, out_dir: Path, progress: bool = True, origin: TorchOrigin | None = None
) -> BuildResult:
    """Bundle ``config.model.onnx`` at ``out_dir`` with every check, or raise and leave nothing.

    ``origin``: the file was exported from PyTorch here; its checkpoint is the bundle's source.
    """
    started = time.monotonic()
    out_dir = out_dir.resolve()
    check_bundle_target(out_dir)
    assert config.model.onnx is not None
    labels = read_onnx_labels(config)
    samples = select_samples(config.samples)
    frames = load_frames(samples)
    batch = preprocess_batch(frames, config.preprocess, config.input.spec())
    task = describe_outputs(config, labels, read_outputs(config.model.onnx))
    held = find_held_out(config, labels, samples.paths)
    int8_inputs = read_onnx_int8_inputs(config, held, progress)
    log.info(
        "%d labels; %s decoder on %s; %d sample images",
        len(labels),
        task.decoder.kind,
        task.names,
        len(frames),
    )
    with StageProgress(progress) as stages, staged_directory(out_dir) as stage:
        warnings, skipped = _build_in(
            stage, config, labels, task, (batch, [f.shape[:2] for f in frames]), held, int8_inputs, stages,
            origin,
        )  # fmt: skip
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


def _build_in(
    stage: Path,
    config: ExportConfig,
    labels: tuple[str, ...],
    task: TaskOutputs,
    samples: tuple[Tensor, list[tuple[int, int]]],
    held: HeldOut,
    int8_inputs: Int8Job | None,
    progress: StageProgress,
    origin: TorchOrigin | None = None,
) -> tuple[tuple[str, ...], dict[str, str]]:
    assert config.model.onnx is not None
    spec = config.input.spec()
    graph = import_onnx(config.model.onnx, stage / FP32_MODEL, task.names, spec)
    ort = OrtCpuModel.load(graph.path, config.input.name, task.decoder.output)

    def fp32_run(b: Tensor) -> Outputs:
        return ort.run_named(b, task.names)

    _decode_samples(config, labels, task, samples, fp32_run)
    task, chosen = _anomaly_threshold(config, labels, task, held, fp32_run)
    draft = draft_manifest(labels, task, (config.preprocess, spec))
    checks: tuple[CheckResult, ...] = (*(origin.checks if origin else ()), graph.as_check(), *chosen)
    golden = write_golden_inputs(stage, samples[0][: config.samples.golden_count], config.input.name)
    golden = _golden_outputs(stage, golden, "fp32", fp32_run, config)
    models: tuple[ModelFile, ...] = (ModelFile(FP32_MODEL, "fp32", graph.opset),)
    int8: OnnxInt8Build | None = None
    if int8_inputs is not None:
        int8 = build_onnx_int8(
            stage, config, int8_inputs, draft, held, (graph.path, fp32_run, checks), progress
        )
        for key, runner in int8.golden_runners:
            golden = _golden_outputs(stage, golden, key, runner, config)
        models += int8.models
        checks += int8.checks
    report = _write_report(stage, config, graph, held, int8, origin)
    write_bundle_manifest(
        stage,
        BundleContents(
            config=config,
            labels=labels,
            source_sha256=origin.source_sha256 if origin else graph.source_sha256,
            models=models,
            golden=golden,
            reports=(report,),
            toolchain=collect_toolchain(origin.exporter if origin else EXPORTER),
            checks=checks,
            calibration_files=int8.calibration_files if int8 else (),
            calibration=int8.manifest_calibration if int8 else None,
            speed=int8.speed if int8 else (),
            outputs=task.outputs,
            decoder=task.decoder,
            score_min=task.score_min,
            input_spec=spec,
        ),
    )
    return (int8.warnings, int8.skipped) if int8 else ((), {})


def _decode_samples(
    config: ExportConfig,
    labels: tuple[str, ...],
    task: TaskOutputs,
    samples: tuple[Tensor, list[tuple[int, int]]],
    run: RunNamed,
) -> None:
    """FP32 on the sample images through the daemon's decoder: a wrong shape or NaN stops here."""
    decoder = build_decoder(draft_manifest(labels, task, (config.preprocess, config.input.spec())))
    tensor, sizes = samples
    step = config.input.batch_max
    for start in range(0, len(tensor), step):
        outputs = run(tensor[start : start + step])
        decode(decoder, outputs, sizes[start : start + step])
        check_box_geometry(decoder, outputs, config.input.spec(), task.decoder.output)


def _anomaly_threshold(
    config: ExportConfig, labels: tuple[str, ...], task: TaskOutputs, held: HeldOut, run: RunNamed
) -> tuple[TaskOutputs, tuple[CheckResult, ...]]:
    """Choose the image threshold (best F1, anomalib's rule) on the held-out good/bad parts."""
    settings = task.decoder.anomaly
    if (
        settings is None
        or held.judge != "labels"
        or held.targets is None
        or (config.anomaly and config.anomaly.threshold is not None)
    ):
        return task, ()
    models = Models(run, run, FP32_MODEL, config.input.batch_max, (config.preprocess, config.input.spec()))
    scores = anomaly_scores(held, run, task.decoder.output, models)
    threshold = best_f1_threshold(held.targets, scores)
    chosen = settings.model_copy(
        update={"threshold": threshold, "norm_min": float(scores.min()), "norm_max": float(scores.max())}
    )
    log.info("anomaly threshold %.6g chosen on %d held-out images (best F1)", threshold, len(scores))
    check = CheckResult(
        name="anomaly_threshold",
        passed=True,
        measured={
            "threshold": threshold,
            "norm_min": float(scores.min()),
            "norm_max": float(scores.max()),
            "images": float(len(scores)),
        },
        detail="best-F1 image threshold on the held-out good/bad parts (FP32); "
        "their min/max for anomalib's normalisation",
    )
    decoder = task.decoder.model_copy(update={"anomaly": chosen})
    return TaskOutputs(task.outputs, decoder, task.score_min), (check,)


def _golden_outputs(
    stage: Path, golden: GoldenSet, key: str, run: RunNamed, config: ExportConfig
) -> GoldenSet:
    """Every output the decoder reads, for the device's smoke test (one npz per precision)."""
    with np.load(stage / golden.inputs) as stored:
        inputs = np.asarray(stored[config.input.name], dtype=np.float32)
    step = config.input.batch_max
    parts = [run(inputs[i : i + step]) for i in range(0, len(inputs), step)]
    arrays = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    rel = golden_outputs_name(key)
    np.savez(stage / rel, **arrays)  # type: ignore[arg-type]
    return GoldenSet(inputs=golden.inputs, outputs={**golden.outputs, key: rel}, count=golden.count)


def _write_report(
    stage: Path,
    config: ExportConfig,
    graph: ImportedGraph,
    held: HeldOut,
    int8: OnnxInt8Build | None,
    origin: TorchOrigin | None = None,
) -> str:
    source = origin.source_path if origin else config.model.onnx
    report = {
        "report": "lepton.export.onnx_import/1",
        "model": config.model.name,
        "version": config.model.version,
        "source": recorded_path(source, config.base_dir) if source else None,
        "source_sha256": origin.source_sha256 if origin else graph.source_sha256,
        "pytorch": origin.report if origin else None,
        "opset": graph.opset,
        "producer": graph.producer,
        "dropped_outputs": list(graph.dropped_outputs),
        "op_counts": graph.op_counts,
        "held_out": {"images": len(held.paths), "judge": held.judge,
                     "note": "INT8 judged against held-out labels" if held.judge == "labels"
                     else "no labels given: INT8 judged against FP32's own outputs on the sample images"},
        "int8": int8.report if int8 else None,
    }  # fmt: skip
    (stage / ONNX_REPORT).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stage / ONNX_REPORT, json.dumps(report, indent=2, default=str) + "\n")
    return ONNX_REPORT


__all__ = ["ONNX_REPORT", "TorchOrigin", "build_onnx_bundle", "read_onnx_labels"]
