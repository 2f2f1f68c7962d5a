"""The four defects of the demo line, drawn onto an unposed plate.

Sizes are chosen for the model's view: a 640x480 frame shrinks 4x to 160x120, so a defect
must keep a few pixels of contrast there (a 2 px scratch becomes a half-pixel line at a
quarter of its contrast) without being so large that the task is trivial. Every drawing
returns the defect's own mask, which the scene warps with the part to decide whether the
defect is fully in view; that one mask is what makes the data set and the video agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from demo.labels import DEFECT_LABELS
from demo.surfaces import Image, Plate, aa_polyline, blurred_noise, distance_inside

MASK_THRESHOLD = 0.05
"""Mask values above this count as defect pixels (bounding box, visibility)."""

_EDGE_MARGIN_PX = 10.0
_HOLE_MARGIN_PX = 8.0
_MAX_TRIES = 60


@dataclass(frozen=True)
class DefectDrawing:
    """A plate with one defect on it, and where the defect is (HxW mask, 0..1)."""

    plate: Plate
    mask: Image


def _points_along(
    rng: np.random.Generator,
    start: npt.NDArray[np.float64],
    angle: float,
    steps: int,
    step_px: tuple[float, float],
    turn_rad: float,
    pull: float,
) -> npt.NDArray[np.float64]:
    """A random walk that keeps turning back towards ``angle``: how cracks and marks wander."""
    heading = angle
    points = [start]
    for _ in range(steps):
        heading += rng.normal(0.0, turn_rad) + pull * (angle - heading)
        step = rng.uniform(*step_px)
        points.append(points[-1] + step * np.array([np.cos(heading), np.sin(heading)]))
    return np.array(points)


def _scratch(rng: np.random.Generator, plate: Plate, center: npt.NDArray[np.float64]) -> DefectDrawing:
    """A long, thin, near-straight line, brighter (fresh metal) or darker (dirt) than the plate."""
    h, w = plate.alpha.shape
    length = rng.uniform(80.0, 160.0)
    angle = rng.uniform(0.0, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    t = np.linspace(-0.5, 0.5, 9)[:, None]
    bow = rng.uniform(-4.0, 4.0) * (1.0 - 4.0 * t**2) + rng.normal(0.0, 0.5, t.shape)
    points = center + t * length * direction + bow * normal
    raw = np.zeros((h, w), dtype=np.uint8)
    aa_polyline(raw, points, 2)
    mask = raw.astype(np.float32) / 255.0
    mask *= np.clip(0.8 + 0.2 * blurred_noise(rng, (h, w), (6.0, 6.0)), 0.4, 1.0)
    contrast = rng.uniform(60.0, 90.0) if rng.random() < 0.7 else -rng.uniform(55.0, 75.0)
    image = plate.image + (contrast * mask)[:, :, None]
    return DefectDrawing(replace(plate, image=image.astype(np.float32)), mask)


def _window(
    center: npt.NDArray[np.float64], reach: float, shape: tuple[int, int]
) -> tuple[tuple[slice, slice], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The plate window within ``reach`` of ``center``, and its pixel coordinates relative to it.

    Round defects are computed only where they can show, not over the whole plate.
    """
    h, w = shape
    x0, x1 = max(0, int(center[0] - reach)), min(w, int(center[0] + reach) + 2)
    y0, y1 = max(0, int(center[1] - reach)), min(h, int(center[1] + reach) + 2)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), xs - np.float32(center[0]), ys - np.float32(center[1])


def _dent(rng: np.random.Generator, plate: Plate, center: npt.NDArray[np.float64]) -> DefectDrawing:
    """A small round crater: lit on one wall, shadowed on the other, with a raised lip."""
    radius = rng.uniform(8.0, 18.0)
    win, dx, dy = _window(center, 2.0 * radius, plate.alpha.shape)
    r2 = (dx * dx + dy * dy) / np.float32(radius * radius)
    r = np.sqrt(r2)
    height = -np.exp(-2.5 * r2) + 0.25 * np.exp(-((r - 1.0) ** 2) / 0.03)
    gy, gx = np.gradient(height)
    lx, ly = plate.light_dir
    shading = (gx * lx + gy * ly) * radius  # slope towards the light, scale-free
    strength = rng.uniform(50.0, 70.0) / max(float(np.abs(shading).max()), 1e-6)
    delta = strength * shading - rng.uniform(10.0, 20.0) * np.exp(-2.5 * r2)
    mask = np.zeros(plate.alpha.shape, dtype=np.float32)
    mask[win] = np.clip(np.abs(delta) / 12.0, 0.0, 1.0)
    image = plate.image.copy()
    image[win] += delta[:, :, None].astype(np.float32)
    return DefectDrawing(replace(plate, image=image), mask)


_STAIN_TINTS_BGR = (
    (0.45, 0.65, 0.95),  # rust
    (0.75, 0.60, 0.50),  # oil film, dark and bluish
    (0.55, 0.85, 0.70),  # coolant residue, greenish
)


def _stain(rng: np.random.Generator, plate: Plate, center: npt.NDArray[np.float64]) -> DefectDrawing:
    """An irregular, tinted, semi-transparent blob (rust, oil, coolant residue)."""
    radius = rng.uniform(16.0, 34.0)
    win, dx, dy = _window(center, 2.2 * radius, plate.alpha.shape)
    field = np.zeros(dx.shape, dtype=np.float32)
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.normal(0.0, radius / 2.5, 2)
        s = radius * rng.uniform(0.3, 0.55)
        field += np.exp(-((dx - cx) ** 2 + (dy - cy) ** 2) / np.float32(2 * s * s))
    field *= 1.0 + 0.35 * blurred_noise(rng, dx.shape, (3.0, 3.0))  # ragged edge, no far specks
    level = rng.uniform(0.45, 0.6)
    local = np.clip((field - level) / 0.25, 0.0, 1.0).astype(np.float32)
    mask = np.zeros(plate.alpha.shape, dtype=np.float32)
    mask[win] = local
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), 1.5), dtype=np.float32)
    opacity = rng.uniform(0.55, 0.8)
    tint = np.array(_STAIN_TINTS_BGR[int(rng.integers(len(_STAIN_TINTS_BGR)))], dtype=np.float32)
    cover = (opacity * mask)[:, :, None]
    image = plate.image * (1.0 - cover) + plate.image * tint * cover
    return DefectDrawing(replace(plate, image=image.astype(np.float32)), mask)


def _crack(rng: np.random.Generator, plate: Plate, center: npt.NDArray[np.float64]) -> DefectDrawing:
    """A dark, jagged, branching line: a random walk with short side branches."""
    h, w = plate.alpha.shape
    angle = rng.uniform(0.0, 2 * np.pi)
    steps = int(rng.integers(12, 22))
    trunk = _points_along(rng, center, angle, steps, (4.0, 7.0), 0.5, 0.3)
    trunk += center - trunk.mean(axis=0)
    raw = np.zeros((h, w), dtype=np.uint8)
    aa_polyline(raw, trunk, 2)
    for _ in range(int(rng.integers(1, 4))):
        root = trunk[int(rng.integers(2, len(trunk) - 2))]
        side = angle + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.1)
        branch = _points_along(rng, root, side, int(rng.integers(4, 9)), (3.0, 6.0), 0.5, 0.2)
        aa_polyline(raw, branch, 1)
    mask = raw.astype(np.float32) / 255.0
    darkening = rng.uniform(0.65, 0.85)
    image = plate.image * (1.0 - darkening * mask)[:, :, None]
    return DefectDrawing(replace(plate, image=image.astype(np.float32)), mask)


_DRAWERS: dict[str, Callable[[np.random.Generator, Plate, npt.NDArray[np.float64]], DefectDrawing]] = {
    "scratch": _scratch,
    "dent": _dent,
    "stain": _stain,
    "crack": _crack,
}
assert tuple(_DRAWERS) == DEFECT_LABELS


def _safe_region(plate: Plate) -> npt.NDArray[np.bool_]:
    """Where a defect may sit: clear of the plate's edge and of every hole and its chamfer."""
    solid = (plate.alpha > 0.99).astype(np.uint8)
    safe = distance_inside(solid) > _EDGE_MARGIN_PX
    h, w = plate.alpha.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for hole in plate.holes:
        reach = hole.radius + 2.5 + _HOLE_MARGIN_PX
        safe &= (xs - hole.x) ** 2 + (ys - hole.y) ** 2 > reach**2
    return np.asarray(safe, dtype=np.bool_)


def draw_defect(rng: np.random.Generator, plate: Plate, label: str) -> DefectDrawing:
    """Draw one ``label`` defect somewhere on the plate's clear metal (rejection sampling)."""
    try:
        drawer = _DRAWERS[label]
    except KeyError:
        raise ValueError(f"unknown defect {label!r}; valid defects are {list(_DRAWERS)}") from None
    safe = _safe_region(plate)
    h, w = plate.alpha.shape
    for _ in range(_MAX_TRIES):
        center = np.array([rng.uniform(0.15 * w, 0.85 * w), rng.uniform(0.15 * h, 0.85 * h)])
        drawing = drawer(rng, plate, center)
        touched = drawing.mask > MASK_THRESHOLD
        if touched.any() and not (touched & ~safe).any():
            return drawing
    raise RuntimeError(
        f"could not place a {label} on a {w}x{h} plate in {_MAX_TRIES} tries; "
        "the plate is too small for the defect sizes in demo/defects.py"
    )


__all__ = ["MASK_THRESHOLD", "DefectDrawing", "draw_defect"]
