"""The classifier's shape and ops: what export, INT8 and the daemon rely on."""

from __future__ import annotations

import io

import torch
from torch import nn

from demo.labels import INPUT, LABELS
from demo.model import build_classifier


def test_logits_per_image_at_the_model_input_size() -> None:
    model = build_classifier(len(LABELS)).eval()
    with torch.no_grad():
        out = model(torch.zeros(3, 3, INPUT.height, INPUT.width))
    assert out.shape == (3, len(LABELS))
    assert out.dtype == torch.float32


def test_fully_convolutional_so_crops_train_the_same_weights() -> None:
    model = build_classifier(len(LABELS)).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 80)).shape == (2, len(LABELS))


def test_only_plain_int8_friendly_layers() -> None:
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.AdaptiveMaxPool2d, nn.Linear, nn.Sequential)
    model = build_classifier(len(LABELS))
    odd = [type(m).__name__ for m in model.modules() if m is not model and not isinstance(m, allowed)]
    assert odd == []
    assert sum(p.numel() for p in model.parameters()) < 500_000


def test_state_dict_round_trips_through_torch_save() -> None:
    torch.manual_seed(0)
    trained = build_classifier(len(LABELS)).eval()
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    fresh = build_classifier(len(LABELS)).eval()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(2, 3, INPUT.height, INPUT.width)
    with torch.no_grad():
        assert torch.equal(fresh(x), trained(x))


def test_too_few_classes_is_refused() -> None:
    try:
        build_classifier(1)
    except ValueError as err:
        assert "at least 2 classes" in str(err)
    else:
        raise AssertionError("build_classifier(1) should refuse")
