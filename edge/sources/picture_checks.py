"""Frozen and blind pictures, told apart cheaply from a 32x24 grey thumbnail of each frame.

A stream can deliver frames at full rate and still show nothing useful: an encoder that
repeats its last picture (frozen), a covered lens, the lights off or a saturated sensor
(blind). Inference on such frames is wasted, and a defect frozen on screen would stay
"open" forever. A 32x24 grey thumbnail says it: its mean and standard deviation say black,
saturated or uniform, and its mean absolute difference to the previous one says identical.
It is made from a 128x96 nearest-pixel sample averaged 4x4, so it costs the same for any
frame size (about 0.2 ms where area-averaging a whole 640x480 frame took 1.6 ms and 1080p
8.7 ms, in one run on the shared 2-core dev box), and each value still averages 16 pixels,
which keeps sensor noise out of the blind test while leaving a live sensor's frames
measurably different. A condition must last its ``*_after_s`` without a break before it
is reported, and one good frame ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from lepton.edge.sources.configs import CameraSourceConfig

THUMBNAIL_SIZE = (32, 24)
"""Width x height: 4:3 like most cameras; coarse enough to be cheap and noise-free."""

SAMPLE_SIZE = (128, 96)
"""The nearest-pixel sample the thumbnail averages: 4x4 samples per thumbnail value."""

PictureVerdict = Literal["streaming", "frozen", "blind"]


@dataclass(frozen=True)
class PictureReport:
    verdict: PictureVerdict
    detail: str
    """Why, with the measured value and the threshold (for the alarm message)."""


def thumbnail(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The frame as a 32x24 grey float thumbnail: each value is the mean of 16 sampled pixels."""
    sample = cv2.resize(image, SAMPLE_SIZE, interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(sample, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return np.asarray(small, dtype=np.float32)


class PictureChecks:
    """Feed every frame of one camera, in order; ``observe`` says what the picture shows."""

    def __init__(self, config: CameraSourceConfig) -> None:
        self._config = config
        self._previous: npt.NDArray[np.float32] | None = None
        self._identical_since_ns: int | None = None
        self._blind_since_ns: int | None = None

    def reset(self) -> None:
        """A new connection: conditions seen before it do not carry over."""
        self._previous = None
        self._identical_since_ns = None
        self._blind_since_ns = None

    def observe(self, image: npt.NDArray[np.uint8], mono_ns: int) -> PictureReport:
        c = self._config
        thumb = thumbnail(image)
        mean, std = float(thumb.mean()), float(thumb.std())
        blind = ""
        if mean <= c.blind_dark_max:
            blind = f"black picture (mean grey {mean:.1f} <= blind_dark_max {c.blind_dark_max:g})"
        elif mean >= c.blind_bright_min:
            blind = f"saturated picture (mean grey {mean:.1f} >= blind_bright_min {c.blind_bright_min:g})"
        elif std <= c.blind_contrast_max:
            blind = f"featureless picture (grey std {std:.2f} <= blind_contrast_max {c.blind_contrast_max:g})"
        identical = self._previous is not None and (
            float(np.abs(thumb - self._previous).mean()) <= c.frozen_diff_max
        )
        self._previous = thumb
        self._blind_since_ns = (self._blind_since_ns or mono_ns) if blind else None
        self._identical_since_ns = (self._identical_since_ns or mono_ns) if identical else None
        # blind first: a black stream is also a run of identical frames, and "blind" says more
        if blind and c.blind_after_s > 0 and self._lasted(self._blind_since_ns, mono_ns, c.blind_after_s):
            return PictureReport("blind", f"{blind} for {c.blind_after_s:g} s")
        if (
            identical
            and c.frozen_after_s > 0
            and self._lasted(self._identical_since_ns, mono_ns, c.frozen_after_s)
        ):
            return PictureReport(
                "frozen",
                f"frames identical for {c.frozen_after_s:g} s (mean difference <= frozen_diff_max "
                f"{c.frozen_diff_max:g})",
            )
        return PictureReport("streaming", "")

    @staticmethod
    def _lasted(since_ns: int | None, now_ns: int, after_s: float) -> bool:
        return since_ns is not None and now_ns - since_ns >= after_s * 1e9


__all__ = ["SAMPLE_SIZE", "THUMBNAIL_SIZE", "PictureChecks", "PictureReport", "PictureVerdict", "thumbnail"]
