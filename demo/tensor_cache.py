"""The training tensor cache: every image of a split decoded and preprocessed once.

Preprocessing is ``lepton.edge.preprocess.preprocess_batch`` with ``demo.labels.PREPROCESS``, the
function and spec the daemon and the exporter use, so training sees exactly the tensors
the engine will. Each image's bytes are checked against the index on the way in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch

from demo.dataset import DatasetItem
from demo.errors import DemoBuildError
from demo.labels import FRAME_HEIGHT_PX, FRAME_WIDTH_PX, INPUT, PREPROCESS, label_index
from lepton.edge.bundle.manifest import InputSpec
from lepton.edge.preprocess import letterbox_geometry, preprocess_batch

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in model-input pixels, x1/y1 exclusive."""

_CHUNK = 64
_FIX = "regenerate the data set with `python -m demo build --force`"


@dataclass(frozen=True)
class TensorSplit:
    """One split in memory: preprocessed images, class indices, and where things are."""

    images: torch.Tensor  # (N, 3, H, W) float32
    targets: torch.Tensor  # (N,) int64, index into demo.labels.LABELS
    boxes: tuple[Box | None, ...]  # the labelled defect, input pixels
    part_boxes: tuple[Box | None, ...]  # the plate, input pixels
    items: tuple[DatasetItem, ...]


def input_box(box: tuple[int, int, int, int] | None, spec: InputSpec = INPUT) -> Box | None:
    """A frame-pixel box in model-input pixels, through the same letterbox as preprocessing."""
    if box is None:
        return None
    frame_hw, input_hw = (FRAME_HEIGHT_PX, FRAME_WIDTH_PX), (spec.height, spec.width)
    rh, _rw, top, left = letterbox_geometry(frame_hw, input_hw)
    k = rh / FRAME_HEIGHT_PX
    x0, y0, x1, y1 = box
    return (x0 * k + left, y0 * k + top, x1 * k + left, y1 * k + top)


def _decode(data_dir: Path, item: DatasetItem) -> npt.NDArray[np.uint8]:
    try:
        raw = (data_dir / item.file).read_bytes()
    except FileNotFoundError:
        raise DemoBuildError(
            f"data set {data_dir}: {item.file} is listed in index.json but missing; {_FIX}"
        ) from None
    got = hashlib.sha256(raw).hexdigest()
    if got != item.sha256:
        raise DemoBuildError(
            f"data set {data_dir}: {item.file} has sha256 {got[:12]}…, index.json says "
            f"{item.sha256[:12]}…; {_FIX}"
        )
    frame = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise DemoBuildError(f"data set {data_dir}: {item.file} is not a decodable JPEG; {_FIX}")
    return np.asarray(frame, dtype=np.uint8)


def load_split(
    data_dir: Path,
    items: Sequence[DatasetItem],
    threads: int,
    spec: InputSpec = INPUT,
    dtype: type[np.floating[Any]] = np.float32,
) -> TensorSplit:
    """Decode and preprocess ``items``, ``threads`` chunks at a time (OpenCV releases the GIL).

    ``spec`` is the model input (the classifier's by default, the detector's larger one);
    ``dtype`` float16 halves the cache of the detector's 320x240 inputs, exactly enough: a
    pixel step is 1/64 after normalisation, float16 resolves 1/512 at the largest values.
    """
    out = np.empty((len(items), 3, spec.height, spec.width), dtype=dtype)

    def work(start: int) -> None:
        chunk = items[start : start + _CHUNK]
        frames = [_decode(data_dir, item) for item in chunk]
        out[start : start + len(chunk)] = preprocess_batch(frames, PREPROCESS, spec)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(work, range(0, len(items), _CHUNK)))
    return TensorSplit(
        images=torch.from_numpy(out),
        targets=torch.tensor([label_index(item.label) for item in items], dtype=torch.int64),
        boxes=tuple(input_box(item.box, spec) for item in items),
        part_boxes=tuple(input_box(item.part_box, spec) for item in items),
        items=tuple(items),
    )


__all__ = ["Box", "TensorSplit", "input_box", "load_split"]
