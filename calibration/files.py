"""Finding, hashing and decoding the image and video files calibration and evaluation read.

Frames come out as the daemon's sources deliver them (BGR uint8) so that
``lepton.edge.preprocess.preprocess_batch``, the one preprocessing function, sees what it sees in
production. OpenCV's failures (``None`` instead of an exception) become our errors here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from lepton.calibration.errors import CalibrationDataError
from lepton.edge.preprocess import Frame

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as err:
        raise CalibrationDataError(
            f"{path}: cannot be read ({err}); fix its permissions or remove it"
        ) from err
    return h.hexdigest()


def frame_sha256(frame: Frame) -> str:
    """Content hash of decoded pixels (shape included): the identity of a video frame."""
    h = hashlib.sha256(f"{frame.shape}".encode())
    h.update(np.ascontiguousarray(frame).tobytes())
    return h.hexdigest()


def find_images(root: Path, key: str) -> list[Path]:
    """Every image below ``root`` (recursive, hidden entries skipped), sorted by relative path.

    ``key`` is the config key or flag that named ``root``, for the error message.
    """
    if not root.is_dir():
        state = "is not a directory" if root.exists() else "does not exist"
        raise CalibrationDataError(f"{key} {root}: {state}; point it at a folder of jpg/png images")
    found = [
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def decode_image(path: Path) -> Frame:
    """One image file → BGR uint8, or CalibrationDataError naming the file."""
    try:
        encoded = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise CalibrationDataError(
            f"image {path}: cannot be read ({err}); fix its permissions or remove it"
        ) from err
    frame = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if encoded.size else None
    if frame is None:
        raise CalibrationDataError(f"image {path}: OpenCV cannot decode it; replace or remove the file")
    return np.asarray(frame, dtype=np.uint8)


def count_video_frames(path: Path, key: str) -> int:
    """Frames a sequential read delivers (CAP_PROP_FRAME_COUNT is an estimate for many containers)."""
    capture = _open_video(path, key)
    try:
        frames = 0
        while capture.grab():
            frames += 1
    finally:
        capture.release()
    if frames == 0:
        raise CalibrationDataError(
            f"{key} {path}: OpenCV decodes no frame from it; re-encode it (e.g. H.264 mp4)"
        )
    return frames


def read_video_frames(path: Path, wanted: list[int], key: str) -> Iterator[tuple[int, Frame]]:
    """The frames at the sorted indices ``wanted``, in one sequential pass (seeking is codec-dependent)."""
    capture = _open_video(path, key)
    try:
        position, pending = 0, iter(wanted)
        target = next(pending, None)
        while target is not None:
            if not capture.grab():
                raise CalibrationDataError(
                    f"{key} {path}: ended at frame {position}, before frame {target}; the file changed "
                    "while it was read, or is truncated: copy it again"
                )
            if position == target:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    raise CalibrationDataError(
                        f"{key} {path}: frame {position} cannot be decoded; re-encode the file"
                    )
                yield position, np.asarray(frame, dtype=np.uint8)
                target = next(pending, None)
            position += 1
    finally:
        capture.release()


def _open_video(path: Path, key: str) -> cv2.VideoCapture:
    if not path.is_file():
        state = "is not a file" if path.exists() else "does not exist"
        raise CalibrationDataError(f"{key} {path}: {state}; point it at a video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise CalibrationDataError(
            f"{key} {path}: OpenCV cannot open it as a video; re-encode it (e.g. H.264 mp4)"
        )
    return capture


__all__ = [
    "IMAGE_SUFFIXES",
    "count_video_frames",
    "decode_image",
    "file_sha256",
    "find_images",
    "frame_sha256",
    "read_video_frames",
]
