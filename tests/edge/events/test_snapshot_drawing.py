"""The snapshot shows the operator where: the finding's box, and the heat map of an anomaly model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lepton.edge.events.schema import Finding
from lepton.edge.events.snapshots import draw_heatmap, render_snapshot


def test_the_box_is_drawn_in_red_where_the_finding_is() -> None:
    canvas = np.full((240, 320, 3), 128, dtype=np.uint8)
    jpeg = render_snapshot(canvas, Finding(label="scratch", score=0.9, box=(100, 120, 200, 200)), 95)
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    b, g, r = (int(v) for v in image[160, 100])  # on the box's left edge
    assert r > 200 and g < 60 and b < 60
    assert tuple(int(v) for v in image[160, 150]) == pytest.approx(
        (128, 128, 128), abs=6
    )  # inside: untouched


def test_the_heat_map_tints_only_the_warm_area() -> None:
    canvas = np.full((100, 100, 3), 128, dtype=np.uint8)
    heat = np.zeros((100, 100), dtype=np.float32)
    heat[40:60, 40:60] = 1.0
    draw_heatmap(canvas, heat)
    assert tuple(canvas[10, 10]) == (128, 128, 128)
    assert tuple(canvas[50, 50]) != (128, 128, 128)


def test_a_heat_map_of_another_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"heat map \(10, 10\) does not match the frame \(100, 100\)"):
        draw_heatmap(np.zeros((100, 100, 3), dtype=np.uint8), np.zeros((10, 10), dtype=np.float32))
