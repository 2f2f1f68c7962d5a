"""The demo anomaly model: where a part looks unlike the good parts, trained on good parts only.

A small encoder-decoder that paints a per-pixel anomaly probability, trained the way
DRAEM (anomalib's ``Draem``) trains: on good frames with generic synthetic anomalies
pasted in (``demo.anomaly_synth``), never on the demo's defects. Exported with anomalib's
output names and shapes, so lepton-export takes it as any anomalib ONNX:
``pred_score`` (N,), the highest value of ``anomaly_map`` (N, 1, H, W) at the input size.
The map is the sigmoid smoothed over 5x5 pixels, so a single noisy pixel is not a finding.

Plain ops (Conv, folded BatchNorm, ReLU, dilated Conv, nearest and bilinear Resize, average
pooling, ReduceMax): every backend runs it; the tail after the last Conv stays float in INT8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import torch
from torch import nn

from lepton.edge.bundle.manifest import InputSpec

ANOMALY_INPUT: Final = InputSpec(name="input", height=240, width=320)
"""anomalib's input name; 640x480 frames letterbox to exactly 320x240, as for the detector."""
SMOOTH_PX: Final = 5
OUTPUTS: Final = ("pred_score", "anomaly_map")


def _cbr(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class AnomalySegmenter(nn.Module):
    """NCHW image (H, W multiples of 8) → (N, 1, H, W) anomaly logits: what training reads."""

    def __init__(self) -> None:
        super().__init__()
        self.e1 = nn.Sequential(_cbr(3, 16, 2), _cbr(16, 16))
        self.e2 = nn.Sequential(_cbr(16, 32, 2), _cbr(32, 32))
        self.e3 = nn.Sequential(_cbr(32, 48, 2), _cbr(48, 48, dilation=2), _cbr(48, 48, dilation=4))
        self.d2 = _cbr(48 + 32, 32)
        self.d1 = _cbr(32 + 16, 16)
        self.head = nn.Conv2d(16, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.e1(x)
        b = self.e2(a)
        c = self.e3(b)
        u = self.d2(torch.cat([nn.functional.interpolate(c, scale_factor=2.0, mode="nearest"), b], 1))
        u = self.d1(torch.cat([nn.functional.interpolate(u, scale_factor=2.0, mode="nearest"), a], 1))
        return nn.functional.interpolate(self.head(u), scale_factor=2.0, mode="bilinear", align_corners=False)


def anomaly_map(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel probability, smoothed: the map the bundle outputs and the score's source."""
    return nn.functional.avg_pool2d(torch.sigmoid(logits), SMOOTH_PX, stride=1, padding=SMOOTH_PX // 2)


class AnomalyModel(nn.Module):
    """The exported graph: image → (pred_score (N,), anomaly_map (N, 1, H, W))."""

    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heat = anomaly_map(self.segmenter(x))
        return torch.amax(heat, dim=(1, 2, 3)), heat


def export_onnx(segmenter: nn.Module, path: Path) -> None:
    """``path``: the ONNX lepton-export takes (dynamic batch, anomalib's names), as anomalib writes one."""
    import warnings

    dummy = torch.zeros(1, 3, ANOMALY_INPUT.height, ANOMALY_INPUT.width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            AnomalyModel(segmenter).eval(), (dummy,), str(path), input_names=[ANOMALY_INPUT.name],
            output_names=list(OUTPUTS), opset_version=17, dynamo=False,
            dynamic_axes={ANOMALY_INPUT.name: {0: "batch"}, **{o: {0: "batch"} for o in OUTPUTS}},
        )  # fmt: skip


def build_segmenter() -> nn.Module:
    """A freshly initialised segmenter; load ``anomaly.pt`` into it to get the trained one."""
    return AnomalySegmenter()


__all__ = [
    "ANOMALY_INPUT",
    "OUTPUTS",
    "AnomalyModel",
    "AnomalySegmenter",
    "anomaly_map",
    "build_segmenter",
    "export_onnx",
]
