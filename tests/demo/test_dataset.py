"""The data set: reproducible by seed whatever the worker count, labelled by the frame rule."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from demo.dataset import (
    INDEX_NAME,
    SPLITS,
    read_index,
    split_plan,
    stage_still,
    write_dataset,
)
from demo.errors import DemoBuildError
from demo.labels import FRAME_HEIGHT_PX, FRAME_WIDTH_PX, LABELS, OK_LABEL
from demo.scene import Camera, Visibility, box_visibility, frame_label


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "data"
    write_dataset(out, seed=3, n_train=5, n_val=2, n_test=2, workers=1)
    return out


def _hashes(root: Path) -> dict[str, str]:
    index = read_index(root)
    return {item.file: item.sha256 for items in index.splits.values() for item in items}


def test_layout_labels_and_boxes(small_set: Path) -> None:
    index = read_index(small_set)
    assert index.labels == LABELS
    assert {name: len(items) for name, items in index.splits.items()} == {"train": 5, "val": 2, "test": 2}
    for split in SPLITS:
        for item in index.splits[split]:
            split_dir, label, _name = item.file.split("/")
            assert (split_dir, label) == (split, item.label)
            frame = cv2.imread(str(small_set / item.file))
            assert frame is not None and frame.shape == (FRAME_HEIGHT_PX, FRAME_WIDTH_PX, 3)
            if item.label == OK_LABEL:
                assert item.box is None
            else:
                assert item.box is not None and item.part_box is not None
                x0, y0, x1, y1 = item.box
                assert 0 <= x0 < x1 <= FRAME_WIDTH_PX and 0 <= y0 < y1 <= FRAME_HEIGHT_PX
                px0, py0, px1, py1 = item.part_box
                assert px0 <= x0 and py0 <= y0 and x1 <= px1 and y1 <= py1, "defect off its plate"


def test_same_seed_same_images_even_with_worker_processes(small_set: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write_dataset(again, seed=3, n_train=5, n_val=2, n_test=2, workers=2)
    assert _hashes(again) == _hashes(small_set)
    assert read_index(again).sha256 == read_index(small_set).sha256


def test_another_seed_other_images(small_set: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_dataset(other, seed=4, n_train=5, n_val=2, n_test=2, workers=1)
    assert set(_hashes(other).values()).isdisjoint(_hashes(small_set).values())


def test_splits_share_no_image(small_set: Path) -> None:
    index = read_index(small_set)
    seen = [{item.sha256 for item in index.splits[s]} for s in SPLITS]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_class_plan_is_forty_percent_ok_and_even_defects() -> None:
    counts = Counter(split_plan(1000))
    assert counts == {"ok": 400, "scratch": 150, "dent": 150, "stain": 150, "crack": 150}


@pytest.mark.parametrize("label", LABELS)
def test_staged_frames_carry_their_label(label: str) -> None:
    rng = np.random.default_rng(11)
    camera = Camera.draw(rng)
    for _ in range(6):
        placements = stage_still(rng, label, camera)
        assert frame_label(placements) == label
        for placement in placements:
            box = placement.defect_in_frame()
            seen = None if box is None else box_visibility(box)
            # a defect is either whole on screen (and then it is the label) or wholly off it
            assert seen in (None, Visibility.NONE, Visibility.FULL)
            assert (seen is Visibility.FULL) == (label != OK_LABEL)


def test_an_edited_index_is_refused_with_the_fix(small_set: Path, tmp_path: Path) -> None:
    copy = tmp_path / "edited"
    copy.mkdir()
    data = json.loads((small_set / INDEX_NAME).read_text(encoding="utf-8"))
    data["splits"]["train"][0]["label"] = "crack" if data["splits"]["train"][0]["label"] != "crack" else "ok"
    (copy / INDEX_NAME).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DemoBuildError, match=r"python -m demo build --force") as err:
        read_index(copy)
    assert str(copy) in str(err.value)


def test_a_missing_index_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DemoBuildError, match=r"index\.json is missing"):
        read_index(tmp_path)
