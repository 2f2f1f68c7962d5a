"""The accuracy gates of a model brought as ONNX, by task: INT8 judged on held-out data.

    detection       [detection.evaluation] (YOLO labels): mAP@0.5 and mAP@0.5:0.95 drop
                    (pycocotools); without labels: F1 of INT8's boxes against FP32's
    anomaly         [anomaly.evaluation] (good/bad parts): AUROC and F1 drop (scikit-learn);
                    without labels: share of verdicts equal to FP32's
    classification  [evaluation] (<dir>/<label>/ images): top-1 accuracy drop with its paired
                    interval, as a PyTorch export's gate; without labels: top-1 agreement
                    with FP32 on the sample images

Without labels the judge is FP32 itself, and the check's detail and the report say so. A
failed gate raises ``AccuracyFailed`` (exit 5), as the classification accuracy gate does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from lepton.calibration.evaluation import find_evaluation_set
from lepton.edge.bundle.manifest import CheckResult, InputSpec, Manifest, PreprocessSpec
from lepton.edge.decoders.findings import FrameFindings
from lepton.export.config import EvaluationConfig, ExportConfig
from lepton.export.errors import AccuracyFailed, UsageError
from lepton.export.stages.accuracy import AccuracyResult, measure_accuracy
from lepton.export.stages.anomaly_metrics import AnomalyAccuracy, auroc_f1
from lepton.export.stages.detection_metrics import (
    VALIDATION_SCORE_MIN,
    DetectionAccuracy,
    GroundTruth,
    box_agreement,
    coco_map,
    read_yolo_labels,
)
from lepton.export.stages.task_eval import RunNamed, batches, list_images, scores_of, usage_errors
from lepton.export.stages.task_outputs import build_decoder, decode
from lepton.export.task_config import AnomalyConfig, DetectionConfig

Judge = Literal["labels", "fp32"]


@dataclass(frozen=True)
class HeldOut:
    """Images INT8 is judged on, and what they are known to hold."""

    paths: tuple[Path, ...]
    judge: Judge
    targets: npt.NDArray[np.int64] | None = None
    """Anomaly: 1 for a bad part, 0 for a good one; classification: the label's index."""
    label_dir: Path | None = None
    """Detection: the YOLO label files."""


def find_held_out(config: ExportConfig, labels: tuple[str, ...], samples: Sequence[Path]) -> HeldOut:
    """The labelled held-out set of the task, else the sample images with FP32 as the judge."""
    det, anomaly = config.detection, config.anomaly
    table = {"detection": det and det.evaluation, "anomaly": anomaly and anomaly.evaluation}
    if config.skip_evaluation and table.get(config.model.task) is not None:
        raise UsageError(
            f"evaluation = false and a [{config.model.task}.evaluation] table: keep one (the table "
            "gates INT8 on held-out labels, evaluation = false exports without labelled data)"
        )
    if config.model.task == "detection" and det is not None and det.evaluation is not None:
        images = list_images(det.evaluation.images, "detection.evaluation.images")
        return HeldOut(tuple(images), "labels", label_dir=det.evaluation.labels)
    if config.model.task == "anomaly" and anomaly is not None and anomaly.evaluation is not None:
        good = list_images(anomaly.evaluation.good, "anomaly.evaluation.good")
        bad = list_images(anomaly.evaluation.bad, "anomaly.evaluation.bad")
        targets = np.array([0] * len(good) + [1] * len(bad), dtype=np.int64)
        return HeldOut((*good, *bad), "labels", targets=targets)
    if config.model.task == "classification" and config.evaluation is not None:
        with usage_errors():
            found = find_evaluation_set(config.evaluation.dir, labels, "evaluation.dir")
        return HeldOut(tuple(item.path for item in found.items), "labels", targets=found.targets)
    return HeldOut(tuple(samples), "fp32")


@dataclass(frozen=True)
class Models:
    fp32: RunNamed
    int8: RunNamed
    artifact: str
    batch: int
    preprocess: tuple[PreprocessSpec, InputSpec]


def anomaly_scores(held: HeldOut, run: RunNamed, output: str, models: Models) -> npt.NDArray[np.float64]:
    return np.concatenate(
        [scores_of(run(b.tensor), output) for b in batches(held.paths, models.preprocess, models.batch)]
    )


def gate_anomaly(held: HeldOut, draft: Manifest, config: AnomalyConfig, models: Models) -> AnomalyAccuracy:
    settings = draft.decoder.anomaly
    assert settings is not None
    output = draft.decoder.output
    fp32 = anomaly_scores(held, models.fp32, output, models)
    int8 = anomaly_scores(held, models.int8, output, models)
    threshold = settings.threshold
    if held.judge == "labels" and held.targets is not None and config.evaluation is not None:
        auroc = auroc_f1(held.targets, fp32, threshold), auroc_f1(held.targets, int8, threshold)
        drops = (100 * (auroc[0][0] - auroc[1][0]), 100 * (auroc[0][1] - auroc[1][1]))
        limits = {
            "auroc_drop_max_pt": config.evaluation.auroc_drop_max_pt,
            "f1_drop_max_pt": config.evaluation.f1_drop_max_pt,
        }
        return AnomalyAccuracy(
            artifact=models.artifact, judge="labels", images=len(fp32), threshold=threshold,
            auroc_fp32=auroc[0][0], auroc_int8=auroc[1][0], f1_fp32=auroc[0][1], f1_int8=auroc[1][1],
            auroc_drop_pt=drops[0], f1_drop_pt=drops[1], thresholds=limits,
            passed=drops[0] <= limits["auroc_drop_max_pt"] and drops[1] <= limits["f1_drop_max_pt"],
        )  # fmt: skip
    agreement = float(np.mean((fp32 >= threshold) == (int8 >= threshold)))
    return AnomalyAccuracy(
        artifact=models.artifact, judge="fp32", images=len(fp32), threshold=threshold, agreement=agreement,
        thresholds={"agreement_min": config.agreement_min}, passed=agreement >= config.agreement_min,
    )  # fmt: skip


def _detections(held: HeldOut, run: RunNamed, draft: Manifest, models: Models) -> list[FrameFindings]:
    decoder = build_decoder(draft)
    found: list[FrameFindings] = []
    for b in batches(held.paths, models.preprocess, models.batch):
        found += [f for f in decode(decoder, run(b.tensor), b.sizes) if isinstance(f, FrameFindings)]
    return found


def _validation_draft(draft: Manifest) -> Manifest:
    """The same decoder at Ultralytics val's score threshold, so mAP sees the whole PR curve."""
    settings = draft.decoder.detection
    assert settings is not None
    loose = settings.model_copy(update={"score_min": VALIDATION_SCORE_MIN, "class_score_min": {}})
    return draft.model_copy(update={"decoder": draft.decoder.model_copy(update={"detection": loose})})


def gate_detection(
    held: HeldOut, draft: Manifest, config: DetectionConfig, models: Models
) -> DetectionAccuracy:
    if held.judge == "labels" and held.label_dir is not None and config.evaluation is not None:
        loose = _validation_draft(draft)
        fp32 = _detections(held, models.fp32, loose, models)
        int8 = _detections(held, models.int8, loose, models)
        truth = _ground_truth(held, len(draft.labels), fp32)
        (m50_f, m_f), (m50_i, m_i) = coco_map(truth, fp32, draft.labels), coco_map(truth, int8, draft.labels)
        drops = 100 * (m50_f - m50_i), 100 * (m_f - m_i)
        ev = config.evaluation
        limits = {"map50_drop_max_pt": ev.map50_drop_max_pt, "map_drop_max_pt": ev.map_drop_max_pt}
        return DetectionAccuracy(
            artifact=models.artifact, judge="labels", images=len(truth), map50_fp32=m50_f, map50_int8=m50_i,
            map_fp32=m_f, map_int8=m_i, map50_drop_pt=drops[0], map_drop_pt=drops[1], thresholds=limits,
            passed=drops[0] <= ev.map50_drop_max_pt and drops[1] <= ev.map_drop_max_pt,
        )  # fmt: skip
    fp32 = _detections(held, models.fp32, draft, models)
    int8 = _detections(held, models.int8, draft, models)
    agreement = box_agreement(fp32, int8)
    return DetectionAccuracy(
        artifact=models.artifact, judge="fp32", images=len(fp32), agreement_f1=agreement,
        thresholds={"agreement_min": config.agreement_min}, passed=agreement >= config.agreement_min,
    )  # fmt: skip


def _ground_truth(held: HeldOut, classes: int, found: Sequence[FrameFindings]) -> list[GroundTruth]:
    assert held.label_dir is not None
    return [
        read_yolo_labels(
            held.label_dir / f"{path.stem}.txt", (f.geometry.frame_h, f.geometry.frame_w), classes
        )
        for path, f in zip(held.paths, found, strict=True)
    ]


def labelled_top1(
    held: HeldOut, draft: Manifest, config: EvaluationConfig, models: Models, key: str
) -> AccuracyResult:
    """FP32 and INT8 top-1 on the labelled held-out images: the PyTorch export's gate."""
    assert held.judge == "labels" and held.targets is not None
    output = draft.decoder.output
    fp32, int8 = [], []
    for b in batches(held.paths, models.preprocess, models.batch):
        fp32.append(models.fp32(b.tensor)[output])
        int8.append(models.int8(b.tensor)[output])
    logits = (np.concatenate(fp32), np.concatenate(int8))
    return measure_accuracy((key, models.artifact), draft.labels, held.targets, logits, config)


def gate_top1(held: HeldOut, output: str, agreement_min: float, models: Models) -> CheckResult:
    agree = total = 0
    for b in batches(held.paths, models.preprocess, models.batch):
        a, c = models.fp32(b.tensor)[output], models.int8(b.tensor)[output]
        agree += int(np.sum(np.argmax(a, axis=-1) == np.argmax(c, axis=-1)))
        total += len(a)
    share = agree / max(total, 1)
    return CheckResult(
        name="accuracy_int8",
        passed=share >= agreement_min,
        measured={"top1_agreement": share, "images": float(total)},
        thresholds={"top1_agreement_min": agreement_min},
        detail=f"{models.artifact}: top-1 agreement with FP32 on the sample images "
        "(no labels: judged against FP32)",
    )


def accuracy_check(result: DetectionAccuracy | AnomalyAccuracy) -> CheckResult:
    measured = {
        k: float(v)
        for k, v in result.model_dump().items()
        if isinstance(v, float | int) and not isinstance(v, bool)
    }
    judge = "held-out labels" if result.judge == "labels" else "no labels: judged against FP32's own outputs"
    return CheckResult(
        name="accuracy_int8", passed=result.passed, measured=measured, thresholds=result.thresholds,
        detail=f"{result.artifact} on {result.images} images ({judge})",
    )  # fmt: skip


def raise_if_failed(check: CheckResult, failure: str, checks: tuple[CheckResult, ...]) -> None:
    if not check.passed:
        raise AccuracyFailed(
            f"accuracy gate: {failure}; keep sensitive nodes in float (quantize.exclude_nodes), try another "
            "calibration.method or more calibration samples, or ship FP32 (--no-int8)",
            checks=checks,
        )


__all__ = [
    "HeldOut",
    "Models",
    "accuracy_check",
    "find_held_out",
    "gate_anomaly",
    "gate_detection",
    "gate_top1",
    "labelled_top1",
    "raise_if_failed",
]
