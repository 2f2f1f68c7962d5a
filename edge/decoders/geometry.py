"""Model-input pixels → frame pixels: the inverse of ``edge/preprocess.py``'s resize and pad.

Boxes and anomaly maps come out of the model in input pixels; events speak in frame pixels.
The mapping is read from the same ``PreprocessSpec`` and ``letterbox_geometry`` the
preprocessing used, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.preprocess import letterbox_geometry


@dataclass(frozen=True)
class FrameGeometry:
    """Where the frame sits in the input: x_frame = (x_input - left) * scale_x."""

    frame_h: int
    frame_w: int
    top: int
    left: int
    content_h: int
    """Rows of the input the frame fills (the rest is letterbox padding)."""
    content_w: int

    @classmethod
    def of(cls, frame_hw: tuple[int, int], spec: PreprocessSpec, input_spec: InputSpec) -> FrameGeometry:
        fh, fw = frame_hw
        if spec.resize_mode == "stretch":
            return cls(fh, fw, 0, 0, input_spec.height, input_spec.width)
        rh, rw, top, left = letterbox_geometry(frame_hw, (input_spec.height, input_spec.width))
        return cls(fh, fw, top, left, rh, rw)

    def boxes_to_frame(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(K, 4) x1, y1, x2, y2 in input pixels → frame pixels, clipped to the frame."""
        out = np.empty_like(xyxy, dtype=np.float32)
        sx, sy = self.frame_w / self.content_w, self.frame_h / self.content_h
        out[:, 0::2] = np.clip((xyxy[:, 0::2] - self.left) * sx, 0, self.frame_w)
        out[:, 1::2] = np.clip((xyxy[:, 1::2] - self.top) * sy, 0, self.frame_h)
        return out

    def map_to_frame(self, heat: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """An (H, W) map over the input → (frame_h, frame_w), padding cropped off."""
        content = heat[self.top : self.top + self.content_h, self.left : self.left + self.content_w]
        resized = cv2.resize(content, (self.frame_w, self.frame_h), interpolation=cv2.INTER_LINEAR)
        return np.asarray(resized, dtype=np.float32)


__all__ = ["FrameGeometry"]
