"""The inspection data set: still frames of the demo line, labelled by the video's rule.

Every image is a 640x480 frame from the same generator as the conveyor video (a part
somewhere on the belt, possibly cut by the frame edge, or empty belt). A frame shows a
defect's label only when that defect is fully in view; frames where a defect is cut by the
edge are never staged, because neither "ok" nor the defect is a fair answer for them.

Layout: ``<out>/{train,val,test}/<label>/<id>.jpg`` and ``<out>/index.json``. The whole
directory is staged and renamed into place, so an interrupted run leaves nothing that
looks finished.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import cv2
import numpy as np
from pydantic import Field, ValidationError

from demo.errors import DemoBuildError
from demo.labels import DEFECT_LABELS, FRAME_WIDTH_PX, LABELS, OK_LABEL
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
from lepton.edge.atomic_write import staged_directory
from lepton.edge.strict_model import StrictModel

INDEX_NAME: Final = "index.json"
SCHEMA_ID: Final = "lepton.demo.dataset/1"
JPEG_QUALITY: Final = 92
SPLITS: Final = ("train", "val", "test")
Split = Literal["train", "val", "test"]

OK_FRACTION: Final = 0.4
"""Share of "ok" frames; the four defects split the rest evenly."""

_STREAMS: Final = {"train": Stream.TRAIN, "val": Stream.VAL, "test": Stream.TEST}
_CHUNK_SIZE = 100  # frames sharing one camera (rails, lighting, noise) and belt loop
_MIN_VISIBLE_PX = 24  # a part counts as on screen once this much of it shows
_BELT_LOOP_PX = 1600


class DatasetItem(StrictModel):
    file: str = Field(description="Path relative to the data set root, '/'-separated.")
    label: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    box: tuple[int, int, int, int] | None = Field(
        default=None,
        description="The labelled defect's pixels in the frame (x0, y0, x1, y1; x1, y1 exclusive); "
        "None for ok frames.",
    )
    part_box: tuple[int, int, int, int] | None = Field(
        default=None,
        description="The plate's pixels in the frame, same convention; it may reach past the frame "
        "edge. None for empty belt.",
    )


class DatasetIndex(StrictModel):
    """What was generated, from what; ``sha256`` fingerprints the item lists for reproducibility."""

    schema_id: Literal["lepton.demo.dataset/1"] = Field(default=SCHEMA_ID, alias="schema")
    generator: str = Field(description="Scene generator version the images were drawn with.")
    seed: int
    sizes: dict[str, int]
    labels: tuple[str, ...]
    jpeg_quality: int
    splits: dict[str, tuple[DatasetItem, ...]]
    sha256: str = Field(description="sha256 of the canonical JSON of `splits`.")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=1) + "\n"


def splits_digest(splits: dict[str, tuple[DatasetItem, ...]]) -> str:
    """sha256 over the split lists (files, labels, image hashes) in a canonical JSON form."""
    plain = {name: [item.model_dump() for item in items] for name, items in sorted(splits.items())}
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def split_plan(n: int) -> list[str]:
    """Labels for ``n`` frames in index order: OK_FRACTION "ok", the rest spread over defects."""
    n_ok = round(OK_FRACTION * n)
    plan = [OK_LABEL] * n_ok
    plan += [DEFECT_LABELS[i % len(DEFECT_LABELS)] for i in range(n - n_ok)]
    return plan


def _part_y(rng: np.random.Generator, camera: Camera, part: Part) -> int:
    return round(camera.belt_center_y + rng.uniform(-18.0, 18.0) - part.height_px / 2.0)


def _pick(rng: np.random.Generator, intervals: Sequence[tuple[int, int]]) -> int | None:
    """A uniform integer from a union of inclusive intervals, or None when all are empty."""
    spans = [(lo, hi) for lo, hi in intervals if hi >= lo]
    if not spans:
        return None
    lengths = np.array([hi - lo + 1 for lo, hi in spans], dtype=np.float64)
    lo, hi = spans[int(rng.choice(len(spans), p=lengths / lengths.sum()))]
    return int(rng.integers(lo, hi + 1))


def stage_still(rng: np.random.Generator, label: str, camera: Camera) -> list[Placement]:
    """Place a part so the frame's label is ``label``: the kinds of frame the video shows.

    "ok" frames are empty belt, a clean part anywhere on screen, or a defective part whose
    defect is still (or already) outside the frame; the last kind teaches the model to
    answer from the defect, not from the part.
    """
    w = FRAME_WIDTH_PX
    if label != OK_LABEL:
        part = build_part(rng, label)
        box = part.defect_box
        assert box is not None
        x = _pick(rng, [(-box.x0, w - box.x1)])
        assert x is not None
        return [Placement(part, x, _part_y(rng, camera, part))]
    kind = rng.random()
    if kind < 0.15:
        return []
    if kind >= 0.65:
        part = build_part(rng, DEFECT_LABELS[int(rng.integers(len(DEFECT_LABELS)))])
        body, box = part.body_box, part.defect_box
        assert box is not None
        x = _pick(
            rng,
            [(_MIN_VISIBLE_PX - body.x1, -box.x1), (w - box.x0, w - _MIN_VISIBLE_PX - body.x0)],
        )
        if x is not None:
            return [Placement(part, x, _part_y(rng, camera, part))]
    part = build_part(rng, None)
    body = part.body_box
    x = _pick(rng, [(_MIN_VISIBLE_PX - body.x1, w - _MIN_VISIBLE_PX - body.x0)])
    assert x is not None
    return [Placement(part, x, _part_y(rng, camera, part))]


@dataclass(frozen=True)
class _ChunkJob:
    root: Path
    seed: int
    split: Split
    chunk: int
    first_index: int
    labels: tuple[str, ...]


def _render_chunk(job: _ChunkJob) -> list[DatasetItem]:
    """Render and write one chunk; runs in a worker process, so it touches only its own files."""
    cv2.setNumThreads(1)
    rng = generator(job.seed, _STREAMS[job.split], job.chunk)
    camera = Camera.draw(rng)
    belt = Belt.draw(rng, _BELT_LOOP_PX, camera.belt_height_px)
    items = []
    for offset, label in enumerate(job.labels):
        placements = stage_still(rng, label, camera)
        got = frame_label(placements)
        assert got == label, f"staged a {label} frame that labels as {got}"
        travel = int(rng.integers(belt.loop_px))
        frame = compose_frame(rng, camera, belt, travel, placements, rng.uniform(0.85, 1.15))
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise DemoBuildError(f"OpenCV could not JPEG-encode a {frame.shape} frame; check the cv2 install")
        data = buf.tobytes()
        rel = f"{job.split}/{label}/{job.first_index + offset:05d}.jpg"
        path = job.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        items.append(
            DatasetItem(
                file=rel,
                label=label,
                sha256=digest,
                box=_labelled_box(placements),
                part_box=_part_box(placements),
            )
        )
    return items


def _labelled_box(placements: Sequence[Placement]) -> tuple[int, int, int, int] | None:
    """Frame box of the defect that gives the frame its label (the one fully in view)."""
    for placement in placements:
        box = placement.defect_in_frame()
        if box is not None and box_visibility(box) is Visibility.FULL:
            return (box.x0, box.y0, box.x1, box.y1)
    return None


def _part_box(placements: Sequence[Placement]) -> tuple[int, int, int, int] | None:
    if not placements:
        return None
    box = placements[0].body_in_frame()
    return (box.x0, box.y0, box.x1, box.y1)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _jobs(root: Path, seed: int, sizes: dict[Split, int]) -> list[_ChunkJob]:
    jobs = []
    for split, n in sizes.items():
        plan = split_plan(n)
        generator(seed, _STREAMS[split]).shuffle(plan)
        for chunk, start in enumerate(range(0, n, _CHUNK_SIZE)):
            labels = tuple(plan[start : start + _CHUNK_SIZE])
            jobs.append(_ChunkJob(root, seed, split, chunk, start, labels))
    return jobs


def _render_all(
    jobs: list[_ChunkJob], workers: int, log: Callable[[str], None] | None
) -> list[list[DatasetItem]]:
    """Render every chunk (in worker processes when ``workers`` > 1), reporting progress."""
    total = sum(len(job.labels) for job in jobs)
    done = 0
    results: list[list[DatasetItem]] = []

    def progress(items: list[DatasetItem]) -> None:
        nonlocal done
        before, done = done, done + len(items)
        if log is not None and (10 * done) // total != (10 * before) // total:
            log(f"data: {done}/{total} frames")

    if workers == 1:
        for job in jobs:
            results.append(_render_chunk(job))
            progress(results[-1])
        return results
    # spawn, not fork: the parent may already hold torch's or OpenCV's thread pools.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for items in pool.map(_render_chunk, jobs):
            results.append(items)
            progress(items)
    return results


def write_dataset(
    out_dir: Path,
    seed: int,
    n_train: int = 2400,
    n_val: int = 600,
    n_test: int = 1000,
    *,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> DatasetIndex:
    """Generate the three splits into ``out_dir`` (replaced atomically) and return the index.

    The images depend only on ``seed`` and the split sizes, not on ``workers``: each chunk
    of frames draws from its own random stream.
    """
    sizes: dict[Split, int] = {"train": n_train, "val": n_val, "test": n_test}
    for split, n in sizes.items():
        if n < 1:
            raise ValueError(f"the {split} split needs at least one image, got {n}")
    with staged_directory(out_dir) as root:
        jobs = _jobs(root, seed, sizes)
        results = _render_all(jobs, workers or default_workers(), log)
        splits: dict[str, list[DatasetItem]] = {split: [] for split in SPLITS}
        for job, items in zip(jobs, results, strict=True):
            splits[job.split].extend(items)
        frozen = {name: tuple(items) for name, items in splits.items()}
        index = DatasetIndex(
            generator=GENERATOR_VERSION,
            seed=seed,
            sizes=dict(sizes),
            labels=LABELS,
            jpeg_quality=JPEG_QUALITY,
            splits=frozen,
            sha256=splits_digest(frozen),
        )
        (root / INDEX_NAME).write_text(index.to_json(), encoding="utf-8")
    return index


def read_index(data_dir: Path) -> DatasetIndex:
    """Parse ``index.json`` and check its fingerprint; errors say how to regenerate."""
    path = data_dir / INDEX_NAME
    fix = "regenerate it with `python -m demo build --force` (or demo.dataset.write_dataset)"
    try:
        index = DatasetIndex.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoBuildError(f"data set {data_dir}: {INDEX_NAME} is missing; {fix}") from None
    except ValidationError as err:
        raise DemoBuildError(
            f"data set {data_dir}: {INDEX_NAME} is invalid ({err.errors()[0]['msg']}); {fix}"
        ) from err
    got = splits_digest(index.splits)
    if got != index.sha256:
        raise DemoBuildError(
            f"data set {data_dir}: {INDEX_NAME} lists items with sha256 {got[:12]}…, "
            f"it records {index.sha256[:12]}…; the index was edited; {fix}"
        )
    if tuple(index.labels) != LABELS:
        raise DemoBuildError(
            f"data set {data_dir}: labels {list(index.labels)} differ from demo.labels {list(LABELS)}; {fix}"
        )
    return index


def label_counts(index: DatasetIndex) -> dict[str, dict[str, int]]:
    """Per split, how many images each label has (for reports and the build log)."""
    return {name: dict(Counter(item.label for item in items)) for name, items in index.splits.items()}


__all__ = [
    "INDEX_NAME",
    "JPEG_QUALITY",
    "OK_FRACTION",
    "SCHEMA_ID",
    "SPLITS",
    "DatasetIndex",
    "DatasetItem",
    "default_workers",
    "label_counts",
    "read_index",
    "split_plan",
    "stage_still",
    "write_dataset",
]
