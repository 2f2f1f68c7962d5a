"""The frame-source interface and the ``Frame`` that flows from capture to inference."""

from __future__ import annotations

import abc
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

SourceState = Literal["starting", "streaming", "reconnecting", "stalled", "ended"]


@dataclass(frozen=True)
class Frame:
    """One captured image and when it was taken; the image is BGR uint8 (OpenCV's order)."""

    camera: str
    seq: int
    captured_at_ms: int
    """Wall-clock capture time, Unix milliseconds (what events report)."""
    captured_mono_ns: int
    """Monotonic capture time, for latency measurements that survive clock steps."""
    image: npt.NDArray[np.uint8]
    """Owned by the pipeline once captured: a snapshot draws its finding on it, after inference."""


class FrameSource(abc.ABC):
    """A camera or a recording. Constructors are cheap; ``open`` takes the device.

    ``read`` returns the next frame, or None when a finite source has ended. A live
    source never returns None: it reconnects and reports its state instead.
    """

    live: bool = False
    """Live sources drop the oldest frame when inference lags; files wait for it."""

    @property
    def paced(self) -> bool:
        """Frames come at the source's own rate (a camera, a real-time replay), not as fast as they decode.

        The capture thread then waits for each frame, so it has time to preprocess it.
        """
        return True

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.state: SourceState = "starting"
        self._stop_requested = threading.Event()
        self._seq = 0

    def _stamp(self, image: npt.NDArray[Any]) -> Frame:
        """Wrap a just-captured image with the next frame number and the capture times."""
        frame = Frame(
            camera=self.camera,
            seq=self._seq,
            captured_at_ms=time.time_ns() // 1_000_000,
            captured_mono_ns=time.monotonic_ns(),
            image=np.asarray(image, dtype=np.uint8),
        )
        self._seq += 1
        return frame

    def request_stop(self) -> None:
        """Ask a blocked ``read`` to give up soon; safe from any thread (``close`` is not)."""
        self._stop_requested.set()

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> Frame | None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Frame", "FrameSource", "SourceState"]
