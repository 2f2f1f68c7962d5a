"""The one preprocessing function, against a plain numpy reference of the manifest's spec."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.preprocess import letterbox_geometry, preprocess, preprocess_batch

INPUT = InputSpec(name="image", height=128, width=160, batch_max=4)


_CV_INTERPOLATION = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def reference(frame: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """One OpenCV resize step, then plain numpy arithmetic."""
    interpolation = _CV_INTERPOLATION[spec.interpolation]
    if spec.resize_mode == "stretch":
        fitted = cv2.resize(frame, (INPUT.width, INPUT.height), interpolation=interpolation)
    else:
        rh, rw, top, left = letterbox_geometry(frame.shape[:2], (INPUT.height, INPUT.width))
        fitted = np.full((INPUT.height, INPUT.width, 3), spec.pad_value, dtype=np.uint8)
        fitted[top : top + rh, left : left + rw] = cv2.resize(frame, (rw, rh), interpolation=interpolation)
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
    # letterbox: 480x640 is halved twice to 120x160; stretch: one INTER_AREA step (3.75 is not
    # an integer factor). Either way within one grey level of a single INTER_AREA step.
    grey_level = spec.scale / min(spec.std)
    diff = np.abs(got - reference(frame, spec))
    assert diff.max() <= grey_level + 1e-5
    assert diff.mean() < 0.5 * grey_level


@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
@pytest.mark.parametrize("shape", [(480, 640), (720, 1280), (300, 500)])
def test_other_interpolations_are_one_opencv_step(interpolation: str, shape: tuple[int, int]) -> None:
    spec = PreprocessSpec(
        color_order="rgb", resize_mode="letterbox", interpolation=interpolation,  # type: ignore[arg-type]
        mean=(0.5,) * 3, std=(0.25,) * 3,  # type: ignore[arg-type]
    )  # fmt: skip
    frame = np.random.default_rng(2).integers(0, 256, (*shape, 3), dtype=np.uint8)
    np.testing.assert_allclose(preprocess(frame, spec, INPUT), reference(frame, spec), atol=1e-5)


@pytest.mark.parametrize("shape", [(720, 1280), (1080, 1920), (1440, 1920), (301, 499), (64, 80)])
def test_area_of_any_size_is_within_a_grey_level(shape: tuple[int, int]) -> None:
    spec = PreprocessSpec(color_order="bgr", resize_mode="letterbox", scale=1.0, mean=(0,) * 3, std=(1,) * 3)
    frame = np.random.default_rng(3).integers(0, 256, (*shape, 3), dtype=np.uint8)
    diff = np.abs(preprocess(frame, spec, INPUT) - reference(frame, spec))
    assert diff.max() <= 1.0 + 1e-5


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
