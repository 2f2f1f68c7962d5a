"""Training-time changes to cached input tensors: flips, brightness, and defect-holding crops.

Everything works on preprocessed tensors, never on frames, so there is one preprocessing
path (``lepton.edge.preprocess``). Brightness is expressed in pixel units and applied only to the
image rows: the letterbox pad rows keep their value, as in every real frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from demo.labels import FRAME_HEIGHT_PX, FRAME_WIDTH_PX, INPUT, PREPROCESS
from demo.tensor_cache import Box, TensorSplit
from lepton.edge.bundle.manifest import InputSpec
from lepton.edge.preprocess import letterbox_geometry


@dataclass(frozen=True)
class Augmentation:
    """How training perturbs the cached tensors."""

    crop_hw: tuple[int, int] = (64, 80)  # input pixels: a quarter of the 128x160 input
    plate_crop_share: float = 0.75  # crops of "ok" frames centred on the plate, when there is one
    vertical_flip: bool = True
    brightness_gain: tuple[float, float] = (0.75, 1.25)
    brightness_shift_px: float = 20.0  # pixel units (0..255)


def adjust_brightness(
    batch: torch.Tensor, gain: torch.Tensor, shift_px: torch.Tensor, spec: InputSpec = INPUT
) -> torch.Tensor:
    """What preprocessing gives for frames whose pixels were p → gain*p + shift_px (before clipping).

    With x = (p*scale - m)/s this is x → gain*x + (gain-1)*m/s + shift_px*scale/s, per channel.
    ``gain`` and ``shift_px`` broadcast as (N, 1, 1, 1).
    """
    mean = torch.tensor(PREPROCESS.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(PREPROCESS.std, dtype=torch.float32).view(1, 3, 1, 1)
    rh, _rw, top, _left = letterbox_geometry((FRAME_HEIGHT_PX, FRAME_WIDTH_PX), (spec.height, spec.width))
    rows = slice(top, top + rh)
    out = batch.clone()
    out[:, :, rows] = gain * batch[:, :, rows] + (gain - 1) * mean / std
    out[:, :, rows] += shift_px * PREPROCESS.scale / std
    return out


def augment(
    batch: torch.Tensor, generator: torch.Generator, policy: Augmentation, spec: InputSpec = INPUT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips and brightness/contrast change; returns the batch and its (N, 2) flips.

    Flips (horizontal, vertical) keep the letterbox layout because its pad is symmetric;
    a plate seen upside down is still a plate, and its defects keep their kind.
    """
    n = batch.shape[0]
    flips = torch.rand(n, 2, generator=generator) < 0.5
    if not policy.vertical_flip:
        flips[:, 1] = False
    batch = torch.where(flips[:, 0].view(n, 1, 1, 1), batch.flip(3), batch)
    batch = torch.where(flips[:, 1].view(n, 1, 1, 1), batch.flip(2), batch)
    lo, hi = policy.brightness_gain
    gain = lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=generator)
    shift = policy.brightness_shift_px * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
    return adjust_brightness(batch, gain, shift, spec), flips


def _flipped(box: Box | None, flips: torch.Tensor) -> Box | None:
    """``box`` after the (horizontal, vertical) flips ``augment`` applied to its input."""
    if box is None:
        return None
    x0, y0, x1, y1 = box
    if bool(flips[0]):
        x0, x1 = INPUT.width - x1, INPUT.width - x0
    if bool(flips[1]):
        y0, y1 = INPUT.height - y1, INPUT.height - y0
    return (x0, y0, x1, y1)


def _randint(lo: int, hi: int, generator: torch.Generator) -> int:
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def _crop_origin(
    defect: Box | None, part: Box | None, policy: Augmentation, generator: torch.Generator
) -> tuple[int, int]:
    """Top-left (y, x) of a crop: one holding the whole defect when there is one, else one
    centred on the plate when there is one (clean metal, edges and holes are the negatives
    that matter), else anywhere."""
    ch, cw = policy.crop_hw
    y_hi, x_hi = INPUT.height - ch, INPUT.width - cw
    if defect is not None:
        x0, y0, x1, y1 = defect
        x_lo, x_hi = max(0, math.ceil(x1) - cw), min(x_hi, math.floor(x0))
        y_lo, y_hi = max(0, math.ceil(y1) - ch), min(y_hi, math.floor(y0))
        assert x_lo <= x_hi and y_lo <= y_hi, f"defect box {defect} does not fit a {cw}x{ch} crop"
        return _randint(y_lo, y_hi, generator), _randint(x_lo, x_hi, generator)
    if part is not None and torch.rand(1, generator=generator).item() < policy.plate_crop_share:
        x0, y0, x1, y1 = part
        cx = _randint(max(0, math.floor(x0)), min(INPUT.width - 1, math.ceil(x1) - 1), generator)
        cy = _randint(max(0, math.floor(y0)), min(INPUT.height - 1, math.ceil(y1) - 1), generator)
        return min(max(0, cy - ch // 2), y_hi), min(max(0, cx - cw // 2), x_hi)
    return _randint(0, y_hi, generator), _randint(0, x_hi, generator)


def crop_batch(
    batch: torch.Tensor,
    split: TensorSplit,
    indices: list[int],
    flips: torch.Tensor,
    policy: Augmentation,
    generator: torch.Generator,
) -> torch.Tensor:
    """A crop of each (already flipped) input ``split.images[indices]``, placed on its flipped boxes.

    The network is fully convolutional with a global max pool, so what it learns on a crop
    holds on the whole frame, and a crop costs a fraction of a frame.
    """
    ch, cw = policy.crop_hw
    out = torch.empty((batch.shape[0], 3, ch, cw), dtype=batch.dtype)
    for i, n in enumerate(indices):
        defect = _flipped(split.boxes[n], flips[i])
        part = _flipped(split.part_boxes[n], flips[i])
        y, x = _crop_origin(defect, part, policy, generator)
        out[i] = batch[i, :, y : y + ch, x : x + cw]
    return out


__all__ = ["Augmentation", "adjust_brightness", "augment", "crop_batch"]
