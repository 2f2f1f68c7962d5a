"""Frozen and blind pictures, told apart cheaply from a 32x24 grey thumbnail of each frame.

A stream can deliver frames at full rate and still show nothing useful: an encoder that
repeats its last picture (frozen), a covered lens, the lights off or a saturated sensor
(blind). Inference on such frames is wasted, and a defect frozen on screen would stay
"open" forever. One ``cv2.resize`` with area averaging (about 0.1 ms for 640x480) gives a
thumbnail whose mean and standard deviation say black, saturated or uniform, and whose mean
absolute difference to the previous one says identical; averaging 20x20 pixels into one
also keeps sensor noise out of the blind test. A condition must last its ``*_after_s``
without a break before it is reported, and one good frame ends it.
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

PictureVerdict = Literal["streaming", "frozen", "blind"]


@dataclass(frozen=True)
class PictureReport:
    verdict: PictureVerdict
    detail: str
    """Why, with the measured value and the threshold (for the alarm message)."""


def thumbnail(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The frame as a 32x24 grey float thumbnail: each value is the mean of its area."""
    small = cv2.resize(image, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
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


__all__ = ["THUMBNAIL_SIZE", "PictureChecks", "PictureReport", "PictureVerdict", "thumbnail"]
