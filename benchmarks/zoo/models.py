"""The zoo's models: resnet18, mobilenet_v3_large and efficientnet_b0 as torchvision defines them.

torchvision cannot be installed beside this project's torch here: the 0.28.0 wheel that
matches torch 2.13 on PyPI is a CUDA build, and importing it against torch 2.13.0+cpu fails
(``RuntimeError: operator torchvision::nms does not exist``); the CPU build is only on
download.pytorch.org. So the blocks are written out here, following torchvision's
definitions (torchvision/models/resnet.py, mobilenetv3.py, efficientnet.py): the same
layer configurations, channel counts, activations (ReLU, Hardswish, Hardsigmoid, SiLU),
squeeze-excitation and residual placement, and the same initialisation, so the graphs
lepton-export sees are the ones a torchvision model gives. Weights are random (speed and
agreement mean something, accuracy does not). Each factory is called as f(num_classes=N).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

Activation = Callable[..., nn.Module]


def _make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: channels rounded to a multiple of 8, never 10 % below ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_bn_act(
    cin: int, cout: int, kernel: int, stride: int, groups: int, act: Activation | None, eps: float
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=eps),
    ]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation: pool → 1x1 → act → 1x1 → scale activation → multiply."""

    def __init__(self, channels: int, squeeze: int, act: Activation, scale: Activation) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = act(inplace=True)
        self.scale_activation = scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        result: torch.Tensor = x * s
        return result


# --- resnet18 ----------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + identity)
        return result


class ResNet18(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        result: torch.Tensor = self.fc(torch.flatten(self.avgpool(x), 1))
        return result


# --- mobilenet_v3_large ------------------------------------------------------------------

MOBILENET_V3_LARGE = (
    # input, kernel, expanded, output, squeeze-excitation, activation, stride
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)


class InvertedResidual(nn.Module):
    """MobileNetV3's block: expand 1x1 → depthwise → SE (Hardsigmoid) → project 1x1, residual."""

    def __init__(
        self, cin: int, kernel: int, expanded: int, cout: int, se: bool, act: str, stride: int
    ) -> None:
        super().__init__()
        activation: Activation = nn.Hardswish if act == "HS" else nn.ReLU
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(_conv_bn_act(cin, expanded, 1, 1, 1, activation, 0.001))
        layers.append(_conv_bn_act(expanded, expanded, kernel, stride, expanded, activation, 0.001))
        if se:
            layers.append(
                SqueezeExcitation(expanded, _make_divisible(expanded // 4), nn.ReLU, nn.Hardsigmoid)
            )
        layers.append(_conv_bn_act(expanded, cout, 1, 1, 1, None, 0.001))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        result: torch.Tensor = out + x if self.use_res_connect else out
        return result


class MobileNetV3Large(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_act(3, 16, 3, 2, 1, nn.Hardswish, 0.001)]
        layers += [InvertedResidual(*conf) for conf in MOBILENET_V3_LARGE]
        layers.append(_conv_bn_act(160, 960, 1, 1, 1, nn.Hardswish, 0.001))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(960, 1280),
            nn.Hardswish(inplace=True),
            nn.Dropout(0.2, inplace=True),
            nn.Linear(1280, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
        return result


# --- efficientnet_b0 ---------------------------------------------------------------------

EFFICIENTNET_B0 = (
    # expand ratio, kernel, stride, input, output, layers
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


class MBConv(nn.Module):
    """EfficientNet's block: expand 1x1 → depthwise → SE (SiLU, Sigmoid) → project 1x1, residual
    (stochastic depth is the identity at inference)."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        expanded = _make_divisible(cin * expand)
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(_conv_bn_act(cin, expanded, 1, 1, 1, nn.SiLU, 1e-5))
        layers.append(_conv_bn_act(expanded, expanded, kernel, stride, expanded, nn.SiLU, 1e-5))
        layers.append(SqueezeExcitation(expanded, max(1, cin // 4), nn.SiLU, nn.Sigmoid))
        layers.append(_conv_bn_act(expanded, cout, 1, 1, 1, None, 1e-5))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        result: torch.Tensor = out + x if self.use_res_connect else out
        return result


class EfficientNetB0(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_act(3, 32, 3, 2, 1, nn.SiLU, 1e-5)]
        for expand, kernel, stride, cin, cout, repeats in EFFICIENTNET_B0:
            stage = [
                MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout)
                for i in range(repeats)
            ]
            layers.append(nn.Sequential(*stage))
        layers.append(_conv_bn_act(320, 1280, 1, 1, 1, nn.SiLU, 1e-5))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(1280, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init_range = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -init_range, init_range)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
        return result


def resnet18(num_classes: int = 1000) -> nn.Module:
    return ResNet18(num_classes)


def mobilenet_v3_large(num_classes: int = 1000) -> nn.Module:
    return MobileNetV3Large(num_classes)


def efficientnet_b0(num_classes: int = 1000) -> nn.Module:
    return EfficientNetB0(num_classes)


ZOO: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "mobilenet_v3_large": mobilenet_v3_large,
    "efficientnet_b0": efficientnet_b0,
}
"""Name → factory, each called as f(num_classes=N)."""

PARAMETERS = {"resnet18": 11_689_512, "mobilenet_v3_large": 5_483_032, "efficientnet_b0": 5_288_548}
"""torchvision's own counts at 1000 classes (its model docs): the blocks above must give these."""

__all__ = ["PARAMETERS", "ZOO", "efficientnet_b0", "mobilenet_v3_large", "resnet18"]
