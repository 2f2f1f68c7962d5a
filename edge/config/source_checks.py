"""``check-config``'s look at every source before a start: what only opening it can tell.

A video file that exists may still not decode, or stop halfway (a copy cut short); a
camera device path may be missing; ``/dev/videoN`` numbers change with the order USB
devices are found at boot, so the camera of one station can become another's. None of
this needs a running daemon, so ``check-config`` says it: problems (exit 78) for what
cannot run, warnings for what runs but will surprise. Network cameras are not opened
here: a camera that is down must not fail a check, and its timeouts are the daemon's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lepton.edge.config.loader import ConfigProblem
from lepton.edge.config.models import LeptonConfig

_NUMBERED_V4L = re.compile(r"^/dev/video\d+$")


@dataclass
class SourceReport:
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """One line per source that checked out, e.g. ``cam1: line.mp4, 250 frames at 25 fps``."""


def _count_frames(path: Path) -> tuple[int, int, float] | None:
    """(frames decoded, frames the container announces, fps); None when it does not open or decode."""
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            return None
        announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        decoded = 0
        while capture.grab():
            decoded += 1
    finally:
        capture.release()
    return (decoded, announced, fps) if decoded else None


def _check_video(report: SourceReport, key: str, camera: str, path: Path) -> None:
    counted = _count_frames(path)
    if counted is None:
        report.problems.append(
            ConfigProblem(
                key,
                f"video file {path} cannot be decoded by OpenCV/FFmpeg (damaged, truncated or an unknown "
                "codec)",
                "check the file with ffprobe, or copy it again",
            )
        )
        return
    decoded, announced, fps = counted
    if announced > decoded:
        report.warnings.append(
            f"{key}: video file {path} stops at frame {decoded} of the {announced} its header announces "
            "(truncated copy?); the daemon will play only those"
        )
    report.notes.append(f"{camera}: {path.name}, {decoded} frames at {fps:g} fps")


def _check_device(report: SourceReport, key: str, camera: str, uri: str) -> None:
    if _NUMBERED_V4L.match(uri):
        report.warnings.append(
            f"{key}: {uri} is numbered in the order devices are found at boot and can name another camera "
            "after a reboot or replug; use its /dev/v4l/by-id/... (or by-path) name"
        )
    if not os.path.exists(uri):
        report.problems.append(
            ConfigProblem(
                key,
                f"camera device {uri} does not exist",
                "plug the camera in, or fix the path (ls -l /dev/v4l/by-id/ lists the cameras present)",
            )
        )
        return
    report.notes.append(f"{camera}: device {uri}")


def inspect_sources(config: LeptonConfig) -> SourceReport:
    """Open every file source and look at every device path; network cameras are left to the daemon."""
    report = SourceReport()
    for i, source in enumerate(config.sources):
        if source.kind == "file":
            if source.path.is_file() and os.access(source.path, os.R_OK):  # else a disk problem already
                _check_video(report, f"sources.{i}.path", source.camera, source.path)
        elif source.kind == "camera" and source.uri.startswith("/"):
            _check_device(report, f"sources.{i}.uri", source.camera, source.uri)
    return report


__all__ = ["SourceReport", "inspect_sources"]
