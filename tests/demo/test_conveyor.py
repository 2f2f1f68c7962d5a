"""The conveyor video: it plays back as its truth says, and the truth keeps defects apart."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import pytest

from demo.conveyor import MIN_DEFECT_GAP_FRAMES, LineSettings, write_conveyor_video
from demo.errors import DemoBuildError
from demo.labels import DEFECT_LABELS, FRAME_HEIGHT_PX, FRAME_WIDTH_PX, OK_LABEL
from demo.truth import LineTruth, PartTruth, read_truth
from lepton.edge.bundle.manifest import sha256_file


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LineTruth]:
    out = tmp_path_factory.mktemp("line")
    video, truth_path = out / "line.mp4", out / "line.truth.json"
    written = write_conveyor_video(
        video, truth_path, seed=5, n_parts=4, settings=LineSettings(defect_rate=0.75)
    )
    assert read_truth(truth_path) == written
    return video, written


def test_video_reads_back_with_the_frame_count_and_fps_of_its_truth(line: tuple[Path, LineTruth]) -> None:
    video, truth = line
    cap = cv2.VideoCapture(str(video))
    try:
        assert cap.isOpened()
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(truth.video.fps)
        frames = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (FRAME_HEIGHT_PX, FRAME_WIDTH_PX, 3)
            frames += 1
    finally:
        cap.release()
    assert frames == truth.video.frame_count
    assert sha256_file(video) == truth.video.sha256
    assert video.stat().st_size == truth.video.bytes
    assert not [p for p in video.parent.iterdir() if ".partial" in p.name]


def test_parts_take_turns_and_defect_windows_stay_apart(line: tuple[Path, LineTruth]) -> None:
    _, truth = line
    assert [p.index for p in truth.parts] == list(range(4))
    defects = [p.label for p in truth.parts if p.label != OK_LABEL]
    assert len(defects) == 3 and len(set(defects)) == 3 and set(defects) <= set(DEFECT_LABELS)
    for earlier, later in itertools.pairwise(truth.parts):
        assert later.in_view.first > earlier.in_view.last, "two parts in view at once"
    windows = [p.defect_any_view for p in truth.parts if p.defect_any_view is not None]
    for before, after in itertools.pairwise(windows):
        assert after.first - before.last - 1 >= MIN_DEFECT_GAP_FRAMES
    for part in truth.parts:
        assert part.in_view.first >= 0 and part.in_view.last < truth.video.frame_count
        if part.label == OK_LABEL:
            assert part.defect_any_view is None and part.defect_full_view is None
            continue
        full, anywhere = part.defect_full_view, part.defect_any_view
        assert full is not None and anywhere is not None
        assert part.in_view.first <= anywhere.first < full.first <= full.last < anywhere.last
        assert anywhere.last <= part.in_view.last
        # the defect crosses the frame at belt speed: its full-view time is the frame width
        # minus its own width, so a few dozen frames at 14 px/frame
        assert 20 <= full.frames <= FRAME_WIDTH_PX // truth.video.speed_px_per_frame


def test_expected_label_per_frame(line: tuple[Path, LineTruth]) -> None:
    _, truth = line
    part = next(p for p in truth.parts if p.defect_full_view is not None)
    full, anywhere = part.defect_full_view, part.defect_any_view
    assert full is not None and anywhere is not None
    assert truth.expected_label(full.first) == part.label
    assert truth.expected_label(full.last) == part.label
    assert truth.expected_label(anywhere.first) is None  # defect cut by the frame edge
    assert truth.expected_label(anywhere.first - 1) == OK_LABEL
    assert truth.expected_label(anywhere.last + 1) == OK_LABEL
    assert truth.expected_label(0) == OK_LABEL  # empty belt before the first part


def test_the_defect_box_moves_with_the_belt_and_is_whole_exactly_in_full_view(
    line: tuple[Path, LineTruth],
) -> None:
    """The detector's end-to-end test scores event boxes against these boxes."""
    _, truth = line
    for part in truth.parts:
        if part.label == OK_LABEL:
            assert part.defect_box is None and truth.defect_box_at(part, 0) is None
            continue
        full = part.defect_full_view
        assert full is not None

        def whole(frame: int, part: PartTruth = part) -> bool:
            box = truth.defect_box_at(part, frame)
            assert box is not None
            return box[0] >= 0 and box[1] >= 0 and box[2] <= FRAME_WIDTH_PX and box[3] <= FRAME_HEIGHT_PX

        assert all(whole(f) for f in range(full.first, full.last + 1))
        assert not whole(full.first - 1) and not whole(full.last + 1)
        first, last = truth.defect_box_at(part, full.first), truth.defect_box_at(part, full.last)
        assert first is not None and last is not None
        assert last[0] - first[0] == truth.video.speed_px_per_frame * (full.frames - 1)
        assert 2 <= first[2] - first[0] <= 200 and 2 <= first[3] - first[1] <= 200


def test_same_seed_same_video(tmp_path: Path) -> None:
    one = write_conveyor_video(tmp_path / "a.mp4", tmp_path / "a.json", seed=9, n_parts=1)
    same = write_conveyor_video(tmp_path / "b.mp4", tmp_path / "b.json", seed=9, n_parts=1)
    assert same.parts == one.parts
    assert same.video.sha256 == one.video.sha256


def test_settings_refuse_gaps_that_would_let_defects_touch() -> None:
    with pytest.raises(ValueError, match=f">= {MIN_DEFECT_GAP_FRAMES} frames"):
        LineSettings(gap_frames=(4, 10))
    with pytest.raises(ValueError, match="resize the video afterwards"):
        LineSettings(size=(1280, 720))


def test_a_broken_truth_file_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "line.truth.json"
    path.write_text('{"schema": "lepton.demo.line-truth/1"}', encoding="utf-8")
    with pytest.raises(DemoBuildError, match="python -m demo build --force") as err:
        read_truth(path)
    assert str(path) in str(err.value)
