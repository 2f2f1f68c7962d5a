"""Scene rendering: determinism by seed, defect visibility at model scale, the labelling rule."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from demo.defects import draw_defect
from demo.labels import DEFECT_LABELS, FRAME_HEIGHT_PX, FRAME_WIDTH_PX, OK_LABEL
from demo.scene import (
    Belt,
    Box,
    Camera,
    Placement,
    Visibility,
    box_visibility,
    build_part,
    compose_frame,
    frame_label,
)
from demo.surfaces import render_plate


def _frame(seed: int, defect: str | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    camera = Camera.draw(rng)
    belt = Belt.draw(rng, 1280, camera.belt_height_px)
    part = build_part(rng, defect)
    placement = Placement(part, 170, round(camera.belt_center_y - part.height_px / 2))
    return compose_frame(rng, camera, belt, 33, [placement], 1.0)


def test_same_seed_draws_the_same_frame() -> None:
    first, again = _frame(7, "crack"), _frame(7, "crack")
    assert first.shape == (FRAME_HEIGHT_PX, FRAME_WIDTH_PX, 3)
    assert first.dtype == np.uint8
    assert np.array_equal(first, again)


def test_another_seed_draws_another_frame() -> None:
    assert not np.array_equal(_frame(7, "crack"), _frame(8, "crack"))


@pytest.mark.parametrize("label", DEFECT_LABELS)
def test_every_defect_keeps_contrast_at_model_resolution(label: str) -> None:
    """Drawn at 640x480, shrunk 4x with INTER_AREA like preprocessing: still a clear mark."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        plate = render_plate(rng, 300, 220)
        drawn = draw_defect(rng, plate, label)
        size = (300 // 4, 220 // 4)
        before = cv2.resize(plate.image, size, interpolation=cv2.INTER_AREA)
        after = cv2.resize(drawn.plate.image, size, interpolation=cv2.INTER_AREA)
        assert np.abs(after - before).max() >= 15.0, f"{label} seed {seed} fades at 1/4 scale"
        # ... and it is a defect, not a repaint: most of the plate is untouched.
        assert (drawn.mask > 0.05).mean() < 0.08


def test_defects_stay_off_holes_and_edges() -> None:
    for seed in range(6):
        rng = np.random.default_rng(seed)
        plate = render_plate(rng, 300, 220)
        for label in DEFECT_LABELS:
            mask = draw_defect(rng, plate, label).mask > 0.05
            ys, xs = np.nonzero(mask)
            assert xs.min() >= 10 and ys.min() >= 10
            assert xs.max() < 290 and ys.max() < 210
            for hole in plate.holes:
                d2 = (xs - hole.x) ** 2 + (ys - hole.y) ** 2
                assert d2.min() > (hole.radius + 2.5) ** 2


def test_unknown_defect_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid defects are") as err:
        build_part(np.random.default_rng(0), "rust")
    assert "scratch" in str(err.value)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (Box(0, 0, FRAME_WIDTH_PX, FRAME_HEIGHT_PX), Visibility.FULL),
        (Box(-1, 100, 40, 140), Visibility.PARTIAL),
        (Box(600, 100, 641, 140), Visibility.PARTIAL),
        (Box(-40, 100, 0, 140), Visibility.NONE),
        (Box(FRAME_WIDTH_PX, 100, 700, 140), Visibility.NONE),
    ],
)
def test_box_visibility_at_the_frame_edges(box: Box, expected: Visibility) -> None:
    assert box_visibility(box) is expected


def test_frame_label_follows_the_defect_not_the_part() -> None:
    part = build_part(np.random.default_rng(3), "scratch")
    box = part.defect_box
    assert box is not None
    y = 100
    fully_in = Placement(part, -box.x0, y)  # defect touches the left edge, still whole
    cut = Placement(part, -box.x0 - 1, y)  # one column of the defect off screen
    gone = Placement(part, -box.x1, y)  # defect just left; much of the part still shows
    assert frame_label([fully_in]) == "scratch"
    assert frame_label([cut]) is None
    assert frame_label([gone]) == OK_LABEL
    assert gone.body_in_frame().x1 > 0, "the test wants the part itself in view"
    assert frame_label([]) == OK_LABEL
    assert frame_label([Placement(build_part(np.random.default_rng(4), None), 100, y)]) == OK_LABEL


def test_two_whole_defects_in_one_frame_are_ambiguous() -> None:
    a = build_part(np.random.default_rng(5), "dent")
    b = build_part(np.random.default_rng(6), "stain")
    assert a.defect_box is not None and b.defect_box is not None
    both = [Placement(a, -a.defect_box.x0, 0), Placement(b, FRAME_WIDTH_PX - b.defect_box.x1, 0)]
    assert frame_label(both) is None
