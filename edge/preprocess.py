"""The one preprocessing function: camera frame → model input, as the manifest specifies.

Training, calibration, the export checks and the daemon all call ``preprocess``, so INT8
ranges and parity checks are computed on exactly the tensor the engine sees. The pixel
work is OpenCV calls (resize, optional pad, blob); no Python-level array loops.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec

_INTERPOLATION = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST,
}

Frame = npt.NDArray[np.uint8]
Tensor = npt.NDArray[np.float32]


def letterbox_geometry(frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Resized (h, w) and (top, left) padding that fit a frame into the input, keeping aspect."""
    fh, fw = frame_hw
    ih, iw = input_hw
    ratio = min(ih / fh, iw / fw)
    rh, rw = max(1, round(fh * ratio)), max(1, round(fw * ratio))
    return rh, rw, (ih - rh) // 2, (iw - rw) // 2


def _resize(frame: Frame, size_hw: tuple[int, int], interpolation: str) -> Frame:
    """``frame`` resized to ``size_hw``.

    "area" with an integer shrink factor k = 2^a * m in both directions halves the frame
    a times (OpenCV's vectorised 2x path), then takes one INTER_AREA step of m: one step of
    4x costs about four times as much (0.32 ms vs 0.09 ms for 640x480 to 160x120 on the
    benchmark machine, where it was the pipeline's slowest stage). Nested box averages are
    the same box average, so the result equals one INTER_AREA step within one grey level
    (rounding of the intermediate image). Other factors take one OpenCV step.
    """
    th, tw = size_hw
    h, w = frame.shape[:2]
    if (h, w) == (th, tw):
        return frame
    if interpolation == "area" and h % th == 0 and w % tw == 0:
        while (h // th) % 2 == 0 and (w // tw) % 2 == 0:
            h, w = h // 2, w // 2
            frame = np.asarray(cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        if (h, w) == (th, tw):
            return frame
    resized = cv2.resize(frame, (tw, th), interpolation=_INTERPOLATION[interpolation])
    return np.asarray(resized, dtype=np.uint8)


def _fit(frame: Frame, spec: PreprocessSpec, input_hw: tuple[int, int]) -> Frame:
    ih, iw = input_hw
    if spec.resize_mode == "stretch":
        return _resize(frame, input_hw, spec.interpolation)
    rh, rw, top, left = letterbox_geometry((frame.shape[0], frame.shape[1]), input_hw)
    resized = _resize(frame, (rh, rw), spec.interpolation)
    pad = (spec.pad_value,) * 3
    return np.asarray(
        cv2.copyMakeBorder(resized, top, ih - rh - top, left, iw - rw - left, cv2.BORDER_CONSTANT, value=pad),
        dtype=np.uint8,
    )


def _blob_params(spec: PreprocessSpec) -> cv2.dnn.Image2BlobParams:
    # (pixel * scale - mean) / std == (pixel - mean / scale) * (scale / std), per channel,
    # in the model's channel order (OpenCV applies mean/scale after swapRB).
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (*(spec.scale / s for s in spec.std), 0.0)
    params.mean = (*(m / spec.scale for m in spec.mean), 0.0)
    params.swapRB = spec.color_order == "rgb"
    params.ddepth = cv2.CV_32F
    params.datalayout = cv2.dnn.DNN_LAYOUT_NCHW
    return params


def preprocess_batch(frames: Sequence[Frame], spec: PreprocessSpec, input_spec: InputSpec) -> Tensor:
    """BGR uint8 frames (any size) → float32 NCHW batch for the model."""
    if not frames:
        raise ValueError("preprocess_batch needs at least one frame")
    input_hw = (input_spec.height, input_spec.width)
    fitted = [_fit(_as_bgr(f), spec, input_hw) for f in frames]
    blob = cv2.dnn.blobFromImagesWithParams(fitted, _blob_params(spec))
    return np.ascontiguousarray(blob, dtype=np.float32)


def preprocess(frame: Frame, spec: PreprocessSpec, input_spec: InputSpec) -> Tensor:
    """One BGR uint8 frame → float32 tensor of shape (1, 3, H, W)."""
    return preprocess_batch([frame], spec, input_spec)


def _as_bgr(frame: Frame) -> Frame:
    if frame.dtype != np.uint8:
        raise ValueError(f"preprocess expects uint8 frames, got {frame.dtype}")
    if frame.ndim == 2:
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"preprocess expects HxWx3 BGR frames, got shape {frame.shape}")
    return frame


__all__ = ["Frame", "Tensor", "letterbox_geometry", "preprocess", "preprocess_batch"]
