"""One capture thread per camera: connect, read, watch the picture, preprocess, feed a bounded queue.

The thread owns its camera's state and reports every transition the moment it happens
(``on_state``): ``connecting`` at start, ``reconnecting`` with the error and the time of
the next try, ``streaming`` on the first frame, ``frozen``/``blind`` from the picture
checks, ``ended`` when a recording is over, ``stopped`` on a clean stop. ``stalled`` (no
frame for ``stall_after_s`` while a read still waits) cannot come from this thread, which
is blocked in that read: the watchdog thread calls ``check_stall``. Live cameras connect
here too, never before READY, so a dead camera delays neither start-up nor the others.

Every open and read of a live camera is timed against the camera's own timeout
(``wedged``): OpenCV cannot interrupt a blocked read, so a call far past its timeout
means a driver that will never return, and the watchdog restarts the daemon. A network
camera is read through a capture process of its own (``sources/camera_process.py``), whose
calls return within their bounds and kill a hung process instead; ``stop`` interrupts such
a call, so a camera blocked in a long open does not hold up a clean stop.

Preprocessing goes to whichever side has time. A camera (or a real-time replay) makes the
capture thread wait for each frame, so it preprocesses the frame it just decoded, while it
is still in this core's cache: that is the lowest frame-to-event latency. So does a file
replayed as fast as it decodes while frames wait in the queue (inference is the slower
side): resizing overlaps inference (OpenCV and ONNX Runtime both release the GIL). Only
when such a file finds the queue empty is capture the slower side: the frame goes over raw,
the inference thread preprocesses it, and this thread reads the next frame sooner. On 2
cores with the 0.3 ms INT8 model that gave 1.22x the frames per second of always
preprocessing here (``benchmarks/README.md``).

Live cameras drop the oldest frame when inference lags (the newest frame is what the line
shows now); files wait, so a replay infers every frame. Frozen and blind frames are not
inferred: the queue gets one ``Paused`` marker instead, so the pipeline closes the
camera's open events.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lepton.edge.backoff import Backoff
from lepton.edge.errors import LeptonError
from lepton.edge.preprocess import Tensor
from lepton.edge.sources.base import Frame, FrameSource, SourceState, SourceUnavailableError
from lepton.edge.sources.configs import CameraSourceConfig
from lepton.edge.sources.picture_checks import PictureChecks

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Captured:
    """A frame and, when the capture thread prepared it, its model input."""

    frame: Frame
    tensor: Tensor | None
    """None: capture is the slower side, so the inference thread preprocesses it."""
    preprocess_s: float


@dataclass(frozen=True)
class Paused:
    """The camera's picture stopped showing the line (frozen, blind): close its open events."""

    camera: str
    state: SourceState


@dataclass(frozen=True)
class EndOfStream:
    camera: str
    error: LeptonError | None = None


@dataclass(frozen=True)
class CameraState:
    """One state transition of a camera, as its status topic and alarm report it."""

    camera: str
    state: SourceState
    since_ms: int
    """When this state began, Unix ms."""
    error: str | None = None
    """What went wrong (reconnecting, stalled, frozen, blind), with the evidence."""
    next_try_ms: int | None = None
    """Reconnecting: when the next open starts, Unix ms."""


@dataclass(frozen=True)
class _Call:
    what: str
    started_mono: float
    bound_s: float


QueueItem = Captured | Paused | EndOfStream
Prepare = Callable[[Frame], Tensor]

_WATCHED: frozenset[SourceState] = frozenset({"streaming", "frozen", "blind"})
"""States in which frames are expected, so a silence is a stall."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CaptureWorker:
    def __init__(
        self,
        source: FrameSource,
        prepare: Prepare,
        on_state: Callable[[CameraState], None],
        ready: threading.Event,
        queue_frames: int = 4,
        camera: CameraSourceConfig | None = None,
        open_queue_s: float = 0.0,
    ) -> None:
        """``camera``: a live camera's settings (back-off, stall, picture checks); None for recordings.

        ``open_queue_s``: how long an open may wait for the other cameras' opens before its own
        starts. OpenCV's FFmpeg backend opens one capture at a time, process-wide (a mutex in
        ``CvCapture_FFMPEG::open``), so an open waits up to the others' open timeouts: that wait
        is not a wedged driver.
        """
        self.source = source
        self._prepare = prepare
        self.queue: queue.Queue[QueueItem] = queue.Queue(maxsize=queue_frames)
        self.dropped = 0
        self._on_state = on_state
        self._ready = ready
        self._camera = camera
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self.state: SourceState = "connecting" if source.live else "streaming"
        self.last_frame_mono: float | None = None
        """When the source last delivered a frame (monotonic s); None before the first."""
        self.last_put_mono: float | None = None
        """When a frame was last handed to the inference queue (monotonic s)."""
        self._call: _Call | None = None
        self._open_queue_s = open_queue_s
        self._checks = PictureChecks(camera) if camera is not None else None
        self._backoff = (
            Backoff(camera.reconnect_min_s, camera.reconnect_max_s) if camera is not None else None
        )
        self._thread = threading.Thread(target=self._run, name=f"capture-{source.camera}", daemon=True)

    # --- lifecycle: main thread -------------------------------------------------------
    def start(self) -> None:
        self._on_state(CameraState(self.source.camera, self.state, _now_ms()))
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish, and report ``stopped`` now: even a wedged camera's
        retained ``streaming`` must not outlive a clean stop."""
        self._stop.set()
        with self._lock:
            if self.state != "ended" and not self._stopped:
                self.state = "stopped"
                self._on_state(CameraState(self.source.camera, "stopped", _now_ms()))
            self._stopped = True
        self.source.interrupt()  # after "stopped": what the interrupted call raises is not reported

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- checks: the watchdog thread ---------------------------------------------------
    def check_stall(self, now_mono: float) -> None:
        """Report ``stalled`` when a watched camera has sent nothing for ``stall_after_s``."""
        if self._camera is None:
            return
        last = self.last_frame_mono
        if self.state not in _WATCHED or last is None:
            return
        silent_s = now_mono - last
        if silent_s >= self._camera.stall_after_s:
            self._set_state(
                "stalled",
                error=f"no frame for {silent_s:.1f} s (stall_after_s {self._camera.stall_after_s:g}); "
                f"the read gives up after read_timeout_s {self._camera.read_timeout_s:g}",
                only_from=_WATCHED,
            )

    def wedged(self, now_mono: float, grace_s: float) -> str | None:
        """Why this camera's thread is stuck in a call past its timeout plus ``grace_s``; None if not."""
        call = self._call
        if call is None or now_mono - call.started_mono <= call.bound_s + grace_s:
            return None
        return (
            f"camera {self.source.camera}: {call.what} blocked for {now_mono - call.started_mono:.0f} s, "
            f"past the {call.bound_s:g} s its timeouts allow and service.capture_grace_s ({grace_s:g} s); "
            "the driver ignored the timeout and cannot be interrupted"
        )

    # --- the capture thread ------------------------------------------------------------
    def _set_state(
        self,
        state: SourceState,
        error: str | None = None,
        next_try_s: float | None = None,
        only_from: frozenset[SourceState] | None = None,
    ) -> bool:
        """Record and report a transition; True when it was one (or a new reconnect try)."""
        with self._lock:
            if self._stopped or (only_from is not None and self.state not in only_from):
                return False
            if state == self.state and state != "reconnecting":
                return False
            self.state = state
            now_ms = _now_ms()
            next_try_ms = None if next_try_s is None else now_ms + round(next_try_s * 1000)
            self._on_state(CameraState(self.source.camera, state, now_ms, error, next_try_ms))
            return True

    def _bounded(self, what: str, bound_s: float, call: Callable[[], T]) -> T:
        self._call = _Call(what, time.monotonic(), bound_s)
        try:
            return call()
        finally:
            self._call = None

    def _put(self, item: QueueItem) -> None:
        if isinstance(item, Captured):
            self.last_put_mono = time.monotonic()
        if self.source.live and isinstance(item, Captured):
            while True:
                try:
                    self.queue.put_nowait(item)
                    break
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
        else:
            while not self._stop.is_set():
                try:
                    self.queue.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
        self._ready.set()

    def _deliver(self, frame: Frame) -> None:
        if not self.source.paced and self.queue.empty():
            self._put(Captured(frame, None, 0.0))
            return
        started = time.perf_counter()
        tensor = self._prepare(frame)
        self._put(Captured(frame, tensor, time.perf_counter() - started))

    def _run(self) -> None:
        error: LeptonError | None = None
        try:
            if self.source.live:
                self._run_live()
            else:
                self._run_recording()
        except LeptonError as err:
            log.error("camera %s: %s", self.source.camera, err)
            error = err
        finally:
            self.source.close()
        if not self._stop.is_set():
            self._set_state("ended", error=None if error is None else str(error))
        # The end marker must arrive even when stopping, so the pipeline can close events.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                self.queue.put(EndOfStream(self.source.camera, error), timeout=0.2)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()
        self._ready.set()

    def _run_recording(self) -> None:
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                return
            self.last_frame_mono = time.monotonic()
            self._deliver(frame)

    def _run_live(self) -> None:
        assert self._camera is not None and self._checks is not None and self._backoff is not None
        bounds = self.source.bounds
        assert bounds is not None, "a live source declares its call bounds"
        while not self._stop.is_set():
            try:
                self._bounded("open", bounds.open_s + self._open_queue_s, self.source.open)
            except SourceUnavailableError as err:
                self._wait_to_retry(err)
                continue
            self._checks.reset()
            self._stream(bounds.read_s)

    def _stream(self, read_bound_s: float) -> None:
        """Read until the stream fails (then wait to reconnect) or the worker stops."""
        assert self._checks is not None and self._backoff is not None
        while not self._stop.is_set():
            try:
                frame = self._bounded("read", read_bound_s, self.source.read)
            except SourceUnavailableError as err:
                self.source.close()
                self._wait_to_retry(err)
                return
            if frame is None:  # a live source does not end; treat it as a lost stream
                self.source.close()
                self._wait_to_retry(SourceUnavailableError("stream ended"))
                return
            self.last_frame_mono = time.monotonic()
            self._backoff.reset()
            report = self._checks.observe(frame.image, frame.captured_mono_ns)
            if report.verdict != "streaming":
                if self._set_state(report.verdict, error=report.detail):
                    self._put(Paused(self.source.camera, report.verdict))
                continue
            self._set_state("streaming")
            self._deliver(frame)

    def _wait_to_retry(self, err: SourceUnavailableError) -> None:
        assert self._backoff is not None
        delay_s = self._backoff.next_delay_s()
        self._set_state("reconnecting", error=str(err), next_try_s=delay_s)
        self._stop.wait(delay_s)


__all__ = ["CameraState", "CaptureWorker", "Captured", "EndOfStream", "Paused", "Prepare", "QueueItem"]
