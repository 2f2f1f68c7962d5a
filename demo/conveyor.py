"""The demo line as a video: plates ride the belt left to right, one at a time, with truth.

Parts are spaced so that at most one is in view and a stretch of empty belt separates
them; two defects are therefore never on screen together, and a detector's "end" of one
defect and "new" of the next are always apart. Every frame is drawn by
``demo.scene.compose_frame`` and checked against ``frame_label``, the same rule that
labels the data set, so the ground truth cannot drift from the training labels.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from demo.errors import DemoBuildError
from demo.labels import DEFECT_LABELS, FRAME_HEIGHT_PX, FRAME_WIDTH_PX, LABELS
from demo.scene import (
    GENERATOR_VERSION,
    Belt,
    Camera,
    Part,
    Placement,
    Visibility,
    box_visibility,
    build_part,
    compose_frame,
    frame_label,
)
from demo.seeds import Stream, generator
from demo.truth import FrameRange, LineTruth, PartTruth, VideoInfo
from lepton.edge.atomic_write import fsync_dir, write_text_atomic
from lepton.edge.bundle.manifest import sha256_file

CODEC: Final = "mp4v"
MIN_DEFECT_GAP_FRAMES: Final = 8
"""Guaranteed frames between one defect leaving the view and the next one entering it."""

_BELT_LOOP_PX = 3200


@dataclass(frozen=True)
class LineSettings:
    """How the line runs; the defaults make a ~30-part video of about 90 seconds."""

    fps: float = 25.0
    size: tuple[int, int] = (FRAME_WIDTH_PX, FRAME_HEIGHT_PX)
    defect_rate: float = 0.4
    speed_px_per_frame: int = 14
    gap_frames: tuple[int, int] = (10, 20)  # empty belt between one part leaving and the next
    lead_frames: int = 12  # empty belt before the first part and after the last

    def __post_init__(self) -> None:
        if self.size != (FRAME_WIDTH_PX, FRAME_HEIGHT_PX):
            raise ValueError(
                f"size {self.size} is not supported: the scene is drawn at "
                f"{FRAME_WIDTH_PX}x{FRAME_HEIGHT_PX}; resize the video afterwards if you need another size"
            )
        if not 0.0 <= self.defect_rate <= 1.0:
            raise ValueError(f"defect_rate must be within 0..1, got {self.defect_rate}")
        if self.gap_frames[0] < MIN_DEFECT_GAP_FRAMES or self.gap_frames[1] < self.gap_frames[0]:
            raise ValueError(
                f"gap_frames {self.gap_frames} must be an ordered range starting at >= "
                f"{MIN_DEFECT_GAP_FRAMES} frames, so defects stay apart"
            )
        if self.speed_px_per_frame < 1 or self.fps <= 0:
            raise ValueError("speed_px_per_frame and fps must be positive")


@dataclass(frozen=True)
class _Ride:
    """One part's trip across the view: it enters at ``first_frame`` at x = ``x_first``."""

    part: Part
    y: int
    first_frame: int
    x_first: int
    last_frame: int
    speed_px_per_frame: int

    def placement(self, frame: int) -> Placement:
        return Placement(
            self.part, self.x_first + self.speed_px_per_frame * (frame - self.first_frame), self.y
        )


def _part_labels(rng: np.random.Generator, n_parts: int, defect_rate: float) -> list[str | None]:
    """round(n * rate) defective parts, the defect kinds taking turns, in shuffled order."""
    n_defective = round(n_parts * defect_rate)
    labels: list[str | None] = [DEFECT_LABELS[i % len(DEFECT_LABELS)] for i in range(n_defective)]
    labels += [None] * (n_parts - n_defective)
    rng.shuffle(labels)
    return labels


def _plan_rides(
    rng: np.random.Generator, camera: Camera, n_parts: int, settings: LineSettings
) -> list[_Ride]:
    rides = []
    frame = settings.lead_frames
    speed = settings.speed_px_per_frame
    for label in _part_labels(rng, n_parts, settings.defect_rate):
        part = build_part(rng, label)
        y = round(camera.belt_center_y + rng.uniform(-18.0, 18.0) - part.height_px / 2.0)
        x_first = 1 - part.body_box.x1  # one column of the plate shows on its first frame
        # last frame with x + body.x0 < width: the plate's left edge still inside the view
        steps = (FRAME_WIDTH_PX - part.body_box.x0 - x_first - 1) // speed
        rides.append(_Ride(part, y, frame, x_first, frame + steps, speed))
        frame += steps + 1 + int(rng.integers(settings.gap_frames[0], settings.gap_frames[1] + 1))
    return rides


def _window(ride: _Ride, wanted: Visibility | None) -> FrameRange | None:
    """Frames of the ride where its defect is fully visible (FULL) or visible at all (None)."""
    frames = []
    for frame in range(ride.first_frame, ride.last_frame + 1):
        box = ride.placement(frame).defect_in_frame()
        if box is None:
            return None
        seen = box_visibility(box)
        if (wanted is None and seen is not Visibility.NONE) or seen is wanted:
            frames.append(frame)
    return FrameRange(first=frames[0], last=frames[-1]) if frames else None


def _defect_box(ride: _Ride, full: FrameRange | None) -> tuple[int, int, int, int] | None:
    box = None if full is None else ride.placement(full.first).defect_in_frame()
    return None if box is None else (box.x0, box.y0, box.x1, box.y1)


def _truth_parts(rides: list[_Ride]) -> tuple[PartTruth, ...]:
    parts = []
    for i, ride in enumerate(rides):
        full = _window(ride, Visibility.FULL)
        parts.append(
            PartTruth(
                index=i,
                label=ride.part.label,
                in_view=FrameRange(first=ride.first_frame, last=ride.last_frame),
                defect_any_view=_window(ride, None),
                defect_full_view=full,
                defect_box=_defect_box(ride, full),
            )
        )
    windows = [p.defect_any_view for p in parts if p.defect_any_view is not None]
    for before, after in itertools.pairwise(windows):
        assert after.first - before.last - 1 >= MIN_DEFECT_GAP_FRAMES, (before, after)
    return tuple(parts)


def _exposure(frame: int, fps: float, phase: float) -> float:
    """Auto-exposure hunting slowly around 1.0."""
    t = frame / fps
    return 1.0 + 0.05 * math.sin(2 * math.pi * t / 7.0 + phase) + 0.025 * math.sin(2 * math.pi * t / 2.3)


def _frames(
    rng: np.random.Generator, camera: Camera, belt: Belt, rides: list[_Ride], truth: LineTruth
) -> Iterator[npt.NDArray[np.uint8]]:
    phase = rng.uniform(0.0, 2 * math.pi)
    next_ride = 0
    for frame in range(truth.video.frame_count):
        while next_ride < len(rides) and rides[next_ride].last_frame < frame:
            next_ride += 1
        placements = []
        if next_ride < len(rides) and rides[next_ride].first_frame <= frame:
            placements.append(rides[next_ride].placement(frame))
        got = frame_label(placements)
        assert got == truth.expected_label(frame), (frame, got, truth.expected_label(frame))
        travel = truth.video.speed_px_per_frame * frame
        yield compose_frame(rng, camera, belt, travel, placements, _exposure(frame, truth.video.fps, phase))


def _count_frames(path: Path) -> tuple[int, float]:
    """Decode the file back: (frames read, fps the container reports)."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0, 0.0
        count = 0
        while cap.grab():
            count += 1
        return count, float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()


def write_conveyor_video(
    path: Path,
    truth_path: Path,
    seed: int,
    n_parts: int = 30,
    *,
    settings: LineSettings = LineSettings(),
) -> LineTruth:
    """Render the line to ``path`` (mp4v) and its ground truth to ``truth_path`` (JSON).

    The video is written under a temporary name, read back and checked for its frame
    count and fps, then renamed; the truth file, which records the video's sha256, is
    written last. A truth file beside a matching video therefore means both are complete.
    """
    if n_parts < 1:
        raise ValueError(f"n_parts must be >= 1, got {n_parts}")
    rng = generator(seed, Stream.VIDEO)
    camera = Camera.draw(rng)
    belt = Belt.draw(rng, _BELT_LOOP_PX, camera.belt_height_px)
    rides = _plan_rides(rng, camera, n_parts, settings)
    frame_count = rides[-1].last_frame + 1 + settings.lead_frames
    info = VideoInfo(
        file=path.name,
        sha256="0" * 64,  # filled in below, once the file is in place
        bytes=0,
        codec=CODEC,
        fps=settings.fps,
        width_px=FRAME_WIDTH_PX,
        height_px=FRAME_HEIGHT_PX,
        frame_count=frame_count,
        seed=seed,
        generator=GENERATOR_VERSION,
        speed_px_per_frame=settings.speed_px_per_frame,
        defect_rate=settings.defect_rate,
        gap_frames=settings.gap_frames,
        lead_frames=settings.lead_frames,
    )
    truth = LineTruth(labels=LABELS, video=info, parts=_truth_parts(rides))

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*CODEC), settings.fps, settings.size)
        if not writer.isOpened():
            raise DemoBuildError(
                f"video {path}: cv2.VideoWriter cannot write {CODEC} into {tmp.suffix}; "
                "use an OpenCV build with FFmpeg (the opencv-python-headless wheels have it)"
            )
        try:
            for frame in _frames(rng, camera, belt, rides, truth):
                writer.write(frame)
        finally:
            writer.release()
        read, fps = _count_frames(tmp)
        if read != frame_count or abs(fps - settings.fps) > 0.01:
            raise DemoBuildError(
                f"video {path}: wrote {frame_count} frames at {settings.fps} fps but reading it back "
                f"gives {read} frames at {fps} fps; check the OpenCV/FFmpeg install and rebuild"
            )
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    video = info.model_copy(update={"sha256": sha256_file(path), "bytes": path.stat().st_size})
    truth = truth.model_copy(update={"video": video})
    write_text_atomic(truth_path, truth.to_json())
    return truth


__all__ = ["CODEC", "MIN_DEFECT_GAP_FRAMES", "LineSettings", "write_conveyor_video"]
