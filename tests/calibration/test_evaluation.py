"""The labelled evaluation set: <root>/<label>/** only, labels the model's, batches in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton.calibration.errors import CalibrationDataError
from lepton.calibration.evaluation import find_evaluation_set, iter_evaluation_batches
from tests.calibration.conftest import INPUT, PREPROCESS, write_image

LABELS = ("ok", "scratch", "dent")


def test_labels_come_from_folders_and_batches_keep_order(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / "ok" / f"{i}.jpg", i)
    write_image(tmp_path / "dent" / "night" / "a.png", 9)

    found = find_evaluation_set(tmp_path, LABELS, "evaluation.dir")
    batches = list(iter_evaluation_batches(found, (PREPROCESS, INPUT), batch=3, progress=False))

    assert [i.relative for i in found.items] == ["dent/night/a.png", "ok/0.jpg", "ok/1.jpg", "ok/2.jpg"]
    assert found.targets.tolist() == [2, 0, 0, 0]
    assert [b.shape for b, _ in batches] == [(3, 3, 24, 32), (1, 3, 24, 32)]
    assert np.concatenate([t for _, t in batches]).tolist() == [2, 0, 0, 0]
    assert set(found.by_sha256().values()) == {i.path for i in found.items}


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("loose.jpg", "image loose.jpg is not in a label folder"),
        ("good/a.jpg", "folder 'good' is not a label of the model"),
        (None, "no jpg/png images found"),
    ],
)
def test_bad_layouts_name_the_problem_and_the_labels(
    tmp_path: Path, layout: str | None, expected: str
) -> None:
    if layout:
        write_image(tmp_path / layout, 1)
    with pytest.raises(CalibrationDataError) as caught:
        find_evaluation_set(tmp_path, LABELS, "evaluation.dir")
    assert f"evaluation.dir {tmp_path}: {expected}" in str(caught.value)
    assert "['ok', 'scratch', 'dent']" in str(caught.value)
