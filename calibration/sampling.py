"""The calibration set: candidates from folders and videos, a seeded draw, the daemon's preprocessing.

Deterministic: candidates are sorted (source, relative path, frame) and drawn with
``random.Random(seed)``, so the same folders and seed give the same samples and the same
index hash. Every candidate image is hashed before the draw, so an evaluation image that
also sits in a calibration folder is found even when the draw would have missed it.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lepton.calibration.config import MIN_CALIBRATION_SAMPLES, CalibrationConfig
from lepton.calibration.errors import CalibrationDataError
from lepton.calibration.files import (
    count_video_frames,
    decode_image,
    file_sha256,
    find_images,
    frame_sha256,
    read_video_frames,
)
from lepton.calibration.index import CalibrationIndex, SampleEntry, SourceEntry, samples_digest
from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.preprocess import Frame, Tensor, preprocess_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """An image file, or one frame of a video, that calibration may use."""

    source: int
    path: Path
    relative: str
    frame: int | None
    sha256: str | None
    """File hash for an image; a frame's pixel hash is known only once it is decoded."""

    def describe(self) -> str:
        return str(self.path) if self.frame is None else f"{self.path} frame {self.frame}"


@dataclass(frozen=True)
class Candidates:
    sources: tuple[SourceEntry, ...]
    items: tuple[Candidate, ...]


@dataclass(frozen=True)
class CalibrationSet:
    """The drawn samples, preprocessed exactly as the daemon does, and their index."""

    tensor: Tensor
    """(n, 3, H, W) float32, in index order."""
    index: CalibrationIndex


def find_candidates(config: CalibrationConfig) -> Candidates:
    """Every image below ``images`` and every ``frame_step``-th frame of ``videos``, sorted."""
    sources: list[SourceEntry] = []
    items: list[Candidate] = []
    for root in config.images:
        number = len(sources)
        paths = find_images(root, "calibration.images")
        items += [Candidate(number, p, p.relative_to(root).as_posix(), None, file_sha256(p)) for p in paths]
        sources.append(SourceEntry(kind="images", path=str(root), candidates=len(paths)))
    for video in config.videos:
        number = len(sources)
        frames = range(0, count_video_frames(video, "calibration.videos"), config.frame_step)
        items += [Candidate(number, video, video.name, f, None) for f in frames]
        sources.append(
            SourceEntry(
                kind="video",
                path=str(video),
                sha256=file_sha256(video),
                frame_step=config.frame_step,
                candidates=len(frames),
            )
        )
    return Candidates(sources=tuple(sources), items=tuple(items))


def check_disjoint(candidates: Candidates, evaluation: Mapping[str, Path], evaluation_key: str) -> None:
    """Refuse calibration images whose bytes are also in the evaluation set (by sha256).

    Calibrating on evaluation images makes the accuracy gate measure a model tuned on its
    own test data. Video frames are compared by their file only (a frame re-encoded as a
    JPEG has other bytes); keep evaluation images out of calibration videos.
    """
    shared = [
        (c, evaluation[c.sha256]) for c in candidates.items if c.sha256 is not None and c.sha256 in evaluation
    ]
    if shared:
        first, twin = shared[0]
        raise CalibrationDataError(
            f"calibration.images: {len(shared)} calibration image(s) are also in the evaluation "
            f"set {evaluation_key} (same sha256), e.g. {first.path} = {twin}; calibrate on data "
            "disjoint from the evaluation set (e.g. the train split) or remove the duplicates"
        )


def draw_samples(candidates: Candidates, config: CalibrationConfig) -> tuple[Candidate, ...]:
    """The seeded draw; too few candidates is an error unless ``allow_small``."""
    available = len(candidates.items)
    where = _describe_sources(config)
    if available == 0:
        raise CalibrationDataError(
            f"calibration: no images or video frames found in {where}; point calibration.images "
            "at folders of in-domain jpg/png images (or calibration.videos at line recordings)"
        )
    if available < config.count and not config.allow_small:
        raise CalibrationDataError(
            f"calibration: {where} offer {available} images/frames but calibration.count is "
            f"{config.count}; add in-domain images (>= {MIN_CALIBRATION_SAMPLES} recommended), lower "
            "calibration.frame_step for videos, or pass --allow-small-calibration "
            "(calibration.allow_small = true) for a test"
        )
    count = min(config.count, available)
    if count < MIN_CALIBRATION_SAMPLES:
        log.warning(
            "calibrating on %d samples (< %d) because allow_small is set: not for a shipped model",
            count,
            MIN_CALIBRATION_SAMPLES,
        )
    chosen = sorted(random.Random(config.seed).sample(range(available), count))
    return tuple(candidates.items[i] for i in chosen)


def load_calibration_set(
    candidates: Candidates,
    chosen: Sequence[Candidate],
    config: CalibrationConfig,
    preprocess: tuple[PreprocessSpec, InputSpec],
    progress: bool = True,
) -> CalibrationSet:
    """Decode the drawn samples, preprocess them with ``lepton.edge.preprocess``, and index them.

    Each frame is preprocessed as soon as it is decoded: only the model-sized tensor is
    kept, never 500 camera frames at once.
    """
    spec, input_spec = preprocess
    tensor = np.empty((len(chosen), 3, input_spec.height, input_spec.width), dtype=np.float32)
    hashes = [c.sha256 for c in chosen]
    for position, frame in _decoded(chosen, progress):
        tensor[position] = preprocess_batch([frame], spec, input_spec)[0]
        if hashes[position] is None:
            hashes[position] = frame_sha256(frame)
    samples = tuple(
        SampleEntry(source=c.source, path=c.relative, frame=c.frame, sha256=str(h))
        for c, h in zip(chosen, hashes, strict=True)
    )
    index = CalibrationIndex(
        seed=config.seed,
        requested=config.count,
        available=len(candidates.items),
        allow_small=config.allow_small,
        sources=candidates.sources,
        samples=samples,
        samples_sha256=samples_digest(samples),
    )
    return CalibrationSet(tensor=tensor, index=index)


def _decoded(chosen: Sequence[Candidate], progress: bool) -> Iterator[tuple[int, Frame]]:
    """(position in ``chosen``, BGR frame): images one by one, each video in one sequential pass."""
    by_video: dict[Path, list[int]] = {}
    for position, candidate in enumerate(chosen):
        if candidate.frame is not None:
            by_video.setdefault(candidate.path, []).append(position)
    enabled = progress and sys.stderr.isatty()
    with tqdm(
        total=len(chosen), desc="calibration samples", unit="img", file=sys.stderr, disable=not enabled
    ) as bar:
        for position, candidate in enumerate(chosen):
            if candidate.frame is None:
                yield position, decode_image(candidate.path)
                bar.update()
        for video, positions in by_video.items():
            wanted = {chosen[p].frame: p for p in positions}
            frames = sorted(f for f in wanted if f is not None)
            for frame_number, frame in read_video_frames(video, frames, "calibration.videos"):
                yield wanted[frame_number], frame
                bar.update()


def _describe_sources(config: CalibrationConfig) -> str:
    parts = []
    if config.images:
        parts.append(f"calibration.images {[str(p) for p in config.images]}")
    if config.videos:
        parts.append(f"calibration.videos {[str(p) for p in config.videos]}")
    return " and ".join(parts)


__all__ = [
    "CalibrationSet",
    "Candidate",
    "Candidates",
    "check_disjoint",
    "draw_samples",
    "find_candidates",
    "load_calibration_set",
]
