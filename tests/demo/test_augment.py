"""Augmentation on cached tensors: it equals preprocessing a changed frame, and crops keep the defect."""

from __future__ import annotations

import numpy as np
import torch

from demo.augment import Augmentation, adjust_brightness, augment, crop_batch
from demo.labels import INPUT, PREPROCESS
from demo.tensor_cache import TensorSplit
from lepton.edge.preprocess import preprocess_batch


def test_brightness_jitter_matches_preprocessing_a_brighter_frame() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(40, 180, size=(480, 640, 3), dtype=np.uint8)
    gain, shift = 1.2, 10.0
    brighter = np.clip(np.rint(frame * gain + shift), 0, 255).astype(np.uint8)
    want = torch.from_numpy(preprocess_batch([brighter], PREPROCESS, INPUT))
    got = adjust_brightness(
        torch.from_numpy(preprocess_batch([frame], PREPROCESS, INPUT)),
        torch.tensor(gain).view(1, 1, 1, 1),
        torch.tensor(shift).view(1, 1, 1, 1),
    )
    # Both paths round to uint8 (the brighter frame, and each 2x area step's output): ~2.5 grey
    # levels at worst. Dropping the mean term would be off by (gain - 1) * mean / std = 0.4,
    # i.e. 25 grey levels.
    assert torch.allclose(got, want, atol=2.5 * PREPROCESS.scale / min(PREPROCESS.std))
    pad = torch.from_numpy(preprocess_batch([frame], PREPROCESS, INPUT))[:, :, :4]
    assert torch.equal(got[:, :, :4], pad), "letterbox pad rows must not change"


def test_crops_hold_the_whole_defect_whatever_the_flips() -> None:
    n = 16
    images = torch.zeros(n, 3, INPUT.height, INPUT.width)
    box = (70.0, 50.0, 95.0, 66.0)  # input pixels, off-centre so flips move it
    images[:, :, 50:66, 70:95] = 1.0
    split = TensorSplit(images, torch.ones(n, dtype=torch.int64), (box,) * n, (None,) * n, ())
    policy = Augmentation(brightness_gain=(1.0, 1.0), brightness_shift_px=0.0)
    generator = torch.Generator().manual_seed(0)
    seen_flips = set()
    for _ in range(10):
        batch, flips = augment(images, generator, policy)
        seen_flips |= {tuple(f) for f in flips.tolist()}
        crops = crop_batch(batch, split, list(range(n)), flips, policy, generator)
        assert crops.shape == (n, 3, *policy.crop_hw)
        assert torch.equal(crops.sum(dim=(1, 2, 3)), torch.full((n,), 3.0 * 16 * 25))
    assert len(seen_flips) == 4
