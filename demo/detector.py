"""The demo detector: where each defect is, and which one, as a YOLOv8-style raw output.

Anchor-free, one stride-8 grid (P3) fed by a stride-16 level (P4) for context, and two
small branches per cell (box, class) as in YOLOv8's head. The output is what the daemon's
``yolo_raw`` decoder reads: ``(N, 4 + classes, anchors)`` with centre x, centre y, width,
height in input pixels and sigmoid class scores, no objectness. The decoding (anchor grid,
offsets, exp of the sizes, sigmoid) is part of the graph, under a module named ``decode``,
so the export's INT8 pass keeps it in float by its default ``exclude_nodes`` pattern.

Written here rather than taken from Ultralytics: that package is AGPL and never a lepton
dependency. Plain ops only (Conv, folded BatchNorm, ReLU, nearest upsampling), like the
classifier, so every backend runs it and INT8 stays clean.
"""

from __future__ import annotations

from typing import Final

import torch
from torch import nn

from lepton.edge.bundle.manifest import InputSpec

STRIDE: Final = 8
"""Input pixels per grid cell of the output."""

DETECTOR_INPUT: Final = InputSpec(name="images", height=240, width=320)
"""640x480 frames letterbox to exactly 320x240: a 2x shrink, no pad rows."""

_SIZE_LOG_MAX: Final = 4.0
"""exp(4) x 8 px = 437 px: the largest box side the head can express (clamped, so no inf)."""


def _cbr(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Decode(nn.Module):
    """Raw head maps → (N, 4 + classes, H*W): boxes in input pixels, sigmoid scores.

    Box: the cell centre plus an offset of up to 2 cells each way, and exp(size) cells.
    """

    def forward(self, box: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        _, _, h, w = box.shape
        ys = (torch.arange(h, dtype=box.dtype) + 0.5) * STRIDE
        xs = (torch.arange(w, dtype=box.dtype) + 0.5) * STRIDE
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        box = box.flatten(2)
        cx = grid_x.reshape(1, -1) + 2.0 * STRIDE * torch.tanh(box[:, 0])
        cy = grid_y.reshape(1, -1) + 2.0 * STRIDE * torch.tanh(box[:, 1])
        wh = STRIDE * torch.exp(torch.clamp(box[:, 2:4], max=_SIZE_LOG_MAX))
        boxes = torch.cat([cx.unsqueeze(1), cy.unsqueeze(1), wh], dim=1)
        return torch.cat([boxes, torch.sigmoid(cls.flatten(2))], dim=1)


class DefectDetector(nn.Module):
    """NCHW float32 image batch (H, W multiples of 16) → (N, 4 + num_classes, H/8 * W/8)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"a detector needs at least 1 class, got {num_classes}")
        self.num_classes = num_classes
        self.p3 = nn.Sequential(_cbr(3, 16, 2), _cbr(16, 24, 2), _cbr(24, 32, 2), _cbr(32, 32))
        self.p4 = nn.Sequential(_cbr(32, 48, 2), _cbr(48, 48), _cbr(48, 48))
        self.lateral = nn.Conv2d(48, 32, kernel_size=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = _cbr(32, 32)
        self.box_branch = nn.Sequential(_cbr(32, 32), nn.Conv2d(32, 4, kernel_size=1))
        self.cls_branch = nn.Sequential(_cbr(32, 32), nn.Conv2d(32, num_classes, kernel_size=1))
        self.decode = Decode()
        prior = 0.01  # every cell starts as "nothing here": a stable start for BCE on mostly-empty grids
        cls_out = self.cls_branch[-1]
        assert isinstance(cls_out, nn.Conv2d) and cls_out.bias is not None
        nn.init.constant_(cls_out.bias, float(torch.log(torch.tensor(prior / (1 - prior)))))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The raw box and class maps, (N, 4, H/8, W/8) and (N, classes, H/8, W/8): what training reads."""
        p3 = self.p3(x)
        fused = self.fuse(p3 + self.up(self.lateral(self.p4(p3))))
        return self.box_branch(fused), self.cls_branch(fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        box, cls = self.heads(x)
        return self.decode(box, cls)  # type: ignore[no-any-return]


def build_detector(num_classes: int) -> nn.Module:
    """A freshly initialised detector; load ``detector.pt`` into it to get the trained one."""
    return DefectDetector(num_classes)


__all__ = ["DETECTOR_INPUT", "STRIDE", "Decode", "DefectDetector", "build_detector"]
