"""Training: a smoke run writes weights, labels and a report the build can trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from demo.dataset import write_dataset
from demo.labels import INPUT, LABELS
from demo.layout import CLASSIFIER_NAME, LABELS_NAME, REPORT_NAME
from demo.train import TrainReport, TrainSettings, load_classifier, train_classifier
from lepton.edge.bundle.manifest import sha256_file


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
