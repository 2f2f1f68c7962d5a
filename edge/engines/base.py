"""The engine interface: one model, one backend, a checked ``infer``.

The base class checks shapes and dtypes against the manifest once, then calls the
backend's small hook; backends never repeat those checks.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Manifest, Precision, ToleranceKey
from lepton.edge.config.models import TensorRtConfig
from lepton.edge.errors import EngineError

Outputs = dict[str, npt.NDArray[np.float32]]

SkipReason = Literal["not installed", "no GPU", "build failed", "smoke test failed", "quarantined"]
"""Why a backend did not run, in the words the log, check-config and the status payload use."""


class EngineSkippedError(EngineError):
    """A backend that cannot run here, with the reason in one of ``SkipReason``'s words."""

    def __init__(self, backend: str, reason: SkipReason, detail: str) -> None:
        super().__init__(f"{backend}: {reason}: {detail}")
        self.backend = backend
        self.reason: SkipReason = reason
        self.detail = detail


@dataclass(frozen=True)
class EngineContext:
    """What a backend that builds engines needs besides the model: given by the composition root."""

    bundle_dir: Path
    state_dir: Path | None = None
    """Where built engines are cached (``<state_dir>/engines``); None: build in memory, keep nothing."""
    tensorrt: TensorRtConfig = field(default_factory=TensorRtConfig)


class Engine(abc.ABC):
    """Runs one ONNX model. Constructors are cheap; ``open`` loads it onto the device."""

    backend: str = "abstract"

    def __init__(
        self,
        model_path: Path,
        manifest: Manifest,
        precision: Precision,
        threads: int,
        context: EngineContext | None = None,
    ) -> None:
        self.model_path = model_path
        self.manifest = manifest
        self.precision = precision
        self.threads = threads
        self.context = context or EngineContext(model_path.parent)
        self._opened = False

    @classmethod
    def probe(cls) -> EngineSkippedError | None:
        """Why this backend cannot run on this box at all (not installed, no GPU), or None.

        Cheap: loads no model, so the selection and check-config can list every skip.
        """
        return None

    def arithmetic(self) -> ToleranceKey:
        """The precision the engine computes in, which picks the golden tolerance.

        The model file's precision unless the backend lowers it (TensorRT builds FP16 from FP32).
        """
        return self.precision

    def quarantine(self, reason: str) -> None:
        """The engine failed its golden test: set aside what it built so it is not loaded again."""
        return None

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


__all__ = ["Engine", "EngineContext", "EngineSkippedError", "Outputs", "SkipReason"]
