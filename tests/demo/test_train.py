"""Training: tensor augmentation equals preprocessing a changed frame; a smoke run writes its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from demo.dataset import write_dataset
from demo.labels import INPUT, LABELS, PREPROCESS
from demo.layout import CLASSIFIER_NAME, LABELS_NAME, REPORT_NAME
from demo.train import (
    TrainReport,
    TrainSettings,
    _crop_batch,
    _Split,
    adjust_brightness,
    augment,
    load_classifier,
    train_classifier,
)
from edge.bundle.manifest import sha256_file
from edge.preprocess import preprocess_batch


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
    # Both paths round to uint8 (the brighter frame, and INTER_AREA's output): ~1.2 grey
    # levels at worst. Dropping the mean term would be off by (gain - 1) * mean / std = 0.4.
    assert torch.allclose(got, want, atol=1.5 * PREPROCESS.scale / min(PREPROCESS.std))
    pad = torch.from_numpy(preprocess_batch([frame], PREPROCESS, INPUT))[:, :, :4]
    assert torch.equal(got[:, :, :4], pad), "letterbox pad rows must not change"


def test_crops_hold_the_whole_defect_whatever_the_flips() -> None:
    n = 16
    images = torch.zeros(n, 3, INPUT.height, INPUT.width)
    box = (70.0, 50.0, 95.0, 66.0)  # input pixels, off-centre so flips move it
    images[:, :, 50:66, 70:95] = 1.0
    split = _Split(images, torch.ones(n, dtype=torch.int64), (box,) * n, (None,) * n, ())
    settings = TrainSettings(brightness_gain=(1.0, 1.0), brightness_shift=0.0)
    generator = torch.Generator().manual_seed(0)
    seen_flips = set()
    for _ in range(10):
        batch, flips = augment(images, generator, settings)
        seen_flips |= {tuple(f) for f in flips.tolist()}
        crops = _crop_batch(batch, split, list(range(n)), flips, settings, generator)
        assert crops.shape == (n, 3, *settings.crop_hw)
        assert torch.equal(crops.sum(dim=(1, 2, 3)), torch.full((n,), 3.0 * 16 * 25))
    assert len(seen_flips) == 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainReport]:
    root = tmp_path_factory.mktemp("train")
    write_dataset(root / "data", seed=1, n_train=12, n_val=4, n_test=4, workers=1)
    settings = TrainSettings(full_frame_epochs=1, batch_size=8, crop_batch_size=8)
    lines: list[str] = []
    report = train_classifier(
        root / "data", root / "model", seed=0, epochs=2, settings=settings, log=lines.append
    )
    assert any("epoch  1/2 crops" in line for line in lines)
    assert any("epoch  2/2 frames" in line for line in lines)
    return root / "model", report


def test_smoke_run_writes_weights_labels_and_report(trained: tuple[Path, TrainReport]) -> None:
    model_dir, report = trained
    assert (model_dir / LABELS_NAME).read_text(encoding="utf-8").splitlines() == list(LABELS)
    on_disk = TrainReport.model_validate_json((model_dir / REPORT_NAME).read_text(encoding="utf-8"))
    assert on_disk == report
    assert report.classifier_sha256 == sha256_file(model_dir / CLASSIFIER_NAME)
    assert len(report.confusion_matrix) == len(LABELS)
    assert sum(map(sum, report.confusion_matrix)) == 4
    assert set(report.per_class_recall) == set(LABELS)
    assert 0.0 <= report.test_accuracy <= 1.0
    assert [r.epoch for r in report.history] == [1, 2]
    assert report.torch_version == torch.__version__
    assert json.loads((model_dir / REPORT_NAME).read_text(encoding="utf-8"))["schema"] == (
        "lepton.demo.train-report/1"
    )


def test_weights_are_a_plain_state_dict_for_build_classifier(trained: tuple[Path, TrainReport]) -> None:
    model_dir, _ = trained
    state = torch.load(model_dir / CLASSIFIER_NAME, weights_only=True)
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    model = load_classifier(model_dir)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, INPUT.height, INPUT.width)).shape == (1, len(LABELS))


def test_training_leaves_the_thread_count_as_it_found_it(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", seed=2, n_train=4, n_val=2, n_test=2, workers=1)
    original = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        settings = TrainSettings(full_frame_epochs=1, batch_size=4, threads=2)
        train_classifier(
            tmp_path / "data", tmp_path / "model", epochs=1, settings=settings, log=lambda _: None
        )
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(original)
