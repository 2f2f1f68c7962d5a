"""Stage: pick the real sample images and turn them into model inputs.

The draw is seeded and the chosen paths sorted, so two runs on the same folder check the
same images. Frames are decoded as the daemon's sources deliver them (BGR uint8); the
pipeline then preprocesses them with ``lepton.edge.preprocess.preprocess_batch``, the daemon's own
function, so parity is measured on exactly the tensor the engine will see.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lepton.edge.bundle.manifest import InputSpec
from lepton.edge.preprocess import Frame
from lepton.export.config import SamplesConfig
from lepton.export.errors import UsageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


@dataclass(frozen=True)
class SampleSet:
    """The images drawn for this export, sorted; ``available`` is how many the folder had."""

    root: Path
    paths: tuple[Path, ...]
    available: int
    seed: int

    def relative(self) -> tuple[str, ...]:
        return tuple(p.relative_to(self.root).as_posix() for p in self.paths)


def select_samples(config: SamplesConfig) -> SampleSet:
    """Draw ``config.count`` images from ``config.dir`` (recursive, jpg/png), seeded."""
    root = config.dir
    if not root.is_dir():
        state = "is not a directory" if root.exists() else "does not exist"
        raise UsageError(
            f"samples.dir {root}: {state}; point [samples] dir (relative to the config file) "
            "or --samples-dir at a folder of real jpg/png images from the line"
        )
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(found) < config.count:
        raise UsageError(
            f"samples.dir {root}: has {len(found)} jpg/png images but samples.count is "
            f"{config.count}; add images, or lower samples.count (the notes ask for >= 64)"
        )
    chosen = sorted(random.Random(config.seed).sample(found, config.count))
    return SampleSet(root=root, paths=tuple(chosen), available=len(found), seed=config.seed)


def load_frames(samples: SampleSet) -> list[Frame]:
    """Decode every chosen image as BGR uint8, the daemon's frame format."""
    frames: list[Frame] = []
    for path in samples.paths:
        try:
            encoded = np.fromfile(path, dtype=np.uint8)
        except OSError as err:
            raise UsageError(
                f"sample {path}: cannot be read ({err}); fix its permissions or remove it"
            ) from err
        frame = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if encoded.size else None
        if frame is None:
            raise UsageError(
                f"sample {path}: OpenCV cannot decode it as an image; replace or remove the file"
            )
        frames.append(np.asarray(frame, dtype=np.uint8))
    return frames


def uniform_frame(input_spec: InputSpec, value: int) -> Frame:
    """An all-``value`` BGR frame at the input size: the black and white edge cases."""
    return np.full((input_spec.height, input_spec.width, 3), value, dtype=np.uint8)


__all__ = [
    "IMAGE_SUFFIXES",
    "SampleSet",
    "load_frames",
    "select_samples",
    "uniform_frame",
]
