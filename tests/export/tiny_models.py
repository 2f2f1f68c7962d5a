"""Tiny PyTorch classifiers for the export tests, built by ``model.factory`` in configs.

Three healthy architectures show the exporter is not tuned to one shape of network (a plain
CNN; a residual net with BatchNorm, whose running statistics are folded at export;
MobileNetV3-style blocks: depthwise, squeeze-excitation, HardSwish, residual Add), a
detection-style head (``decode_head_cnn``) that INT8 must leave in float, and
deliberately awkward ones reproduce real exporter failure modes without mocking:
``export_skewed_cnn`` and ``export_nan_cnn`` compute something else while being exported
(the shape of pytorch#169178: a graph that loads and runs but is wrong), and ``gated_cnn`` has
data-dependent control flow that torch.export refuses and the TorchScript tracer accepts.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def fixed_size_head(num_classes: int) -> nn.Module:
    """A head sized for 5x5 inputs only (flatten + linear): any other input size fails forward."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 5, num_classes))


def small_cnn(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


def relu_depthwise(num_classes: int) -> nn.Module:
    """ReLU into a depthwise Conv (MobileNet's pattern). On mobilenet_v3_large NNCF quantized
    that activation per channel, which ORT CPU's fused QLinearConv refuses; on this model it
    does not, so the test of the OpenVINO file shows the gates run it, not that case."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 32, 1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 16, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


def residual_bn(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 12, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(12),
        nn.ReLU(),
        _ResidualBlock(12),
        _ResidualBlock(12),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(12, num_classes),
    )


class _InvertedResidual(nn.Module):
    """A MobileNetV3/EfficientNet block: expand 1x1, depthwise 3x3, squeeze-excitation (global
    pool → 1x1 → ReLU → 1x1 → HardSigmoid → Mul), project 1x1, residual Add, HardSwish."""

    def __init__(self, channels: int, expanded: int) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(channels, expanded, 1, bias=False), nn.BatchNorm2d(expanded))
        self.depthwise = nn.Sequential(
            nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded, bias=False), nn.BatchNorm2d(expanded)
        )
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(expanded, 8, 1),
            nn.ReLU(),
            nn.Conv2d(8, expanded, 1),
            nn.Hardsigmoid(),
        )
        self.project = nn.Sequential(nn.Conv2d(expanded, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.expand(x))
        y = self.act(self.depthwise(y))
        y = y * self.se(y)
        return x + self.project(y)


def mobile_blocks(num_classes: int) -> nn.Module:
    """Stem, two inverted-residual blocks with SE and HardSwish, global pool, classifier."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.Hardswish(),
        _InvertedResidual(16, 48),
        _InvertedResidual(16, 48),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


class _Decode(nn.Module):
    """A YOLO-style head tensor: class logits concatenated with pixel-scale box terms.

    The classifier returns the logits sliced back out, but the Concat holds both ranges:
    one INT8 scale over it (0-320 px) rounds every logit to a few steps (notes §3.1), so
    the head must stay in float; its module name, ``decode``, is what the default
    ``quantize.exclude_nodes`` pattern matches.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.cls = nn.Linear(channels, num_classes)
        self.box = nn.Linear(channels, 4)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        head = torch.cat([self.cls(features), 320.0 * torch.sigmoid(self.box(features))], dim=1)
        return head[:, : self.num_classes]


class _DecodeHeadCnn(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.decode = _Decode(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.features(x))  # type: ignore[no-any-return]


def decode_head_cnn(num_classes: int) -> nn.Module:
    return _DecodeHeadCnn(num_classes)


class _ExportSkew(nn.Module):
    """Identity in eager mode, x1.5 while torch.onnx.export runs: the exported graph is wrong."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.5 if torch.onnx.is_in_onnx_export() else x


def export_skewed_cnn(num_classes: int) -> nn.Module:
    return nn.Sequential(small_cnn(num_classes), _ExportSkew())


class _ExportNaN(nn.Module):
    """Identity in eager mode, NaN while exported: the worst a broken graph can output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan") if torch.onnx.is_in_onnx_export() else x


def export_nan_cnn(num_classes: int) -> nn.Module:
    return nn.Sequential(small_cnn(num_classes), _ExportNaN())


class _DataDependentGate(nn.Module):
    """A Python branch on tensor values (always true here): torch.export cannot trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.abs().sum() >= 0):
            return torch.relu(x)
        return x


def gated_cnn(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        _DataDependentGate(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )


def seeded(model: nn.Module, seed: int) -> nn.Module:
    """Deterministic weights and non-trivial BatchNorm statistics, as a trained model has."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model


def save_torchscript(model: nn.Module, path: Path) -> None:
    """A traced TorchScript file, as older training pipelines hand them over."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace is deprecated
        traced = torch.jit.trace(model.eval(), torch.zeros(1, 3, 32, 32))  # type: ignore[no-untyped-call]
        torch.jit.save(traced, str(path))


def save_exported_program(
    model: nn.Module, path: Path, batch: tuple[int, int] | None = (1, 4), size: int = 32
) -> None:
    """A ``torch.export`` program saved with ``torch.export.save``, as newer training
    pipelines hand them over; ``batch`` (min, max) makes the batch dimension dynamic,
    None exports a static batch of 1. The model keeps the train/eval mode it is given."""
    example = torch.zeros(2 if batch else 1, 3, size, size)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=batch[0], max=batch[1])},) if batch else None
    program = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
    torch.export.save(program, path)
