"""The 640x480 video both sides read: the demo's conveyor line, rendered by its generator."""

from __future__ import annotations

from pathlib import Path

import cv2

from demo.conveyor import write_conveyor_video


def demo_video(out_dir: Path, parts: int, seed: int) -> Path:
    """The demo line with ``parts`` parts (about 80 frames each), 640x480 mp4v; cached."""
    path = out_dir / f"line-{parts}parts-seed{seed}.mp4"
    truth = path.with_suffix(".truth.json")
    if path.is_file() and truth.is_file():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    write_conveyor_video(path, truth, seed, parts)
    return path


def video_size(video: Path) -> str:
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    try:
        return f"{int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
    finally:
        capture.release()
