"""The engine interface: one model, one backend, a checked ``infer``.

The base class checks shapes and dtypes against the manifest once, then calls the
backend's small hook; backends never repeat those checks.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Manifest, Precision
from lepton.edge.errors import EngineError

Outputs = dict[str, npt.NDArray[np.float32]]


class Engine(abc.ABC):
    """Runs one ONNX model. Constructors are cheap; ``open`` loads it onto the device."""

    backend: str = "abstract"

    def __init__(self, model_path: Path, manifest: Manifest, precision: Precision, threads: int) -> None:
        self.model_path = model_path
        self.manifest = manifest
        self.precision = precision
        self.threads = threads
        self._opened = False

    def open(self) -> None:
        self._open()
        self._opened = True

    def close(self) -> None:
        if self._opened:
            self._close()
            self._opened = False

    def infer(self, batch: npt.NDArray[np.float32]) -> Outputs:
        """Run a preprocessed NCHW float32 batch; returns one array per manifest output."""
        if not self._opened:
            raise EngineError(f"{self.backend}: infer() before open()")
        spec = self.manifest.input
        expected = (spec.channels, spec.height, spec.width)
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1:] != expected:
            raise EngineError(
                f"{self.backend}: input {spec.name} must be float32 (N, {', '.join(map(str, expected))}), "
                f"got {batch.dtype} {batch.shape}"
            )
        if not spec.batch_min <= batch.shape[0] <= spec.batch_max:
            raise EngineError(
                f"{self.backend}: batch {batch.shape[0]} outside the bundle's range "
                f"[{spec.batch_min}, {spec.batch_max}]"
            )
        return self._run(batch)

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _run(self, batch: npt.NDArray[np.float32]) -> Outputs: ...

    def _close(self) -> None:
        return None


__all__ = ["Engine", "Outputs"]
