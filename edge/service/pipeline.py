"""Captured frames → engine → decode → event logic → outbox, on one inference thread.

Capture and preprocessing run in each camera's own thread (``capture.py``); this loop
takes prepared frames from every camera's queue, runs the model, and commits events. An
event exists once ``commit`` returned: only then is the frame's work done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.bundle.manifest import Manifest
from edge.decoders.classification import ClassificationDecoder
from edge.engines.base import Engine
from edge.errors import LeptonError
from edge.events.builder import EventBuilder
from edge.events.snapshots import SnapshotStore
from edge.events.tracker import DefectTracker, EventDraft, FrameObservation
from edge.outbox.delivery_clock import DeliveryClock
from edge.outbox.store import Outbox, OutboxFullError
from edge.service.capture import Captured, CaptureWorker, EndOfStream
from edge.sources.base import Frame

log = logging.getLogger(__name__)

STAGES = ("preprocess", "infer", "decode", "commit")


@dataclass
class PipelineStats:
    """Counters the stats topic reports; reset by ``take``."""

    frames: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stage_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    events: int = 0
    refused: int = 0
    last_progress_mono: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class PipelineParts:
    manifest: Manifest
    engine: Engine
    decoder: ClassificationDecoder
    builder: EventBuilder
    outbox: Outbox
    snapshots: SnapshotStore | None
    delivery_clock: DeliveryClock = field(default_factory=DeliveryClock)
    """Started here when an event is committed, stopped by the sender on its PUBACK."""


class Pipeline:
    def __init__(
        self,
        parts: PipelineParts,
        workers: list[CaptureWorker],
        trackers: dict[str, DefectTracker],
        frames_ready: threading.Event,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._p = parts
        self._workers = {w.source.camera: w for w in workers}
        self._trackers = trackers
        self._frames_ready = frames_ready
        self._on_commit = on_commit
        self._ended: set[str] = set()
        self._last: dict[str, Frame] = {}
        self.stats = PipelineStats()
        self.source_errors: list[LeptonError] = []
        self._stats_lock = threading.Lock()

    @property
    def finished(self) -> bool:
        return len(self._ended) == len(self._workers)

    def take_stats(self) -> PipelineStats:
        with self._stats_lock:
            stats, self.stats = self.stats, PipelineStats(last_progress_mono=self.stats.last_progress_mono)
        return stats

    def step(self, timeout_s: float = 0.2) -> bool:
        """Process at most one frame per camera; False when nothing was waiting."""
        did_work = False
        for camera, worker in self._workers.items():
            if camera in self._ended:
                continue
            try:
                item = worker.queue.get_nowait()
            except queue.Empty:
                continue
            did_work = True
            if isinstance(item, EndOfStream):
                self._end_camera(camera, item)
            else:
                self._process(item)
        if not did_work:
            self._frames_ready.wait(timeout_s)
            self._frames_ready.clear()
        with self._stats_lock:
            self.stats.last_progress_mono = time.monotonic()
        return did_work

    def _process(self, captured: Captured) -> None:
        p = self._p
        frame = captured.frame
        t1 = time.perf_counter()
        outputs = p.engine.infer(captured.tensor)
        t2 = time.perf_counter()
        verdict = p.decoder.decode(outputs)[0]
        t3 = time.perf_counter()
        drafts = self._trackers[frame.camera].observe(
            FrameObservation(frame.seq, frame.captured_at_ms, verdict)
        )
        inference_ms = (captured.preprocess_s + t3 - t1) * 1000.0
        self._commit(frame.camera, drafts, frame.captured_mono_ns, inference_ms, frame)
        t4 = time.perf_counter()
        self._last[frame.camera] = frame
        with self._stats_lock:
            s = self.stats
            s.frames[frame.camera] += 1
            durations = (captured.preprocess_s, t2 - t1, t3 - t2, t4 - t3)
            for stage, dt in zip(STAGES, durations, strict=True):
                s.stage_s[stage] += dt

    def _commit(
        self,
        camera: str,
        drafts: list[EventDraft],
        captured_mono_ns: int,
        inference_ms: float,
        frame: Frame | None = None,
    ) -> None:
        for draft in drafts:
            snapshot = None
            if draft.type == "new" and frame is not None and self._p.snapshots is not None:
                snapshot = self._p.snapshots.save(draft.event_id, frame.image, draft.findings[0])
            latency_ms = (time.monotonic_ns() - captured_mono_ns) / 1e6
            messages = self._p.builder.build(camera, draft, latency_ms, inference_ms, snapshot)
            try:
                self._p.outbox.commit(messages)
            except OutboxFullError:
                # The alarm is raised by the outbox; the frame loop goes on so the line keeps being watched.
                with self._stats_lock:
                    self.stats.refused += 1
                continue
            self._p.delivery_clock.started(messages[0].key, captured_mono_ns)
            with self._stats_lock:
                self.stats.events += 1
            log.info("camera %s: %s %s %s", camera, draft.type, draft.findings[0].label, draft.event_id)
        if drafts and self._on_commit is not None:
            self._on_commit()

    def _end_camera(self, camera: str, end: EndOfStream) -> None:
        self._ended.add(camera)
        if end.error is not None:
            self.source_errors.append(end.error)
        last = self._last.get(camera)
        if last is not None:
            drafts = self._trackers[camera].flush(last.seq, last.captured_at_ms)
            self._commit(camera, drafts, time.monotonic_ns(), 0.0)

    def close_all(self) -> None:
        """Stopping: close every open occurrence so each ``new`` has its ``end``."""
        for camera in list(self._workers):
            if camera not in self._ended:
                self._end_camera(camera, EndOfStream(camera))


__all__ = [
    "STAGES",
    "Pipeline",
    "PipelineParts",
    "PipelineStats",
]
