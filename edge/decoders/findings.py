"""What the detection and anomaly decoders hand the event logic: boxes in frame pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lepton.edge.decoders.geometry import FrameGeometry

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 in frame pixels."""


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box | None
    """None for an anomalous image whose map marks no pixel (or a model without a map)."""


@dataclass(frozen=True, eq=False)
class FrameFindings:
    """One frame's findings, best first; for anomaly models also the map, in input pixels."""

    detections: tuple[Detection, ...]
    geometry: FrameGeometry
    heat: npt.NDArray[np.float32] | None = None
    """Normalised anomaly map over the model input (0.5 = threshold), or None."""

    def heat_in_frame(self) -> npt.NDArray[np.float32] | None:
        """The anomaly map resized to the frame (only for the frames a snapshot is made of)."""
        return None if self.heat is None else self.geometry.map_to_frame(self.heat)


__all__ = ["Box", "Detection", "FrameFindings"]
