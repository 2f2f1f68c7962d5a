"""YOLO outputs → boxes in frame pixels: thresholds, class-aware NMS, letterbox undone, bad outputs."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.edge.bundle.manifest import DetectionDecoding
from lepton.edge.decoders.detection import DetectionDecoder
from lepton.edge.decoders.registry import create_decoder
from lepton.edge.errors import BundleError
from tests.edge.decoders.manifests import detection_manifest

FRAME = (480, 640)  # letterboxed into 640x640: scale 1, 80 rows of padding on top


def raw_output(boxes: list[tuple[float, float, float, float, int, float]], nc: int = 2, anchors: int = 8400):
    """(1, 4+nc, A): each (cx, cy, w, h, class, score) in its own anchor; the rest empty."""
    out = np.zeros((1, 4 + nc, anchors), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(boxes):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


def test_defaults_are_ultralytics_predict() -> None:
    settings = DetectionDecoding(layout="yolo_raw")
    assert (settings.score_min, settings.iou_max, settings.max_detections) == (0.25, 0.7, 300)


def test_raw_output_gives_class_aware_nms_and_frame_pixels() -> None:
    decoder = create_decoder(detection_manifest())
    assert isinstance(decoder, DetectionDecoder)
    out = raw_output(
        [
            (320, 320, 100, 100, 0, 0.9),  # kept
            (322, 322, 100, 100, 0, 0.8),  # same class, IoU ~0.96: suppressed
            (322, 322, 100, 100, 1, 0.7),  # other class at the same place: kept (class-aware)
            (100, 400, 40, 40, 0, 0.2),  # under conf 0.25
        ]
    )
    (found,) = decoder.decode({"output0": out}, [FRAME])
    assert [(d.label, round(d.score, 2)) for d in found.detections] == [("scratch", 0.9), ("dent", 0.7)]
    assert found.detections[0].box == pytest.approx((270, 190, 370, 290))  # 80 rows of pad off y


def test_boxes_are_clipped_to_the_frame() -> None:
    decoder = create_decoder(detection_manifest())
    out = raw_output([(10, 90, 60, 40, 0, 0.9)])  # reaches into the pad and past the left edge
    (found,) = decoder.decode({"output0": out}, [FRAME])
    assert found.detections[0].box == pytest.approx((0, 0, 40, 30))


def test_boxes_scale_back_to_a_larger_frame() -> None:
    decoder = create_decoder(detection_manifest())
    out = raw_output([(320, 320, 64, 64, 1, 0.5)])
    (found,) = decoder.decode({"output0": out}, [(960, 1280)])  # scale 2, pad 80 in input pixels
    assert found.detections[0].box == pytest.approx((576, 416, 704, 544))


def test_per_class_threshold_overrides_the_default() -> None:
    decoder = create_decoder(detection_manifest(class_score_min={"dent": 0.6}))
    out = raw_output([(100, 200, 50, 50, 0, 0.3), (400, 200, 50, 50, 1, 0.5)])
    (found,) = decoder.decode({"output0": out}, [FRAME])
    assert [d.label for d in found.detections] == ["scratch"]


def test_max_detections_keeps_the_best() -> None:
    decoder = create_decoder(detection_manifest(max_detections=2))
    out = raw_output([(60 * i + 30, 300, 20, 20, 0, 0.3 + 0.1 * i) for i in range(5)])
    (found,) = decoder.decode({"output0": out}, [FRAME])
    assert [round(d.score, 2) for d in found.detections] == [0.7, 0.6]


def test_batch_decodes_each_frame() -> None:
    decoder = create_decoder(detection_manifest())
    out = np.concatenate([raw_output([(320, 320, 10, 10, 0, 0.9)]), raw_output([])])
    first, second = decoder.decode({"output0": out}, [FRAME, FRAME])
    assert len(first.detections) == 1 and second.detections == ()


def test_end_to_end_output_applies_thresholds_only() -> None:
    decoder = create_decoder(detection_manifest(layout="end_to_end"))
    out = np.zeros((1, 300, 6), dtype=np.float32)
    out[0, 0] = (270, 270, 370, 370, 0.9, 1)
    out[0, 1] = (272, 272, 372, 372, 0.8, 1)  # overlapping, same class: the model's NMS kept it, so do we
    out[0, 2] = (0, 0, 10, 10, 0.1, 0)
    (found,) = decoder.decode({"output0": out}, [FRAME])
    assert [d.label for d in found.detections] == ["dent", "dent"]
    assert found.detections[0].box == pytest.approx((270, 190, 370, 290))


def test_class_count_disagreeing_with_labels_is_refused_at_load() -> None:
    manifest = detection_manifest(shape=("N", 4 + 80, 8400))
    with pytest.raises(BundleError) as err:
        create_decoder(manifest)
    message = str(err.value)
    assert "'output0'" in message and "80 classes for 2 labels" in message and "(N, 6, anchors)" in message
    assert err.value.exit_code == 65


def test_output_matching_no_layout_is_refused_at_decode() -> None:
    decoder = create_decoder(detection_manifest(shape=("N", "C", "A")))
    with pytest.raises(
        BundleError, match=r"output 'output0' has shape \(1, 7, 100\).*expected \(N, 6, anchors\)"
    ):
        decoder.decode({"output0": np.zeros((1, 7, 100), dtype=np.float32)}, [FRAME])


def test_nan_scores_are_refused() -> None:
    decoder = create_decoder(detection_manifest())
    out = raw_output([(320, 320, 10, 10, 0, 0.9)])
    out[0, 4, 5] = np.nan
    with pytest.raises(BundleError, match="output 'output0' holds 1 NaN/inf value"):
        decoder.decode({"output0": out}, [FRAME])


def test_class_index_outside_labels_is_refused() -> None:
    decoder = create_decoder(detection_manifest(layout="end_to_end"))
    out = np.zeros((1, 300, 6), dtype=np.float32)
    out[0, 0] = (0, 0, 10, 10, 0.9, 7)
    with pytest.raises(BundleError, match=r"class indices 0\.\.7, expected 0\.\.1"):
        decoder.decode({"output0": out}, [FRAME])


def test_unknown_label_in_per_class_thresholds_is_refused() -> None:
    with pytest.raises(BundleError, match=r"class_score_min names \['crack'\]"):
        create_decoder(detection_manifest(class_score_min={"crack": 0.5}))


def test_nan_in_a_box_of_a_kept_anchor_is_refused() -> None:
    decoder = create_decoder(detection_manifest())
    out = raw_output([(320, 320, 10, 10, 0, 0.9)])
    out[0, 2, 0] = np.nan  # w: both x1 and x2 of the box
    with pytest.raises(BundleError, match="output 'output0' holds 2 NaN/inf value"):
        decoder.decode({"output0": out}, [FRAME])


def test_nan_in_an_end_to_end_output_is_refused() -> None:
    decoder = create_decoder(detection_manifest(layout="end_to_end"))
    out = np.zeros((1, 300, 6), dtype=np.float32)
    out[0, 3, 5] = np.nan
    with pytest.raises(BundleError, match="NaN/inf"):
        decoder.decode({"output0": out}, [FRAME])


def test_a_box_entirely_outside_the_frame_is_dropped() -> None:
    decoder = create_decoder(detection_manifest())
    out = raw_output([(320, 40, 60, 40, 0, 0.9), (320, 320, 10, 10, 1, 0.8)])  # the first lies in the pad
    (found,) = decoder.decode({"output0": out}, [FRAME])
    assert [d.label for d in found.detections] == ["dent"]
