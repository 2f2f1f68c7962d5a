"""The demo classifier: a small Conv-BN-ReLU network that answers "which defect, if any".

Plain ops only (Conv, BatchNorm folded at export, ReLU, global max pool, Gemm), so the
ONNX graph runs on every backend and quantises cleanly to INT8: ReLU rather than SiLU,
no attention, no custom layers. Global *max* pooling because a defect covers a few
percent of the frame; averaging would dilute the one place that matters.
"""

from __future__ import annotations

from typing import Final

import torch
from torch import nn

STAGES: Final = ((16, 2), (32, 2), (48, 2), (48, 1), (96, 2), (96, 1))
"""(output channels, stride) per Conv-BN-ReLU block; 160x128 in → 10x8 feature map out."""


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class DefectClassifier(nn.Module):
    """NCHW float32 image batch → (N, num_classes) logits."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
        blocks = []
        c_in = 3
        for c_out, stride in STAGES:
            blocks.append(_conv_bn_relu(c_in, c_out, stride))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))  # type: ignore[no-any-return]


def build_classifier(num_classes: int) -> nn.Module:
    """A freshly initialised classifier; load ``classifier.pt`` into it to get the trained one."""
    return DefectClassifier(num_classes)


__all__ = ["STAGES", "DefectClassifier", "build_classifier"]
