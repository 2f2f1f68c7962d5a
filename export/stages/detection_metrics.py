"""Stage: detection accuracy of FP32 and INT8, by pycocotools, on held-out YOLO-format labels.

mAP@0.5 and mAP@0.5:0.95 are COCO's (``COCOeval``, 300 detections per image as Ultralytics
validates); boxes are the daemon's own decoding (``lepton.edge.decoders``) at a validation
score threshold of 0.001 (Ultralytics val's), mapped to image pixels. The gate is the drop
from FP32 to INT8, in points. Without labels, INT8 is judged against FP32's own boxes at
the deployed thresholds: F1 of the boxes that match (same class, IoU >= 0.5), and the
report says the judge was FP32.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lepton.edge.decoders.findings import FrameFindings
from lepton.edge.events.association import iou_matrix
from lepton.edge.strict_model import StrictModel
from lepton.export.errors import UsageError

log = logging.getLogger(__name__)

VALIDATION_SCORE_MIN = 0.001
AGREEMENT_IOU = 0.5


@dataclass(frozen=True)
class GroundTruth:
    boxes: npt.NDArray[np.float64]
    """(K, 4) x1, y1, x2, y2 in image pixels."""
    classes: npt.NDArray[np.int64]


def read_yolo_labels(label_file: Path, image_hw: tuple[int, int], classes: int) -> GroundTruth:
    """``class cx cy w h`` per line, normalised to the image; a missing file means no boxes."""
    if not label_file.is_file():
        return GroundTruth(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    rows = []
    for number, line in enumerate(label_file.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(p) for p in parts[:5]]
        except ValueError:
            values = []
        if len(values) != 5 or not values[0].is_integer() or not 0 <= values[0] < classes:
            raise UsageError(
                f"detection.evaluation.labels {label_file} line {number}: {line.strip()!r} is not "
                f"'class cx cy w h' with class in 0..{classes - 1}; fix the label file (YOLO format)"
            )
        rows.append(tuple(values))
    ih, iw = image_hw
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    cx, cy, w, h = arr[:, 1] * iw, arr[:, 2] * ih, arr[:, 3] * iw, arr[:, 4] * ih
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return GroundTruth(boxes, arr[:, 0].astype(np.int64))


def _coco_boxes(boxes: npt.NDArray[np.float64]) -> list[list[float]]:
    return [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]


def coco_map(
    truth: Sequence[GroundTruth], found: Sequence[FrameFindings], labels: tuple[str, ...]
) -> tuple[float, float]:
    """(mAP@0.5, mAP@0.5:0.95) by pycocotools; its prints are kept off stdout."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    index = {label: i for i, label in enumerate(labels)}
    annotations: list[dict[str, object]] = []
    for image_id, gt in enumerate(truth, start=1):
        for box, cls in zip(_coco_boxes(gt.boxes), gt.classes.tolist(), strict=True):
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": cls + 1,
                 "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
            )  # fmt: skip
    if not annotations:
        raise UsageError(
            "detection.evaluation.labels: no image has a box; point it at the YOLO labels folder"
        )
    detections = [
        {"image_id": image_id, "category_id": index[d.label] + 1, "bbox": _coco_boxes(np.array([d.box]))[0],
         "score": d.score}
        for image_id, frame in enumerate(found, start=1)
        for d in frame.detections
        if d.box is not None
    ]  # fmt: skip
    if not detections:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i} for i in range(1, len(truth) + 1)],
            "annotations": annotations,
            "categories": [{"id": i + 1, "name": lab} for i, lab in enumerate(labels)],
        }
        gt.createIndex()
        dt = gt.loadRes(detections)
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.params.maxDets = [1, 10, 300]
        evaluation.evaluate()
        evaluation.accumulate()
    # precision[iou threshold, recall, class, area range, max detections]: 'all' areas, 300 per
    # image (COCOeval.summarize would read 100 detections, a number not in maxDets here)
    precision = np.asarray(evaluation.eval["precision"])[:, :, :, 0, -1]
    return _mean_valid(precision[0]), _mean_valid(precision)


def _mean_valid(precision: npt.NDArray[np.float64]) -> float:
    """COCO's mean over defined entries (-1 marks a class without ground truth)."""
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else 0.0


def box_agreement(reference: Sequence[FrameFindings], candidate: Sequence[FrameFindings]) -> float:
    """F1 of ``candidate``'s boxes against ``reference``'s: same label, IoU >= 0.5, greedy by IoU."""
    matched = total_ref = total_cand = 0
    for ref, cand in zip(reference, candidate, strict=True):
        total_ref += len(ref.detections)
        total_cand += len(cand.detections)
        for label in {d.label for d in ref.detections}:
            a = np.array([d.box for d in ref.detections if d.label == label and d.box is not None]).reshape(
                -1, 4
            )
            b = np.array([d.box for d in cand.detections if d.label == label and d.box is not None]).reshape(
                -1, 4
            )
            if not len(a) or not len(b):
                continue
            iou = iou_matrix(a, b)
            while iou.size and iou.max() >= AGREEMENT_IOU:
                i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
                matched += 1
                iou[i, :] = -1
                iou[:, j] = -1
    if total_ref + total_cand == 0:
        return 1.0
    return 2 * matched / (total_ref + total_cand)


class DetectionAccuracy(StrictModel):
    """What the INT8 detection gate measured; ``judge`` says against what."""

    artifact: str
    judge: str
    """'labels' (held-out YOLO labels) or 'fp32' (no labels: FP32's own boxes)."""
    images: int
    map50_fp32: float | None = None
    map50_int8: float | None = None
    map_fp32: float | None = None
    map_int8: float | None = None
    map50_drop_pt: float | None = None
    map_drop_pt: float | None = None
    agreement_f1: float | None = None
    thresholds: dict[str, float]
    passed: bool

    def failure(self) -> str:
        limits = self.thresholds
        if self.judge == "fp32":
            return (
                f"{self.artifact}: its boxes agree with FP32's at F1 {self.agreement_f1:.3f} on "
                f"{self.images} images (no labels: judged against FP32), below "
                f"detection.agreement_min {limits['agreement_min']}"
            )
        return (
            f"{self.artifact}: mAP@0.5 {self.map50_fp32:.4f} → {self.map50_int8:.4f} (drop "
            f"{self.map50_drop_pt:.2f} pt, max {limits['map50_drop_max_pt']}), mAP@0.5:0.95 "
            f"{self.map_fp32:.4f} → {self.map_int8:.4f} (drop {self.map_drop_pt:.2f} pt, max "
            f"{limits['map_drop_max_pt']}) on {self.images} images"
        )


__all__ = [
    "AGREEMENT_IOU",
    "VALIDATION_SCORE_MIN",
    "DetectionAccuracy",
    "GroundTruth",
    "box_agreement",
    "coco_map",
    "read_yolo_labels",
]
