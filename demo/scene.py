"""Composing camera frames of the demo line, and the one rule that labels a frame.

A ``Part`` is a posed, pre-rendered sprite (plate, optional defect, shadow); a frame is the
static ``Camera`` view (rails, lighting, sensor noise) plus a window of the moving ``Belt``
plus the parts at integer positions. The data set and the conveyor video both call
``compose_frame`` and ``frame_label``, so a still image and a video frame of the same
situation are drawn and labelled the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np
import numpy.typing as npt

from demo.defects import MASK_THRESHOLD, draw_defect
from demo.labels import DEFECT_LABELS, FRAME_HEIGHT_PX, FRAME_WIDTH_PX, OK_LABEL
from demo.surfaces import (
    Image,
    NoiseBank,
    lighting_gain,
    render_belt,
    render_plate,
    render_rails,
)

GENERATOR_VERSION = "demo-scene/2"
"""Bump when rendering or labelling changes, so builds regenerate data, video and model."""

_SHADOW_OFFSET_PX = (4, 7)
_SHADOW_OPACITY = 0.55
_SPRITE_MARGIN_PX = 16


@dataclass(frozen=True)
class Box:
    """Axis-aligned pixel box, ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)


class Visibility(Enum):
    NONE = "none"
    PARTIAL = "partial"
    FULL = "full"


def box_visibility(box: Box, width_px: int = FRAME_WIDTH_PX, height_px: int = FRAME_HEIGHT_PX) -> Visibility:
    """How much of a frame-coordinate box the camera sees."""
    if box.x1 <= 0 or box.x0 >= width_px or box.y1 <= 0 or box.y0 >= height_px:
        return Visibility.NONE
    if box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width_px and box.y1 <= height_px:
        return Visibility.FULL
    return Visibility.PARTIAL


def _mask_box(mask: npt.NDArray[np.float32], threshold: float) -> Box | None:
    hit = mask > threshold
    cols = np.flatnonzero(hit.any(axis=0))
    rows = np.flatnonzero(hit.any(axis=1))
    if cols.size == 0:
        return None
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


@dataclass(frozen=True)
class Part:
    """A posed plate ready to paste: what it adds, what it keeps of the belt, and its boxes.

    Pasting is ``belt * keep + premultiplied``; ``keep`` folds coverage and cast shadow
    into one factor so a frame costs two array passes per part.
    """

    premultiplied: Image  # hxwx3, colour * alpha
    keep: Image  # hxwx3, (1 - shadow) * (1 - alpha)
    alpha: Image  # hxw, how much of each pixel the plate covers
    label: str  # "ok" or the defect on it
    body_box: Box  # sprite pixels the plate covers
    defect_box: Box | None  # sprite pixels the defect touches

    @property
    def width_px(self) -> int:
        return int(self.alpha.shape[1])

    @property
    def height_px(self) -> int:
        return int(self.alpha.shape[0])


def build_part(rng: np.random.Generator, defect: str | None) -> Part:
    """Render a plate (with ``defect`` on it, if any) and pose it: rotation ±4°, scale ±5%."""
    if defect is not None and defect not in DEFECT_LABELS:
        raise ValueError(f"unknown defect {defect!r}; valid defects are {list(DEFECT_LABELS)}")
    plate = render_plate(rng, round(rng.uniform(290, 310)), round(rng.uniform(212, 228)))
    defect_mask = None
    if defect is not None:
        drawing = draw_defect(rng, plate, defect)
        plate, defect_mask = drawing.plate, drawing.mask
    h, w = plate.alpha.shape
    angle_deg, scale = rng.uniform(-4.0, 4.0), rng.uniform(0.95, 1.05)
    rot = np.asarray(cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, scale), dtype=np.float64)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ rot.T
    span = corners.max(axis=0) - corners.min(axis=0)
    size = (int(np.ceil(span[0])) + 2 * _SPRITE_MARGIN_PX, int(np.ceil(span[1])) + 2 * _SPRITE_MARGIN_PX)
    rot[:, 2] += np.array(size, dtype=np.float64) / 2.0 - np.array([w, h]) / 2.0

    def warp(src: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(cv2.warpAffine(src, rot, size, flags=cv2.INTER_LINEAR), dtype=np.float32)

    alpha = warp(plate.alpha)
    premultiplied = warp(plate.image * plate.alpha[:, :, None])
    dx, dy = _SHADOW_OFFSET_PX
    shifted = np.zeros_like(alpha)
    shifted[dy:, dx:] = alpha[:-dy, :-dx]
    shadow = _SHADOW_OPACITY * np.asarray(cv2.GaussianBlur(shifted, (0, 0), 4.0), dtype=np.float32)
    body_box = _mask_box(alpha, 0.02)
    assert body_box is not None
    defect_box = None if defect_mask is None else _mask_box(warp(defect_mask), MASK_THRESHOLD)
    if defect is not None and defect_box is None:
        raise RuntimeError(f"the {defect} vanished when the part was posed; this is a bug")
    keep = (1.0 - shadow) * (1.0 - alpha)
    return Part(
        premultiplied=premultiplied,
        keep=np.repeat(keep[:, :, None], 3, axis=2),
        alpha=alpha,
        label=OK_LABEL if defect is None else defect,
        body_box=body_box,
        defect_box=defect_box,
    )


@dataclass(frozen=True)
class Placement:
    """A part's sprite at integer frame position (x, y) of its top-left corner."""

    part: Part
    x: int
    y: int

    def body_in_frame(self) -> Box:
        return self.part.body_box.shifted(self.x, self.y)

    def defect_in_frame(self) -> Box | None:
        box = self.part.defect_box
        return None if box is None else box.shifted(self.x, self.y)


def frame_label(placements: Sequence[Placement]) -> str | None:
    """The label of a frame: the defect fully in view, else "ok"; None when it is ambiguous.

    A defect cut by the frame edge makes the frame ambiguous (the data set skips it, the
    video's ground truth leaves it out of the defect window), as do two defects in view.
    """
    seen: list[str] = []
    for placement in placements:
        box = placement.defect_in_frame()
        if box is None:
            continue
        visibility = box_visibility(box)
        if visibility is Visibility.PARTIAL:
            return None
        if visibility is Visibility.FULL:
            seen.append(placement.part.label)
    if len(seen) > 1:
        return None
    return seen[0] if seen else OK_LABEL


@dataclass(frozen=True)
class Belt:
    """A seamless loop of belt texture; the strip is extended by one frame width to avoid modulo slicing."""

    extended: Image
    loop_px: int

    @classmethod
    def draw(cls, rng: np.random.Generator, loop_px: int, height_px: int) -> Belt:
        strip = render_belt(rng, loop_px, height_px, wrap=True)
        reps = 1 + -(-FRAME_WIDTH_PX // loop_px)
        return cls(
            extended=np.concatenate([strip] * (reps + 1), axis=1)[:, : loop_px + FRAME_WIDTH_PX],
            loop_px=loop_px,
        )

    def window(self, travel_px: int) -> Image:
        """What the camera sees after the belt has moved ``travel_px`` to the right."""
        start = (-travel_px) % self.loop_px
        return self.extended[:, start : start + FRAME_WIDTH_PX]


@dataclass(frozen=True)
class Camera:
    """What stays put in the view: side rails, belt rows, lighting gain, sensor noise."""

    rails: Image
    belt_rows: tuple[int, int]
    gain: Image  # HxWx3, lighting falloff (repeated per channel so it multiplies in one pass)
    noise: NoiseBank

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Camera:
        top = int(rng.integers(32, 50))
        bottom = FRAME_HEIGHT_PX - int(rng.integers(32, 50))
        return cls(
            rails=render_rails(rng, FRAME_WIDTH_PX, FRAME_HEIGHT_PX, (top, bottom)),
            belt_rows=(top, bottom),
            gain=np.repeat(lighting_gain(rng, FRAME_WIDTH_PX, FRAME_HEIGHT_PX), 3, axis=2),
            noise=NoiseBank.draw(rng, FRAME_WIDTH_PX, FRAME_HEIGHT_PX),
        )

    @property
    def belt_height_px(self) -> int:
        return self.belt_rows[1] - self.belt_rows[0]

    @property
    def belt_center_y(self) -> float:
        return (self.belt_rows[0] + self.belt_rows[1]) / 2.0


def _paste(frame: Image, placement: Placement) -> None:
    part = placement.part
    fx0, fy0 = max(placement.x, 0), max(placement.y, 0)
    fx1 = min(placement.x + part.width_px, FRAME_WIDTH_PX)
    fy1 = min(placement.y + part.height_px, FRAME_HEIGHT_PX)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    sx0, sy0 = fx0 - placement.x, fy0 - placement.y
    sx1, sy1 = sx0 + fx1 - fx0, sy0 + fy1 - fy0
    region = frame[fy0:fy1, fx0:fx1]
    region *= part.keep[sy0:sy1, sx0:sx1]
    region += part.premultiplied[sy0:sy1, sx0:sx1]


def compose_frame(
    rng: np.random.Generator,
    camera: Camera,
    belt: Belt,
    travel_px: int,
    placements: Sequence[Placement],
    exposure: float,
) -> npt.NDArray[np.uint8]:
    """One 640x480 BGR uint8 camera frame; ``rng`` only picks the sensor-noise window."""
    frame = camera.rails.copy()
    top, bottom = camera.belt_rows
    frame[top:bottom] = belt.window(travel_px)
    for placement in placements:
        _paste(frame, placement)
    frame = np.asarray(cv2.multiply(frame, camera.gain, scale=exposure), dtype=np.float32)
    frame += camera.noise.sample(rng)
    np.maximum(frame, 0.0, out=frame)  # convertScaleAbs would fold negatives up
    return np.asarray(cv2.convertScaleAbs(frame), dtype=np.uint8)


__all__ = [
    "GENERATOR_VERSION",
    "Belt",
    "Box",
    "Camera",
    "Part",
    "Placement",
    "Visibility",
    "box_visibility",
    "build_part",
    "compose_frame",
    "frame_label",
]
