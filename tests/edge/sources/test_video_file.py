"""The video file source: every frame, in order, whatever the decoder's thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton.edge.sources.configs import FileSourceConfig
from lepton.edge.sources.video_file import VideoFileSource
from tests.support.videos import BLUE, GRAY, RED, write_color_video


def _frames(config: FileSourceConfig) -> list[np.ndarray]:
    with VideoFileSource(config) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame.image)
            assert frame.seq == len(frames) - 1
    return frames


@pytest.mark.parametrize("threads", [0, 2])
def test_decoder_threads_change_nothing_but_speed(tmp_path: Path, threads: int) -> None:
    video = tmp_path / "line.mp4"
    write_color_video(video, [(GRAY, 7), (RED, 5), (BLUE, 9)])
    one = _frames(FileSourceConfig(kind="file", camera="cam1", path=video))  # default: 1 thread
    other = _frames(FileSourceConfig(kind="file", camera="cam1", path=video, decode_threads=threads))
    assert len(one) == len(other) == 21
    assert all(np.array_equal(a, b) for a, b in zip(one, other, strict=True))


def test_loop_starts_again_at_the_end(tmp_path: Path) -> None:
    video = tmp_path / "line.mp4"
    write_color_video(video, [(GRAY, 3), (RED, 3)])
    with VideoFileSource(FileSourceConfig(kind="file", camera="cam1", path=video, loop=True)) as source:
        seqs = [source.read() for _ in range(15)]
    assert all(f is not None for f in seqs)
    assert [f.seq for f in seqs if f is not None] == list(range(15))


def test_a_copy_cut_short_warns_with_the_frame_it_stopped_at(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = tmp_path / "line.avi"
    write_color_video(video, [(GRAY, 40)], fourcc="MJPG")
    config = FileSourceConfig(kind="file", camera="cam1", path=video)
    with caplog.at_level("WARNING"):
        assert len(_frames(config)) == 40
    assert not caplog.records  # a complete file ends quietly

    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # the header still announces 40 frames
    with caplog.at_level("WARNING"):
        played = len(_frames(config))
    assert 0 < played < 40
    (record,) = caplog.records
    assert f"ended at frame {played} of the 40" in record.getMessage() and str(video) in record.getMessage()
