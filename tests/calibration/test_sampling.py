"""The calibration set: seeded, sorted, indexed by content, preprocessed by edge.preprocess,
refused when too small, empty or overlapping the evaluation set."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from lepton.calibration.config import CalibrationConfig
from lepton.calibration.errors import CalibrationDataError
from lepton.calibration.index import read_index, samples_digest, write_index
from lepton.calibration.sampling import check_disjoint, draw_samples, find_candidates, load_calibration_set
from lepton.edge.preprocess import preprocess_batch
from tests.calibration.conftest import INPUT, PREPROCESS, write_image


def _config(**keys: object) -> CalibrationConfig:
    return CalibrationConfig.model_validate({"allow_small": True, **keys})


def _draw(config: CalibrationConfig) -> tuple[np.ndarray, str, list[str]]:
    candidates = find_candidates(config)
    chosen = draw_samples(candidates, config)
    calib = load_calibration_set(candidates, chosen, config, (PREPROCESS, INPUT), progress=False)
    return calib.tensor, calib.index.samples_sha256, [s.path for s in calib.index.samples]


def test_the_draw_is_seeded_sorted_and_hashed_by_content(image_folder: Path, tmp_path: Path) -> None:
    config = _config(images=[str(image_folder)], count=5, seed=3)

    tensor, digest, paths = _draw(config)
    again = _draw(config)
    other_seed = _draw(_config(images=[str(image_folder)], count=5, seed=4))

    assert paths == sorted(paths) and len(paths) == 5 and ".cache/hidden.jpg" not in paths
    assert (digest, paths) == (again[1], again[2]) and np.array_equal(tensor, again[0])
    assert other_seed[2] != paths and other_seed[1] != digest
    candidates = find_candidates(config)
    index = load_calibration_set(
        candidates, draw_samples(candidates, config), config, (PREPROCESS, INPUT), progress=False
    ).index
    assert index.available == 9 and index.sources[0].candidates == 9
    for sample in index.samples:  # relative POSIX path + the file's own sha256
        assert hashlib.sha256((image_folder / sample.path).read_bytes()).hexdigest() == sample.sha256
    frames = [cv2.imread(str(image_folder / p)) for p in paths]
    np.testing.assert_array_equal(
        tensor, preprocess_batch(frames, PREPROCESS, INPUT)
    )  # the daemon's function
    write_index(tmp_path / "index.json", index)
    assert (
        read_index(tmp_path / "index.json") == index and samples_digest(index.samples) == index.samples_sha256
    )


def test_the_index_hash_ignores_where_the_folder_lives(image_folder: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "copy"
    moved.parent.mkdir()
    image_folder.rename(moved)

    _, digest_moved, _ = _draw(_config(images=[str(moved)], count=4))
    moved.rename(image_folder)
    _, digest, _ = _draw(_config(images=[str(image_folder)], count=4))

    assert digest == digest_moved


def test_video_frames_every_kth_and_hashed_by_pixels(video: Path) -> None:
    config = _config(videos=[str(video)], frame_step=4, count=10)
    candidates = find_candidates(config)

    calib = load_calibration_set(
        candidates, draw_samples(candidates, config), config, (PREPROCESS, INPUT), progress=False
    )

    assert [(s.path, s.frame) for s in calib.index.samples] == [
        ("line.avi", 0),
        ("line.avi", 4),
        ("line.avi", 8),
    ]
    assert calib.index.sources[0].kind == "video" and calib.index.sources[0].frame_step == 4
    assert calib.index.sources[0].sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert len({s.sha256 for s in calib.index.samples}) == 3 and calib.tensor.shape == (3, 3, 24, 32)


def test_too_few_candidates_is_an_error_unless_allowed(image_folder: Path) -> None:
    strict = CalibrationConfig.model_validate({"images": [str(image_folder)]})

    with pytest.raises(CalibrationDataError) as caught:
        draw_samples(find_candidates(strict), strict)

    assert "offer 9 images/frames but calibration.count is 500" in str(caught.value)
    assert "--allow-small-calibration" in str(caught.value)
    allowed = _config(images=[str(image_folder)])
    assert len(draw_samples(find_candidates(allowed), allowed)) == 9


def test_an_empty_folder_is_an_error_even_when_small_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "empty" / "ok").mkdir(parents=True)
    config = _config(images=[str(tmp_path / "empty")])

    with pytest.raises(CalibrationDataError, match=r"no images or video frames found in calibration\.images"):
        draw_samples(find_candidates(config), config)


def test_overlap_with_the_evaluation_set_is_found_by_content(image_folder: Path, tmp_path: Path) -> None:
    twin = write_image(tmp_path / "eval" / "ok" / "same.jpg", 0)  # same seed, same bytes as ok/0.jpg
    assert twin.read_bytes() == (image_folder / "ok" / "0.jpg").read_bytes()
    candidates = find_candidates(_config(images=[str(image_folder)]))

    with pytest.raises(CalibrationDataError) as caught:
        check_disjoint(candidates, {hashlib.sha256(twin.read_bytes()).hexdigest(): twin}, "evaluation.dir X")

    assert f"{image_folder / 'ok' / '0.jpg'} = {twin}" in str(caught.value)
    check_disjoint(candidates, {"0" * 64: twin}, "evaluation.dir X")  # different bytes: fine


def test_config_needs_a_source_and_enough_samples() -> None:
    with pytest.raises(ValidationError, match="no calibration source"):
        CalibrationConfig.model_validate({})
    with pytest.raises(ValidationError, match=r"calibration\.count = 100 is below 500"):
        CalibrationConfig.model_validate({"images": ["x"], "count": 100})
    assert CalibrationConfig.model_validate({"images": ["x"], "count": 100, "allow_small": True}).count == 100
