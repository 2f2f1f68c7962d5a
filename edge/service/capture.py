"""One capture thread per camera: read, preprocess when that helps, and feed a bounded queue.

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
shows now); files wait, so a replay infers every frame.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lepton.edge.errors import LeptonError
from lepton.edge.preprocess import Tensor
from lepton.edge.sources.base import Frame, FrameSource, SourceState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Captured:
    """A frame and, when the capture thread prepared it, its model input."""

    frame: Frame
    tensor: Tensor | None
    """None: capture is the slower side, so the inference thread preprocesses it."""
    preprocess_s: float


@dataclass(frozen=True)
class EndOfStream:
    camera: str
    error: LeptonError | None = None


QueueItem = Captured | EndOfStream
Prepare = Callable[[Frame], Tensor]


class CaptureWorker:
    def __init__(
        self,
        source: FrameSource,
        prepare: Prepare,
        on_state: Callable[[str, SourceState], None],
        ready: threading.Event,
        queue_frames: int = 4,
    ) -> None:
        self.source = source
        self._prepare = prepare
        self.queue: queue.Queue[QueueItem] = queue.Queue(maxsize=queue_frames)
        self.dropped = 0
        self._on_state = on_state
        self._ready = ready
        self._stop = threading.Event()
        self._state: SourceState | None = None
        self._thread = threading.Thread(target=self._run, name=f"capture-{source.camera}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.source.request_stop()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)

    def _report_state(self) -> None:
        if self.source.state != self._state:
            self._state = self.source.state
            self._on_state(self.source.camera, self.source.state)

    def _put(self, item: QueueItem) -> None:
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

    def _run(self) -> None:
        error: LeptonError | None = None
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                self._report_state()
                if frame is None:
                    break
                if not self.source.paced and self.queue.empty():
                    self._put(Captured(frame, None, 0.0))
                    continue
                started = time.perf_counter()
                tensor = self._prepare(frame)
                self._put(Captured(frame, tensor, time.perf_counter() - started))
        except LeptonError as err:
            log.error("camera %s: %s", self.source.camera, err)
            error = err
        finally:
            self.source.close()
            self._report_state()
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


__all__ = ["CaptureWorker", "Captured", "EndOfStream", "Prepare", "QueueItem"]
