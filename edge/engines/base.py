"""The engine interface: one model, one backend, a checked ``infer``.

The base class checks shapes and dtypes against the manifest once, then calls the
backend's small hook; backends never repeat those checks.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Manifest, Precision
from lepton.edge.config.models import TensorRtConfig
from lepton.edge.errors import EngineError

Outputs = dict[str, npt.NDArray[np.float32]]
Compute = Literal["fp32", "bf16", "fp16", "int8"]
"""The arithmetic an engine runs in: its file's precision, or a cheaper float (bf16, fp16) that a
backend computes an FP32 file in. The smoke test's tolerance and ``engine.precision`` use it."""


def usable_cores() -> int:
    """CPUs this process may run on (its affinity, as systemd's CPUAffinity= or taskset sets it)."""
    return len(os.sched_getaffinity(0))


class Engine(abc.ABC):
    """Runs one ONNX model. Constructors are cheap; ``open`` loads it onto the device."""

    backend: str = "abstract"
    concurrent_calls: bool = False
    """Whether several ``_run`` calls may run at once, each on its own thread with its share of
    the cores (``requests`` > 1): on 2 CPU cores two single-threaded YOLOv8n requests made
    1.2x the frames of one request on both cores (ORT and OpenVINO alike, AMD EPYC AVX2)."""

    def __init__(
        self,
        model_path: Path,
        manifest: Manifest,
        precision: Precision,
        threads: int,
        *,
        compute: Compute | None = None,
        cache_dir: Path | None = None,
        tensorrt: TensorRtConfig | None = None,
        requests: int = 1,
    ) -> None:
        self.model_path = model_path
        self.manifest = manifest
        self.precision = precision
        self.threads = threads
        self.compute: Compute = compute or precision
        self.cache_dir = cache_dir
        """Where a backend may keep what it compiled (the state dir's); None: compile every start."""
        self.tensorrt = tensorrt or TensorRtConfig()
        """How backends that build TensorRT engines build them (``engine.tensorrt``)."""
        if requests > 1 and not self.concurrent_calls:
            raise EngineError(f"{self.backend}: runs one request at a time, not {requests}")
        self.requests = requests
        """Calls that may run at once through ``submit`` (each with its share of ``threads``)."""
        self._pool: ThreadPoolExecutor | None = None
        self._opened = False

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this box cannot run the backend at all (runtime not installed, no GPU), else None.

        Cheap and model-free: the engine choice skips the backend with this reason.
        """
        return None

    @classmethod
    def computes(cls, precision: Precision) -> tuple[Compute, ...]:
        """The arithmetic this backend offers on this box for a file of ``precision``."""
        return (precision,)

    @property
    def tolerance_keys(self) -> tuple[str, ...]:
        """The golden tolerances that apply (the loosest wins): an INT8 file run with bf16
        float parts needs both INT8's and bf16's."""
        return tuple(dict.fromkeys((self.precision, self.compute)))

    @property
    def label(self) -> str:
        """``backend compute`` as logs and the status payload name a candidate (``x2``: two requests)."""
        label = f"{self.backend} {self.compute}"
        return label if self.requests == 1 else f"{label} x{self.requests}"

    @property
    def request_threads(self) -> int:
        """Threads of one request: ``threads`` (0: every usable core) shared out among the
        requests, at least one each; with one request, ``threads`` itself (0: the runtime's choice)."""
        if self.requests == 1:
            return self.threads
        return max(1, (self.threads or usable_cores()) // self.requests)

    def open(self) -> None:
        self._open()
        if self.requests > 1:
            self._pool = ThreadPoolExecutor(self.requests, thread_name_prefix=f"{self.backend}-request")
        self._opened = True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._opened:
            self._close()
            self._opened = False

    def infer(self, batch: npt.NDArray[np.float32]) -> Outputs:
        """Run a preprocessed NCHW float32 batch; returns one array per manifest output."""
        self._check(batch)
        return self._run(batch)

    def submit(self, batch: npt.NDArray[np.float32]) -> Future[Outputs]:
        """Start ``batch``; its outputs come through the future. With ``requests`` > 1 the call
        runs on one of that many threads, beside the others in flight (the runtimes release the
        GIL while they compute); with one request it runs here, and the future is already done."""
        self._check(batch)
        if self._pool is not None:
            return self._pool.submit(self._run, batch)
        done: Future[Outputs] = Future()
        try:
            done.set_result(self._run(batch))
        except Exception as err:
            done.set_exception(err)
        return done

    def infer_many(self, batches: Iterable[npt.NDArray[np.float32]]) -> Iterator[Outputs]:
        """Outputs of each batch, in order, ``requests`` batches in flight. A backend with
        asynchronous requests may keep more in flight (the next runs while the caller handles
        this one's outputs)."""
        in_flight: list[Future[Outputs]] = []
        for batch in batches:
            in_flight.append(self.submit(batch))
            if len(in_flight) >= self.requests:
                yield in_flight.pop(0).result()
        for future in in_flight:
            yield future.result()

    def _check(self, batch: npt.NDArray[np.float32]) -> None:
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

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _run(self, batch: npt.NDArray[np.float32]) -> Outputs: ...

    def _close(self) -> None:
        return None

    def quarantine(self, reason: str) -> None:
        """It failed its golden test: set aside what it built so that it is not loaded again."""
        return None


SkipReason = Literal["not installed", "no GPU", "build failed", "smoke test failed", "quarantined"]
"""Why a backend did not run, in the words the log, check-config and the status payload use."""


class EngineSkippedError(EngineError):
    """A backend that cannot run the model here, with the reason in one of ``SkipReason``'s words."""

    def __init__(self, backend: str, reason: SkipReason, detail: str) -> None:
        super().__init__(f"{backend}: {reason}: {detail}")
        self.backend = backend
        self.reason: SkipReason = reason
        self.detail = detail


__all__ = [
    "Compute",
    "Engine",
    "EngineSkippedError",
    "Outputs",
    "SkipReason",
    "usable_cores",
]
