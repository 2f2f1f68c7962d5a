"""Generic synthetic anomalies for training on good parts only (DRAEM's idea, simpler).

Lines (straight or kinked), soft blobs of another colour or brightness, and shaded bumps,
pasted anywhere on a preprocessed good frame, with the mask of what changed. Nothing here
knows the demo's own defects (``demo.defects``): the model never sees a real scratch, dent,
stain or crack before the validation split judges it.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]


def _line(mask: Array, rng: np.random.Generator, kinked: bool) -> None:
    h, w = mask.shape
    length, angle = rng.uniform(8, w / 4), rng.uniform(0, np.pi)
    steps = int(rng.integers(1, 6)) if kinked else 1
    points = [(float(rng.integers(0, w)), float(rng.integers(0, h)))]
    for _ in range(steps):
        angle += rng.normal(0, 0.6) if kinked else 0.0
        x, y = points[-1]
        points.append((x + length / steps * np.cos(angle), y + length / steps * np.sin(angle)))
    cv2.polylines(mask, [np.array(points, np.int32)], False, 1.0, int(rng.integers(1, 3)))


def _grey(rng: np.random.Generator, low: float, high: float) -> Array:
    return np.full(3, rng.uniform(low, high) * rng.choice([-1.0, 1.0]), np.float32)


def paste_anomaly(image: Array, rng: np.random.Generator) -> tuple[Array, Array]:
    """(C, H, W) normalised image → (the image with one anomaly, its (H, W) 0/1 mask)."""
    hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
    h, w = hwc.shape[:2]
    mask = np.zeros((h, w), np.float32)
    kind = int(rng.integers(0, 4))
    if kind < 2:  # a line, darker or brighter
        _line(mask, rng, kinked=kind == 1)
        change: Array = _grey(rng, 0.3, 2.5)
        soft: Array = mask
    elif kind == 2:  # a blob of another colour or brightness, soft-edged
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        axes = (int(rng.integers(2, w // 20)), int(rng.integers(2, w // 20)))
        cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        colour: Array = rng.uniform(-2, 2, 3).astype(np.float32)
        change = colour if rng.random() < 0.5 else _grey(rng, 0.4, 2.0)
        soft = np.asarray(cv2.GaussianBlur(mask, (5, 5), 0), np.float32)
    else:  # a bump: lit on one side, shaded on the other
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        radius = int(rng.integers(2, w // 30 + 3))
        cv2.circle(mask, (cx, cy), radius, 1.0, -1)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        slope = ((xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)) / radius
        shade = cv2.GaussianBlur(mask, (3, 3), 0) * slope * rng.uniform(0.3, 1.5)
        out = hwc + shade[..., None]
        return np.ascontiguousarray(out.transpose(2, 0, 1), np.float32), (mask > 0.5).astype(np.float32)
    out = hwc + soft[..., None] * change * rng.uniform(0.5, 1.0)
    return np.ascontiguousarray(out.transpose(2, 0, 1), np.float32), (mask > 0.3).astype(np.float32)


__all__ = ["paste_anomaly"]
