"""The one preprocessing function, against a plain numpy reference of the manifest's spec."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.bundle.manifest import InputSpec, PreprocessSpec
from edge.preprocess import letterbox_geometry, preprocess, preprocess_batch

INPUT = InputSpec(name="image", height=128, width=160, batch_max=4)


def reference(frame: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    if spec.resize_mode == "stretch":
        fitted = cv2.resize(frame, (INPUT.width, INPUT.height), interpolation=cv2.INTER_AREA)
    else:
        rh, rw, top, left = letterbox_geometry(frame.shape[:2], (INPUT.height, INPUT.width))
        fitted = np.full((INPUT.height, INPUT.width, 3), spec.pad_value, dtype=np.uint8)
        fitted[top : top + rh, left : left + rw] = cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_AREA)
    pixels = fitted[:, :, ::-1] if spec.color_order == "rgb" else fitted
    x = (pixels.astype(np.float32) * spec.scale - np.array(spec.mean, np.float32)) / np.array(
        spec.std, np.float32
    )
    return x.transpose(2, 0, 1)[None]


@pytest.mark.parametrize("mode", ["stretch", "letterbox"])
@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_matches_reference(mode: str, order: str) -> None:
    spec = PreprocessSpec(
        color_order=order,
        resize_mode=mode,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),  # type: ignore[arg-type]
    )
    frame = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    frame[:, :, 2] = 250  # a strong red channel makes a channel-order mistake visible
    got = preprocess(frame, spec, INPUT)
    assert got.shape == (1, 3, 128, 160) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference(frame, spec), atol=1e-5)


def test_letterbox_pads_with_pad_value() -> None:
    spec = PreprocessSpec(
        color_order="rgb", resize_mode="letterbox", pad_value=0, scale=1.0, mean=(0, 0, 0), std=(1, 1, 1)
    )
    frame = np.full((480, 640, 3), 200, dtype=np.uint8)  # 4:3 into 5:4: rows padded top and bottom
    got = preprocess(frame, spec, INPUT)[0, 0]
    assert letterbox_geometry((480, 640), (128, 160)) == (120, 160, 4, 0)
    assert np.all(got[:4] == 0) and np.all(got[-4:] == 0) and np.all(got[4:-4] == 200)


def test_batch_equals_singles() -> None:
    spec = PreprocessSpec(color_order="rgb", resize_mode="stretch", mean=(0.5,) * 3, std=(0.25,) * 3)
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(3)]
    batch = preprocess_batch(frames, spec, INPUT)
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(batch[i : i + 1], preprocess(frame, spec, INPUT))


def test_rejects_non_uint8() -> None:
    spec = PreprocessSpec(color_order="rgb", resize_mode="stretch", mean=(0.5,) * 3, std=(0.25,) * 3)
    with pytest.raises(ValueError, match="uint8"):
        preprocess(np.zeros((10, 10, 3), np.float32), spec, INPUT)  # type: ignore[arg-type]
