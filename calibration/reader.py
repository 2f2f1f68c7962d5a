"""ORT's ``CalibrationDataReader`` over tensors that ``lepton.edge.preprocess`` already produced.

The reader never preprocesses: the calibration set is built by ``preprocess_batch``, the
daemon's own function, once; the reader only slices it into calibration batches (whose
size is independent of the export batch, ultralytics#24470).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from lepton.edge.preprocess import Tensor


class TensorReader(CalibrationDataReader):  # type: ignore[misc]  # ORT ships no type stubs
    """Yields ``{input_name: batch}`` over ``tensor`` (n, 3, H, W), then ``None``."""

    def __init__(self, input_name: str, tensor: Tensor, batch: int, bar: Any = None) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self._input_name = input_name
        self._tensor = tensor
        self._batch = batch
        self._bar = bar
        self._position = 0

    def get_next(self) -> dict[str, Tensor] | None:
        if self._position >= len(self._tensor):
            return None
        chunk = self._tensor[self._position : self._position + self._batch]
        self._position += len(chunk)
        if self._bar is not None:
            self._bar.update(len(chunk))
        return {self._input_name: np.ascontiguousarray(chunk)}

    def rewind(self) -> None:
        self._position = 0

    def __len__(self) -> int:
        return -(-len(self._tensor) // self._batch)


__all__ = ["TensorReader"]
