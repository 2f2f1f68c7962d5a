"""Frozen and blind pictures from the thumbnail test, on frames made to be each case."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from lepton.edge.sources.configs import CameraSourceConfig
from lepton.edge.sources.picture_checks import PictureChecks

FRAME_NS = 40_000_000  # 25 fps


def config(**overrides: float) -> CameraSourceConfig:
    return CameraSourceConfig.model_validate(
        {
            "kind": "camera",
            "camera": "cam1",
            "uri": "rtsp://cam",
            "frozen_after_s": 1.0,
            "blind_after_s": 1.0,
            **overrides,
        }
    )


def scene(rng: np.random.Generator, noise_sigma: float = 2.0) -> npt.NDArray[np.uint8]:
    """A still scene (a lit gradient with a part on it) as a live sensor gives it: never twice the same."""
    y, x = np.mgrid[0:480, 0:640]
    base = 60 + 120 * x / 640 + 20 * np.sin(y / 40)
    base[200:280, 300:400] += 40
    noisy = base + rng.normal(0, noise_sigma, base.shape)
    grey = np.clip(noisy, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def feed(checks: PictureChecks, frames: list[npt.NDArray[np.uint8]], start: int = 0) -> list[str]:
    return [checks.observe(f, (start + i) * FRAME_NS).verdict for i, f in enumerate(frames)]


def test_a_live_still_scene_is_streaming() -> None:
    rng = np.random.default_rng(0)
    checks = PictureChecks(config())
    assert set(feed(checks, [scene(rng) for _ in range(75)])) == {"streaming"}  # 3 s


def test_repeated_frames_are_frozen_after_frozen_after_s_and_one_new_frame_ends_it() -> None:
    rng = np.random.default_rng(1)
    frame = scene(rng)
    checks = PictureChecks(config())
    verdicts = feed(checks, [frame] * 50)  # 2 s of one picture
    first_frozen = verdicts.index("frozen")
    assert set(verdicts[:first_frozen]) == {"streaming"} and set(verdicts[first_frozen:]) == {"frozen"}
    assert first_frozen * FRAME_NS >= 1e9  # not before frozen_after_s
    assert feed(checks, [scene(rng)], start=50) == ["streaming"]


@pytest.mark.parametrize(
    ("level", "why"),
    [(0, "black picture"), (8, "black picture"), (250, "saturated picture"), (128, "featureless picture")],
)
def test_black_saturated_or_uniform_pictures_are_blind_not_frozen(level: int, why: str) -> None:
    frame = np.full((480, 640, 3), level, dtype=np.uint8)
    checks = PictureChecks(config())
    reports = [checks.observe(frame, i * FRAME_NS) for i in range(50)]
    assert {r.verdict for r in reports[30:]} == {"blind"}
    assert why in reports[-1].detail


def test_a_zero_duration_turns_a_check_off() -> None:
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    checks = PictureChecks(config(blind_after_s=0, frozen_after_s=0))
    assert set(feed(checks, [frame] * 50)) == {"streaming"}
