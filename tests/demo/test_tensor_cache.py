"""The tensor cache: preprocessing through edge.preprocess, and images checked against the index."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from demo.dataset import read_index, write_dataset
from demo.errors import DemoBuildError
from demo.labels import INPUT, LABELS, PREPROCESS
from demo.tensor_cache import input_box, load_split
from lepton.edge.preprocess import preprocess_batch


@pytest.fixture
def data(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "data", seed=8, n_train=3, n_val=1, n_test=1, workers=1)
    return tmp_path / "data"


def test_cache_is_preprocess_batch_of_each_image(data: Path) -> None:
    items = read_index(data).splits["train"]
    split = load_split(data, items, threads=2)
    assert split.images.shape == (3, 3, INPUT.height, INPUT.width)
    for i, item in enumerate(items):
        frame = np.asarray(cv2.imread(str(data / item.file)), dtype=np.uint8)
        assert torch.equal(split.images[i], torch.from_numpy(preprocess_batch([frame], PREPROCESS, INPUT))[0])
        assert LABELS[int(split.targets[i])] == item.label
        assert (split.boxes[i] is None) == (item.box is None)


def test_frame_boxes_map_through_the_letterbox() -> None:
    # 640x480 → 160x120 at a quarter, 4 pad rows on top
    assert input_box((0, 0, 640, 480)) == (0.0, 4.0, 160.0, 124.0)
    assert input_box((100, 40, 140, 80)) == (25.0, 14.0, 35.0, 24.0)
    assert input_box(None) is None


def test_a_changed_image_is_refused_by_name(data: Path) -> None:
    items = read_index(data).splits["val"]
    path = data / items[0].file
    path.write_bytes(path.read_bytes()[:-100] + bytes(100))
    with pytest.raises(DemoBuildError, match=r"python -m demo build --force") as err:
        load_split(data, items, threads=1)
    assert items[0].file in str(err.value) and "sha256" in str(err.value)
