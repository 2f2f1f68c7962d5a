"""Detection outputs → scored boxes in frame pixels, one ``FrameFindings`` per frame.

Two layouts, both as Ultralytics exports them:

- ``yolo_raw`` (YOLOv8/YOLO11): ``(N, 4+nc, A)``, rows cx, cy, w, h in input pixels, then nc
  class scores (already sigmoid, no objectness). Each anchor takes its best class (as
  Ultralytics' predict does, ``multi_label=False``); anchors under the class's threshold are
  dropped; class-aware NMS is OpenCV's ``NMSBoxesBatched`` (C++, no Python loop over boxes).
- ``end_to_end`` (YOLOv10/YOLO26): ``(N, K, 6)``, x1, y1, x2, y2, score, class; the model did
  the NMS, so only the thresholds apply.

Defaults are Ultralytics predict's (conf 0.25, IoU 0.7, max 300), so boxes compare with
what the user saw there. Boxes go back through the letterbox to frame pixels, clipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import DetectionDecoding, Manifest
from lepton.edge.decoders.checks import bad_output, output_spec, require_finite, take
from lepton.edge.decoders.findings import Detection, FrameFindings
from lepton.edge.decoders.geometry import FrameGeometry
from lepton.edge.engines.base import Outputs
from lepton.edge.errors import BundleError

InputBoxes = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]
"""(K, 4) x1, y1, x2, y2 in input pixels, (K,) scores, (K,) class indices, best first."""

MAX_CANDIDATES = 30000
"""Boxes handed to NMS at most, best first (Ultralytics' max_nms)."""


def class_thresholds(settings: DetectionDecoding, labels: Sequence[str]) -> npt.NDArray[np.float32]:
    """Per class index: its own minimum score where set, else ``score_min``."""
    unknown = sorted(set(settings.class_score_min) - set(labels))
    if unknown:
        raise BundleError(
            f"decoder.detection.class_score_min names {unknown}, which are not labels {list(labels)}; "
            "fix the export config's per-class thresholds and re-export"
        )
    return np.array(
        [settings.class_score_min.get(lab, settings.score_min) for lab in labels], dtype=np.float32
    )


def nms_per_class(
    xyxy: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    classes: npt.NDArray[np.int64],
    iou_max: float,
    keep_max: int,
) -> npt.NDArray[np.int64]:
    """Indices kept by class-aware NMS, best score first, at most ``keep_max``."""
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).astype(np.float64)
    found = cv2.dnn.NMSBoxesBatched(
        xywh,  # type: ignore[arg-type]  # OpenCV takes arrays; its stubs say sequences
        scores.astype(np.float32),  # type: ignore[arg-type]
        classes.astype(np.int32),  # type: ignore[arg-type]
        -1.0,
        iou_max,
    )
    kept = np.asarray(found, dtype=np.int64).reshape(-1)
    order = np.argsort(-scores[kept], kind="stable")
    return np.asarray(kept[order][:keep_max], dtype=np.int64)


class DetectionDecoder:
    """Reads the output the manifest names, in the layout it names; checks both against the labels."""

    def __init__(self, manifest: Manifest) -> None:
        settings = manifest.decoder.detection
        assert settings is not None  # the manifest validator requires it for kind 'detection'
        self._settings = settings
        self._output = manifest.decoder.output
        self._labels = manifest.labels
        self._preprocess, self._input = manifest.preprocess, manifest.input
        self._thresholds = class_thresholds(settings, manifest.labels)
        self._lowest = float(self._thresholds.min())
        self._check_declared(output_spec(manifest, self._output).shape)

    def _expected(self) -> str:
        nc = len(self._labels)
        if self._settings.layout == "yolo_raw":
            return f"(N, {4 + nc}, anchors): cx, cy, w, h and {nc} class scores (one per label)"
        return "(N, K, 6): x1, y1, x2, y2, score, class"

    def _check_shape(self, shape: tuple[int | str, ...], where: str) -> None:
        nc = len(self._labels)
        if self._settings.layout == "yolo_raw":
            fits = len(shape) == 3 and (not isinstance(shape[1], int) or shape[1] == 4 + nc)
        else:
            fits = len(shape) == 3 and (not isinstance(shape[2], int) or shape[2] == 6)
        if not fits:
            classes = ""
            if self._settings.layout == "yolo_raw" and len(shape) == 3 and isinstance(shape[1], int):
                classes = f" ({shape[1] - 4} classes for {nc} labels)"
            raise bad_output(
                self._output, f"{where} shape {tuple(shape)}{classes}, expected {self._expected()}"
            )

    def _check_declared(self, shape: tuple[int | str, ...]) -> None:
        self._check_shape(shape, "is declared with")

    def input_boxes(self, outputs: Outputs) -> list[InputBoxes]:
        """Per image: (x1, y1, x2, y2) in input pixels, scores, classes, after thresholds and NMS."""
        raw = take(outputs, self._output, finite=False)
        self._check_shape(tuple(raw.shape), "has")
        one = self._decode_raw if self._settings.layout == "yolo_raw" else self._decode_e2e
        return [one(rows) for rows in raw]

    def decode(self, outputs: Outputs, frame_sizes: Sequence[tuple[int, int]]) -> list[FrameFindings]:
        found = self.input_boxes(outputs)
        if len(found) != len(frame_sizes):
            raise bad_output(self._output, f"has batch {len(found)} for {len(frame_sizes)} frame(s)")
        results = []
        for (xyxy, scores, classes), hw in zip(found, frame_sizes, strict=True):
            geometry = FrameGeometry.of(hw, self._preprocess, self._input)
            boxes = geometry.boxes_to_frame(xyxy)
            inside = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # clipping left some area
            dets = tuple(
                Detection(self._labels[c], float(s), (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
                for b, s, c in zip(
                    boxes[inside].tolist(), scores[inside].tolist(), classes[inside].tolist(), strict=True
                )
            )
            results.append(FrameFindings(dets, geometry))
        return results

    def _decode_raw(
        self, rows: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        class_scores = rows[4:]
        # The max over classes is one vectorised pass; argmax (strided, several times slower
        # over all 8400 anchors) runs only on the anchors that clear the lowest threshold.
        best = class_scores.max(axis=0)  # NaN in any class score propagates here
        require_finite(self._output, best)
        anchors = np.flatnonzero(best >= self._lowest)
        classes = np.argmax(class_scores[:, anchors], axis=0)
        passed = best[anchors] >= self._thresholds[classes]
        anchors, classes = anchors[passed], classes[passed]
        scores = best[anchors]
        if anchors.size > MAX_CANDIDATES:
            top = np.argsort(-scores, kind="stable")[:MAX_CANDIDATES]
            anchors, classes, scores = anchors[top], classes[top], scores[top]
        cx, cy, w, h = rows[0, anchors], rows[1, anchors], rows[2, anchors], rows[3, anchors]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        require_finite(self._output, xyxy)
        kept = nms_per_class(xyxy, scores, classes, self._settings.iou_max, self._settings.max_detections)
        return xyxy[kept], scores[kept], classes[kept]

    def _decode_e2e(
        self, rows: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        require_finite(self._output, rows)  # (K, 6): small, checked whole
        classes = rows[:, 5].astype(np.int64)
        if classes.size and (classes.min() < 0 or classes.max() >= len(self._labels)):
            raise bad_output(
                self._output,
                f"has class indices {int(classes.min())}..{int(classes.max())}, "
                f"expected 0..{len(self._labels) - 1} (one per label)",
            )
        scores = rows[:, 4]
        keep = np.flatnonzero(scores >= self._thresholds[classes])
        keep = keep[np.argsort(-scores[keep], kind="stable")][: self._settings.max_detections]
        return rows[keep, :4].astype(np.float32), scores[keep], classes[keep]


__all__ = ["MAX_CANDIDATES", "DetectionDecoder", "InputBoxes", "class_thresholds", "nms_per_class"]
