"""Real encoded videos for tests, written with OpenCV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

GRAY = (128, 128, 128)
RED = (40, 40, 200)  # BGR
BLUE = (200, 40, 40)
STAMP_STEP = 8


def write_color_video(
    path: Path,
    segments: Sequence[tuple[tuple[int, int, int], int]],
    fps: float = 25.0,
    size: tuple[int, int] = (64, 48),
    stamp: bool = False,
    fourcc: str = "mp4v",
) -> int:
    """Write solid-colour segments ``(bgr, frame_count)`` as an mp4 (``fourcc="MJPG"``: an avi whose
    frames stand alone, so a copy cut short still plays its first half); returns the frame count.

    ``stamp``: each frame's 8x8 bottom-right block is grey ``STAMP_STEP * frame number``
    (frames 0-31), so a picture made from a frame tells which one (``stamped_frame``).
    """
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    total = 0
    rng = np.random.default_rng(0)
    for color, count in segments:
        for _ in range(count):
            frame = np.full((size[1], size[0], 3), color, dtype=np.uint8)
            noise = rng.integers(-6, 7, frame.shape, dtype=np.int16)
            frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            if stamp:
                assert total < 32, "stamps tell frames 0-31 apart"
                frame[-8:, -8:] = STAMP_STEP * total
            writer.write(frame)
            total += 1
    writer.release()
    return total


def stamped_frame(picture: npt.NDArray[np.uint8]) -> int:
    """Which frame of a ``stamp``-ed video ``picture`` was made from (JPEG and mp4v keep a block's mean)."""
    return round(float(picture[-8:, -8:].mean()) / STAMP_STEP)
