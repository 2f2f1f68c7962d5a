"""The held-out evaluation set: a labelled ImageFolder the accuracy gate measures FP32 and INT8 on.

Layout ``<root>/<label>/**/*.jpg`` with every folder name one of the model's labels: the
labels are the ground truth, so an unknown folder is an error rather than a silently
skipped class. Images are decoded and preprocessed batch by batch (``lepton.edge.preprocess``),
so a large set never sits in memory as float tensors.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from lepton.calibration.errors import CalibrationDataError
from lepton.calibration.files import decode_image, file_sha256, find_images
from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.preprocess import Tensor, preprocess_batch

Labels = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EvaluationItem:
    path: Path
    relative: str
    label: int
    sha256: str


@dataclass(frozen=True)
class EvaluationSet:
    root: Path
    labels: tuple[str, ...]
    items: tuple[EvaluationItem, ...]

    @property
    def targets(self) -> Labels:
        return np.array([item.label for item in self.items], dtype=np.int64)

    def by_sha256(self) -> dict[str, Path]:
        return {item.sha256: item.path for item in self.items}


def find_evaluation_set(root: Path, labels: tuple[str, ...], key: str) -> EvaluationSet:
    """Discover and hash ``<root>/<label>/**`` images; ``key`` names the flag or config key."""
    fix = f"lay it out as {root}/<label>/*.jpg with labels from {list(labels)}"
    images = find_images(root, key)
    items = []
    for path in images:
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            raise CalibrationDataError(f"{key} {root}: image {parts[0]} is not in a label folder; {fix}")
        if parts[0] not in labels:
            raise CalibrationDataError(
                f"{key} {root}: folder {parts[0]!r} is not a label of the model; {fix} (or remove the folder)"
            )
        items.append(EvaluationItem(path, "/".join(parts), labels.index(parts[0]), file_sha256(path)))
    if not items:
        raise CalibrationDataError(f"{key} {root}: no jpg/png images found; {fix}")
    return EvaluationSet(root=root, labels=labels, items=tuple(items))


def iter_evaluation_batches(
    evaluation: EvaluationSet,
    preprocess: tuple[PreprocessSpec, InputSpec],
    batch: int,
    progress: bool = True,
) -> Iterator[tuple[Tensor, Labels]]:
    """(preprocessed batch, target labels) in set order, with a progress bar on a terminal."""
    spec, input_spec = preprocess
    targets = evaluation.targets
    enabled = progress and sys.stderr.isatty()
    with tqdm(
        total=len(evaluation.items), desc="evaluation", unit="img", file=sys.stderr, disable=not enabled
    ) as bar:
        for start in range(0, len(evaluation.items), batch):
            chunk = evaluation.items[start : start + batch]
            frames = [decode_image(item.path) for item in chunk]
            yield preprocess_batch(frames, spec, input_spec), targets[start : start + len(chunk)]
            bar.update(len(chunk))


__all__ = ["EvaluationItem", "EvaluationSet", "Labels", "find_evaluation_set", "iter_evaluation_batches"]
