"""Stage: held-out images through FP32 and INT8, decoded by the daemon's decoder, batch by batch.

Only decoded results are kept (boxes, scores), never a raw (N, 84, 8400) output per image:
a thousand evaluation images would otherwise hold gigabytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lepton.calibration.errors import CalibrationDataError
from lepton.calibration.files import decode_image, file_sha256, find_images
from lepton.edge.bundle.manifest import InputSpec, PreprocessSpec
from lepton.edge.engines.base import Outputs
from lepton.edge.preprocess import Frame, Tensor, preprocess_batch
from lepton.export.errors import UsageError

RunNamed = Callable[[Tensor], Outputs]


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    try:
        yield
    except CalibrationDataError as err:
        raise UsageError(str(err)) from err


def list_images(root: Path, key: str) -> list[Path]:
    with usage_errors():
        found = find_images(root, key)
    if not found:
        raise UsageError(f"{key} {root}: no jpg/png images found; point it at the held-out images")
    return found


def hashes_of(paths: Sequence[Path]) -> dict[str, Path]:
    """sha256 → path, to prove the held-out images are not calibration samples."""
    return {file_sha256(p): p for p in paths}


@dataclass(frozen=True)
class Batch:
    paths: tuple[Path, ...]
    frames: tuple[Frame, ...]
    tensor: Tensor

    @property
    def sizes(self) -> list[tuple[int, int]]:
        return [(f.shape[0], f.shape[1]) for f in self.frames]


def batches(
    paths: Sequence[Path], preprocess: tuple[PreprocessSpec, InputSpec], size: int
) -> Iterator[Batch]:
    spec, input_spec = preprocess
    for start in range(0, len(paths), size):
        chunk = tuple(paths[start : start + size])
        with usage_errors():
            frames = tuple(decode_image(p) for p in chunk)
        yield Batch(chunk, frames, preprocess_batch(list(frames), spec, input_spec))


def scores_of(outputs: Outputs, name: str) -> npt.NDArray[np.float64]:
    return np.asarray(outputs[name], dtype=np.float64).reshape(len(outputs[name]), -1)[:, 0]


__all__ = ["Batch", "RunNamed", "batches", "hashes_of", "list_images", "scores_of", "usage_errors"]
