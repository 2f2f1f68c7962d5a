"""The frame-source interface and the ``Frame`` that flows from capture to inference."""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lepton.edge.errors import SourceError

SourceState = Literal[
    "connecting", "streaming", "reconnecting", "stalled", "frozen", "blind", "ended", "stopped"
]
"""What a camera is doing, as published on ``<prefix>/<camera>/status`` (see ``edge/README.md``)."""

FAULT_STATES: frozenset[SourceState] = frozenset({"reconnecting", "stalled", "frozen", "blind"})
"""States that raise the camera's alarm ``camera_<state>:<camera>``. Not ``connecting`` (start-up),
``stopped`` (a clean stop) nor ``ended``: only a recording ends, and that is its normal end (a
live camera whose stream ends is ``reconnecting``)."""


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


class SourceUnavailableError(SourceError):
    """A live source cannot be opened or read right now; the capture worker retries it.

    Raised by ``open`` and ``read`` of a live source (camera unplugged, stream server gone,
    read timed out); never reaches the CLI. The message leaves the camera out: it becomes
    the ``error`` of that camera's status, and its alarm and log line name the camera. A
    recording raises plain ``SourceError``: a file that cannot be decoded will not decode on
    the next try either.
    """


@dataclass(frozen=True)
class CallBounds:
    """How long a live source's ``open`` and ``read`` may block: its own timeouts.

    A call blocked well past its bound means the driver ignored the timeout (OpenCV cannot
    interrupt a blocked read): the capture thread is wedged and only a restart helps.
    """

    open_s: float
    read_s: float


class FrameSource(abc.ABC):
    """A camera or a recording. Constructors are cheap; ``open`` takes the device.

    ``read`` returns the next frame, or None when a finite source has ended. A live
    source (``live``) raises ``SourceUnavailableError`` from ``open`` or ``read`` instead;
    the capture worker reports the state, backs off and calls ``open`` again, in its
    own thread, so one dead camera delays neither the others nor start-up.
    """

    live: bool = False
    """Live sources drop the oldest frame when inference lags, reconnect, and are watched
    for stalls, frozen and blind pictures; files wait for inference and end."""

    bounds: CallBounds | None = None
    """Set by sources whose calls can block on a device or network (live cameras)."""

    @property
    def paced(self) -> bool:
        """Frames come at the source's own rate (a camera, a real-time replay), not as fast as they decode.

        The capture thread then waits for each frame, so it has time to preprocess it.
        """
        return True

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self._seq = 0

    def _stamp(self, image: npt.NDArray[Any], at_ms: int | None = None, mono_ns: int | None = None) -> Frame:
        """Wrap a captured image with the next frame number and its capture times (default: now).

        A capture process passes the times it took the frame at: ``CLOCK_MONOTONIC`` is one
        clock for every process on the box.
        """
        frame = Frame(
            camera=self.camera,
            seq=self._seq,
            captured_at_ms=time.time_ns() // 1_000_000 if at_ms is None else at_ms,
            captured_mono_ns=time.monotonic_ns() if mono_ns is None else mono_ns,
            image=np.asarray(image, dtype=np.uint8),
        )
        self._seq += 1
        return frame

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> Frame | None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def interrupt(self) -> None:
        """From another thread, on a stop: make a blocked ``open`` or ``read`` return now, if the
        source can (a capture process can be killed; a call inside OpenCV cannot be interrupted)."""
        return None

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["FAULT_STATES", "CallBounds", "Frame", "FrameSource", "SourceState", "SourceUnavailableError"]
