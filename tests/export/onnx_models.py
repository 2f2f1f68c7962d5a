"""Tiny ONNX files shaped like what users bring: an Ultralytics YOLOv8 detector, an anomalib model.

Weights are set by hand so the models see something real: the detector finds 32x32 red
(class 0) and green (class 1) squares on a dark 128x128 frame, one 16-pixel cell of its
64x64 input each; the anomaly model scores how far pixels stray from grey. The detector's
head is built like Ultralytics' (``Detect``: per-level box and class convs, DFL over 16 bins,
anchors, dist2bbox, sigmoid class scores, one (N, 4+nc, A) output) under the module names
Ultralytics uses (``model.<i>``, ``model.<i>.dfl``), and the file carries Ultralytics'
``metadata_props``, each value ``str()`` of a Python object as its exporter writes them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

IMGSZ = 64
STRIDE = 16
REG_MAX = 16
NAMES = ("scratch", "dent")


class Stem(nn.Module):
    """Mean R - G and G - R per 16x16 cell (the 'features')."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, STRIDE, STRIDE, bias=False)
        w = torch.zeros(2, 3, STRIDE, STRIDE)
        w[0, 0], w[0, 1] = 1.0 / STRIDE**2, -1.0 / STRIDE**2  # input is RGB: R - G
        w[1, 1], w[1, 0] = 1.0 / STRIDE**2, -1.0 / STRIDE**2
        self.conv.weight.data = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class DFL(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(REG_MAX, 1, 1, bias=False)
        self.conv.weight.data = torch.arange(REG_MAX, dtype=torch.float32).view(1, REG_MAX, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, REG_MAX, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    """One level: the box is the cell (16 input pixels), the class score comes from the colour."""

    def __init__(self, nc: int, box_scale: float = 1.0, box_offset: float = 0.0) -> None:
        super().__init__()
        self.nc, self.box_scale, self.box_offset = nc, box_scale, box_offset
        self.cv2 = nn.Conv2d(2, 4 * REG_MAX, 1)
        self.cv2.weight.data.zero_()
        bias = torch.full((4, REG_MAX), -10.0)
        bias[:, :2] = 10.0  # every distance = half a cell: the box is the cell
        self.cv2.bias.data = bias.flatten()
        self.cv3 = nn.Conv2d(2, nc, 1)
        self.cv3.weight.data = torch.eye(nc, 2).view(nc, 2, 1, 1) * 40.0
        self.cv3.bias.data = torch.full((nc,), -10.0)
        self.dfl = DFL()
        g = IMGSZ // STRIDE
        ys, xs = torch.meshgrid(torch.arange(g) + 0.5, torch.arange(g) + 0.5, indexing="ij")
        self.register_buffer("anchors", torch.stack([xs.flatten(), ys.flatten()]).unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = torch.cat([self.cv2(x), self.cv3(x)], 1).view(b, 4 * REG_MAX + self.nc, -1)
        box, cls = y.split((4 * REG_MAX, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        xywh = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1) * STRIDE * self.box_scale
        xywh[:, 0] += self.box_offset  # broken exports: boxes off the input, or normalised
        return torch.cat([xywh, cls.sigmoid()], 1)


class TinyYolo(nn.Module):
    def __init__(self, nc: int = len(NAMES), box_scale: float = 1.0, box_offset: float = 0.0) -> None:
        super().__init__()
        self.model = nn.ModuleList([Stem(), Detect(nc, box_scale, box_offset)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model[1](self.model[0](x))


def tiny_yolo(num_classes: int) -> nn.Module:
    """``model.factory`` for the PyTorch detection path: the same detector, built from its labels."""
    return TinyYolo(num_classes)


def tiny_yolo_two_classes(num_classes: int) -> nn.Module:
    """A factory that ignores its class count (a hard-coded detector): the export must notice."""
    return TinyYolo(len(NAMES))


class TinyYoloEndToEnd(nn.Module):
    """YOLO26/YOLOv10's output layout: (N, K, 6) x1, y1, x2, y2, score, class, best K first."""

    def __init__(self, nc: int = len(NAMES), k: int = 10) -> None:
        super().__init__()
        self.yolo, self.k = TinyYolo(nc), k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.yolo(x).transpose(1, 2)  # (N, A, 4+nc)
        xy, wh, cls = y[..., :2], y[..., 2:4], y[..., 4:]
        score, label = cls.max(-1, keepdim=True)
        rows = torch.cat([xy - wh / 2, xy + wh / 2, score, label.float()], -1)
        top = score.squeeze(-1).topk(self.k, dim=1).indices
        return torch.gather(rows, 1, top.unsqueeze(-1).expand(-1, -1, 6))


def export_model(
    model: nn.Module, path: Path, outputs: list[str], input_name: str, size: int, dynamic: bool
) -> None:
    dummy = torch.zeros(1, 3, size, size)
    axes = {input_name: {0: "batch"}, **{o: {0: "batch"} for o in outputs}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(), (dummy,), str(path), input_names=[input_name], output_names=outputs,
            opset_version=17, dynamo=False, dynamic_axes=axes,
        )  # fmt: skip


def write_yolo(
    path: Path,
    names: tuple[str, ...] = NAMES,
    metadata: bool = True,
    dynamic: bool = False,
    nms: bool = False,
    broken: tuple[float, float] = (1.0, 0.0),
) -> Path:
    """``yolo export format=onnx``'s shape: input 'images' (1, 3, 64, 64), output 'output0' (1, 4+nc, 16);
    with ``nms`` an end-to-end model, output (1, 10, 6), as ``nms=True`` or a YOLO26 writes."""
    model = TinyYoloEndToEnd(len(names)) if nms else TinyYolo(len(names), *broken)
    export_model(model, path, ["output0"], "images", IMGSZ, dynamic)
    if metadata:
        model = onnx.load(str(path))
        props = {
            "description": "Ultralytics YOLOv8n-tiny model",
            "author": "Ultralytics",
            "version": "8.3.0",
            "license": "AGPL-3.0 License (https://ultralytics.com/license)",
            "stride": str(STRIDE),
            "task": "detect",
            "batch": "1",
            "imgsz": str([IMGSZ, IMGSZ]),
            "names": str(dict(enumerate(names))),
            "args": str({"batch": 1, "half": False, "dynamic": dynamic, "nms": nms}),
            "channels": "3",
        }
        for key, value in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(path))
    return path


class TinyAnomaly(nn.Module):
    """anomalib's InferenceBatch outputs: pred_score, pred_label (bool), anomaly_map; 0.5 = threshold.

    A fixed 'feature extractor' conv (the channels, and their mean), then each pixel's distance
    from the image's mean feature, smoothed: PaDiM's shape with nothing learnt.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        w = torch.zeros(4, 3, 3, 3)
        for c in range(3):
            w[c, c, 1, 1] = 1.0
        w[3, :, 1, 1] = 1.0 / 3.0
        self.features.weight.data = w
        self.features.bias.data.zero_()
        self.layers = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 1))  # a 'backbone'
        for conv in (self.layers[0], self.layers[2]):
            conv.weight.data = torch.eye(4).view(4, 4, 1, 1)
            conv.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.layers(self.features(x))
        deviation = (f - f.mean(dim=(2, 3), keepdim=True)).abs().mean(dim=1, keepdim=True)
        heat = torch.nn.functional.avg_pool2d(deviation, 3, 1, 1)
        score = heat.amax(dim=(1, 2, 3))
        return score, score > 0.5, heat


def write_anomaly(path: Path, size: int = 64) -> Path:
    export_model(
        TinyAnomaly(), path, ["pred_score", "pred_label", "anomaly_map"], "input", size, dynamic=True
    )
    return path


__all__ = [
    "IMGSZ",
    "NAMES",
    "STRIDE",
    "TinyAnomaly",
    "TinyYolo",
    "TinyYoloEndToEnd",
    "tiny_yolo",
    "tiny_yolo_two_classes",
    "write_anomaly",
    "write_yolo",
]
