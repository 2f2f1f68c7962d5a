"""The detection and anomaly metrics: pycocotools' mAP, box agreement, YOLO labels, the anomaly threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.decoders.findings import Detection, FrameFindings
from lepton.edge.decoders.geometry import FrameGeometry
from lepton.export.errors import UsageError
from lepton.export.stages.anomaly_metrics import auroc_f1, best_f1_threshold
from lepton.export.stages.detection_metrics import GroundTruth, box_agreement, coco_map, read_yolo_labels
from lepton.export.stages.onnx_metadata import parse_ultralytics

GEOMETRY = FrameGeometry.of(
    (100, 100),
    PreprocessSpec(color_order="rgb", resize_mode="stretch", mean=(0, 0, 0), std=(1, 1, 1)),
    InputSpec(name="images", height=100, width=100),
)
LABELS = ("scratch", "dent")


def frame(*dets: tuple[str, float, tuple[float, float, float, float]]) -> FrameFindings:
    return FrameFindings(tuple(Detection(label, score, box) for label, score, box in dets), GEOMETRY)


def test_coco_map_is_one_for_exact_boxes_and_lower_for_loose_ones() -> None:
    truth = [GroundTruth(np.array([[10.0, 10, 50, 50]]), np.array([0]))]
    assert coco_map(truth, [frame(("scratch", 0.9, (10, 10, 50, 50)))], LABELS) == pytest.approx((1.0, 1.0))
    map50, map_all = coco_map(truth, [frame(("scratch", 0.9, (12, 12, 52, 52)))], LABELS)  # IoU ~0.82
    assert map50 == pytest.approx(1.0) and 0.3 < map_all < 0.9
    assert coco_map(truth, [frame(("dent", 0.9, (10, 10, 50, 50)))], LABELS) == (0.0, 0.0)  # wrong class


def test_box_agreement_counts_same_label_overlaps() -> None:
    ref = [frame(("scratch", 0.9, (10, 10, 50, 50)), ("dent", 0.8, (60, 60, 90, 90)))]
    assert box_agreement(ref, ref) == 1.0
    moved = [frame(("scratch", 0.9, (12, 10, 52, 50)), ("scratch", 0.8, (60, 60, 90, 90)))]
    assert box_agreement(ref, moved) == pytest.approx(0.5)  # one of two matched on each side
    assert box_agreement([frame()], [frame()]) == 1.0


def test_yolo_labels_become_pixel_boxes_and_bad_lines_are_named(tmp_path: Path) -> None:
    good = tmp_path / "a.txt"
    good.write_text("1 0.5 0.25 0.2 0.1\n\n")
    gt = read_yolo_labels(good, (200, 400), classes=2)
    assert gt.classes.tolist() == [1] and gt.boxes.tolist() == [[160.0, 40.0, 240.0, 60.0]]
    assert read_yolo_labels(tmp_path / "missing.txt", (10, 10), 2).boxes.shape == (0, 4)
    bad = tmp_path / "b.txt"
    bad.write_text("0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1\n")
    with pytest.raises(UsageError, match=r"b\.txt line 2: '5 0\.5 0\.5 0\.1 0\.1' is not 'class cx cy w h'"):
        read_yolo_labels(bad, (10, 10), classes=2)


def test_anomaly_threshold_has_the_best_f1_and_a_margin() -> None:
    targets = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    threshold = best_f1_threshold(targets, scores)
    assert threshold == pytest.approx(0.5)  # halfway between the best good and the worst bad score
    assert auroc_f1(targets, scores, threshold) == (1.0, 1.0)


def test_ultralytics_metadata_is_read_as_its_exporter_writes_it() -> None:
    props = {
        "author": "Ultralytics",
        "task": "detect",
        "stride": "32",
        "imgsz": "[480, 640]",
        "names": "{0: 'scratch', 1: 'dent', 2: 'stain'}",
        "args": "{'batch': 1, 'nms': True}",
    }
    meta = parse_ultralytics(props)
    assert meta is not None
    assert (meta.task, meta.names, meta.imgsz, meta.stride, meta.end_to_end) == (
        "detect", ("scratch", "dent", "stain"), (480, 640), 32, True,
    )  # fmt: skip
    assert parse_ultralytics({"producer": "pytorch"}) is None
