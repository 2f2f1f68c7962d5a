"""The benchmark's input videos: the demo line re-encoded at each size and at a paced frame rate.

Re-encoding keeps the content (parts, defects, so events happen) and the codec the demo
uses (MPEG-4 part 2, ``mp4v``: what OpenCV's wheels can write). Files are cached next to
the results, keyed by the source's size and mtime, so a second run does not re-encode.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def sized_video(source: Path, size: str, out_dir: Path, fps: float | None = None) -> Path:
    """``source`` resized to ``size`` (``WxH``), optionally re-stamped at ``fps``; cached."""
    stat = source.stat()
    tag = f"{source.stem}-{size}" + (f"-{fps:g}fps" if fps else "") + f"-{stat.st_size}-{int(stat.st_mtime)}"
    path = out_dir / f"{tag}.mp4"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise SystemExit(f"--video {source}: OpenCV cannot open it; build the demo with `make demo` first")
    width, height = parse_size(size)
    rate = fps or float(capture.get(cv2.CAP_PROP_FPS) or 25.0)
    tmp = path.with_suffix(".tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), rate, (width, height))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if frame.shape[1] != width or frame.shape[0] != height:
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
            writer.write(frame)
    finally:
        writer.release()
        capture.release()
    os.replace(tmp, path)
    return path


def first_frames(video: Path, count: int) -> list[npt.NDArray[np.uint8]]:
    """The first ``count`` decoded frames (fewer if the video is shorter)."""
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    frames: list[npt.NDArray[np.uint8]] = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(np.asarray(frame, dtype=np.uint8))
    capture.release()
    return frames


def frame_count(video: Path) -> int:
    """Frames OpenCV actually decodes (the container's count can be off by a few)."""
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count
