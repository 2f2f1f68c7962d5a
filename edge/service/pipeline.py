"""Captured frames → engine → decode → event logic → outbox, on one inference thread.

Capture runs in each camera's own thread (``capture.py``); this loop takes the frames
waiting in every camera's queue, preprocesses those that arrived raw, runs the model once
on them as one batch (at most ``batch_max``: see ``engines/batch_size.py``), and commits
events frame by frame. Only frames already waiting are batched: a lone frame is never held
back for company. An event exists once ``commit`` returned: only then is the frame's work
done.

Where the engine runs several requests at once (``engine.requests``, measured at start:
``engines/parallel_requests.py``), up to that many batches are in flight: the next is
submitted while earlier ones compute, and their results are handled strictly in the order
they were submitted, so each camera's frames reach its tracker in sequence. A camera's end
or pause waits until every batch before it is handled.

A ``new`` event's snapshot is rendered ahead, from the frame before the confirming one,
on the snapshot store's thread (``SnapshotStore.render_ahead``): by the time the defect
is confirmed its picture is usually ready, and the event waits only for the write.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.decoders.registry import Decoder
from lepton.edge.engines.base import Engine, Outputs
from lepton.edge.errors import LeptonError
from lepton.edge.events.builder import EventBuilder
from lepton.edge.events.snapshots import RenderedSnapshot, SnapshotStore, draw_heatmap
from lepton.edge.events.tracker import EventDraft, FrameObservation
from lepton.edge.events.tracking import Tracker
from lepton.edge.outbox.delivery_clock import DeliveryClock
from lepton.edge.outbox.store import Outbox, OutboxFullError
from lepton.edge.service.capture import Captured, CaptureWorker, EndOfStream, Paused, Prepare
from lepton.edge.sources.base import Frame

log = logging.getLogger(__name__)

STAGES = ("preprocess", "infer", "decode", "commit")


@dataclass
class PipelineStats:
    """Counters the stats topic reports; reset by ``take``."""

    frames: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stage_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    batches: int = 0
    """Engine calls: frames / batches is the mean batch size."""
    events: int = 0
    refused: int = 0
    last_progress_mono: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _InFlight:
    """A batch submitted to the engine, waiting for its outputs."""

    batch: list[Captured]
    outputs: Future[Outputs]
    began: float
    """perf_counter when its preprocessing began."""
    submitted: float
    """perf_counter when it went to the engine."""
    submitted_mono: float
    preprocess_s: float


@dataclass(frozen=True)
class PipelineParts:
    manifest: Manifest
    engine: Engine
    decoder: Decoder
    builder: EventBuilder
    outbox: Outbox
    snapshots: SnapshotStore | None
    prepare: Prepare
    """The bundle's preprocessing, for frames the capture thread handed over raw."""
    batch_max: int
    """Most frames per engine call: the bundle's limit, or less where larger batches cost more."""
    delivery_clock: DeliveryClock = field(default_factory=DeliveryClock)
    """Started here when an event is committed, stopped by the sender on its PUBACK."""
    observe_stage: Callable[[str, float], None] | None = None
    """Called with each stage's time per frame (s) after every batch: the metrics' histograms."""


class Pipeline:
    def __init__(
        self,
        parts: PipelineParts,
        workers: list[CaptureWorker],
        trackers: dict[str, Tracker],
        frames_ready: threading.Event,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._p = parts
        self._workers = {w.source.camera: w for w in workers}
        self._trackers = trackers
        self._frames_ready = frames_ready
        self._max_batch = parts.batch_max
        self._first = 0
        self._on_commit = on_commit
        self._ended: set[str] = set()
        self._last: dict[str, Frame] = {}
        self._ahead: dict[str, tuple[str, Future[RenderedSnapshot]]] = {}
        """Per camera: the event id a snapshot is being rendered for, ahead of its confirmation."""
        self.stats = PipelineStats()
        self.frames_total: dict[str, int] = dict.fromkeys(self._workers, 0)
        """Frames inferred since start, per camera (the metrics' counter; stats reset per period)."""
        self.events_total = 0
        self.last_infer_mono = time.monotonic()
        """When the engine last returned (monotonic s), for the watchdog."""
        self.last_step_mono = time.monotonic()
        """When the inference loop last turned (monotonic s), for the watchdog."""
        self.infer_started_mono: float | None = None
        """When the oldest engine call in flight began; None when none is."""
        self._in_flight: deque[_InFlight] = deque()
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
        """Submit the frames waiting in the cameras' queues as one batch, and handle the oldest
        batch in flight once it is done, or once no more can be submitted; False when there
        was nothing to do (then it waits up to ``timeout_s`` for a frame or a batch done)."""
        requests = self._p.engine.requests
        room = len(self._in_flight) < requests
        batch, ends = self._take_waiting() if room else ([], [])
        if batch:
            self._submit(batch)
        finished = bool(self._in_flight) and (
            len(self._in_flight) >= requests or self._in_flight[0].outputs.done()
        )
        if ends:  # a camera's end or pause comes after its frames: handle every batch first
            self.drain()
        elif finished:  # waits for the oldest only when no more can be submitted
            self._finish(self._in_flight.popleft())
        for camera, end in ends:
            if isinstance(end, Paused):
                self._close_open_events(camera)
            else:
                self._end_camera(camera, end)
        did_work = bool(batch or ends or finished)
        if not did_work:  # woken by a frame, or by a batch in flight being done
            self._frames_ready.wait(timeout_s)
            self._frames_ready.clear()
        now = time.monotonic()
        self.last_step_mono = now
        with self._stats_lock:
            self.stats.last_progress_mono = now
        return did_work

    def drain(self) -> None:
        """Handle every batch in flight, oldest first."""
        while self._in_flight:
            self._finish(self._in_flight.popleft())

    def _take_waiting(self) -> tuple[list[Captured], list[tuple[str, EndOfStream | Paused]]]:
        """Up to ``batch_max`` waiting frames, cameras in turn from a rotating first one (fair)."""
        cameras = [c for c in self._workers if c not in self._ended]
        if not cameras:
            return [], []
        self._first = (self._first + 1) % len(cameras)
        batch: list[Captured] = []
        ends: list[tuple[str, EndOfStream | Paused]] = []
        for camera in cameras[self._first :] + cameras[: self._first]:
            worker = self._workers[camera]
            while len(batch) < self._max_batch:
                try:
                    item = worker.queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, (EndOfStream, Paused)):
                    ends.append((camera, item))  # after this camera's frames in the batch
                    break
                batch.append(item)
        return batch, ends

    def _submit(self, batch: list[Captured]) -> None:
        p = self._p
        t0 = time.perf_counter()
        tensors = [c.tensor if c.tensor is not None else p.prepare(c.frame) for c in batch]
        t1 = time.perf_counter()
        submitted_mono = time.monotonic()
        if not self._in_flight:
            self.infer_started_mono = submitted_mono
        outputs = p.engine.submit(tensors[0] if len(tensors) == 1 else np.concatenate(tensors))
        if not outputs.done():  # the loop may be waiting for it: wake it when it is
            outputs.add_done_callback(lambda _: self._frames_ready.set())
        preprocess_s = sum(c.preprocess_s for c in batch) + (t1 - t0)
        self._in_flight.append(_InFlight(batch, outputs, t0, t1, submitted_mono, preprocess_s))

    def _finish(self, flight: _InFlight) -> None:
        """The batch's outputs decoded, tracked and committed, frame by frame."""
        p, batch = self._p, flight.batch
        outputs = flight.outputs.result()
        self.last_infer_mono = time.monotonic()
        self.infer_started_mono = self._in_flight[0].submitted_mono if self._in_flight else None
        t2 = time.perf_counter()
        verdicts = p.decoder.decode(outputs, [c.frame.image.shape[:2] for c in batch])
        t3 = time.perf_counter()
        for captured, verdict in zip(batch, verdicts, strict=True):
            frame = captured.frame
            tracker = self._trackers[frame.camera]
            drafts = tracker.observe(FrameObservation(frame.seq, frame.captured_at_ms, verdict))
            if drafts:
                inference_ms = (captured.preprocess_s + t3 - flight.began) * 1000.0
                self._commit(frame.camera, drafts, frame.captured_mono_ns, inference_ms, frame)
            elif p.snapshots is not None and (upcoming := tracker.confirms_next()) is not None:
                event_id, finding = upcoming
                self._ahead[frame.camera] = (event_id, p.snapshots.render_ahead(frame.image, finding))
            self._last[frame.camera] = frame
        t4 = time.perf_counter()
        # with requests in flight side by side, "infer" is each batch's time from submit to
        # outputs, which overlaps the others'
        durations = (flight.preprocess_s, t2 - flight.submitted, t3 - t2, t4 - t3)
        with self._stats_lock:
            s = self.stats
            for captured in batch:
                s.frames[captured.frame.camera] += 1
                self.frames_total[captured.frame.camera] += 1
            s.batches += 1
            for stage, dt in zip(STAGES, durations, strict=True):
                s.stage_s[stage] += dt
        if p.observe_stage is not None:
            for stage, dt in zip(STAGES, durations, strict=True):
                p.observe_stage(stage, dt / len(batch))

    def _commit(
        self,
        camera: str,
        drafts: list[EventDraft],
        captured_mono_ns: int,
        inference_ms: float,
        frame: Frame | None = None,
    ) -> None:
        for draft in drafts:
            snapshot = self._snapshot(camera, draft, frame) if draft.type == "new" else None
            latency_ms = (time.monotonic_ns() - captured_mono_ns) / 1e6
            messages = self._p.builder.build(camera, draft, latency_ms, inference_ms, snapshot)
            start_clock = partial(self._p.delivery_clock.started, messages[0].key, captured_mono_ns)
            try:
                self._p.outbox.commit(messages, on_committed=start_clock)
            except OutboxFullError:
                # The alarm is raised by the outbox; the frame loop goes on so the line keeps being watched.
                with self._stats_lock:
                    self.stats.refused += 1
                continue
            with self._stats_lock:
                self.stats.events += 1
                self.events_total += 1
            log.info("camera %s: %s %s %s", camera, draft.type, draft.findings[0].label, draft.event_id)
        if drafts and self._on_commit is not None:
            self._on_commit()

    def _snapshot(self, camera: str, draft: EventDraft, frame: Frame | None) -> tuple[Path, str] | None:
        """The ``new`` event's snapshot: the one rendered ahead for it, else this frame's, now."""
        store = self._p.snapshots
        ahead = self._ahead.pop(camera, None)
        if store is None or frame is None:
            return None
        if ahead is not None and ahead[0] == draft.event_id:
            rendered = ahead[1].result()
            if rendered.label == draft.findings[0].label:  # the picture names what the event names
                return store.keep(draft.event_id, rendered)
        if draft.heat is not None:
            draw_heatmap(frame.image, draft.heat)
        return store.save(draft.event_id, frame.image, draft.findings[0])

    def _end_camera(self, camera: str, end: EndOfStream) -> None:
        self._ended.add(camera)
        if end.error is not None:
            self.source_errors.append(end.error)
        self._close_open_events(camera)

    def _close_open_events(self, camera: str) -> None:
        """The camera ended, froze or went blind: its open occurrence gets its ``end`` now."""
        self._ahead.pop(camera, None)
        last = self._last.get(camera)
        if last is not None:
            drafts = self._trackers[camera].flush(last.seq, last.captured_at_ms)
            self._commit(camera, drafts, time.monotonic_ns(), 0.0)

    def close_all(self) -> None:
        """Stopping: handle the batches in flight, then close every open occurrence so each
        ``new`` has its ``end``."""
        self.drain()
        for camera in list(self._workers):
            if camera not in self._ended:
                self._end_camera(camera, EndOfStream(camera))


__all__ = [
    "STAGES",
    "Pipeline",
    "PipelineParts",
    "PipelineStats",
]
