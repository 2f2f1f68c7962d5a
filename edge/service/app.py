"""The composition root of lepton-edge: the start-up sequence, and the only place that wires parts.

Order matters: bundle verified → engine loaded and smoke-tested → outbox open (integrity
checked) → broker link started in the background → sources opened → READY=1. The broker
is never waited for: events are committed to the outbox and delivered when it is reachable.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from lepton.edge import exitcodes
from lepton.edge.alarms import Alarms
from lepton.edge.bundle.manifest import Manifest, verify_bundle
from lepton.edge.config.models import LeptonConfig
from lepton.edge.decoders.registry import create_decoder
from lepton.edge.engines.base import Engine
from lepton.edge.engines.batch_size import choose_batch_max
from lepton.edge.engines.engine_cache import ALARM_QUARANTINED, quarantine_alarm
from lepton.edge.engines.select import open_engine
from lepton.edge.events.builder import EventBuilder
from lepton.edge.events.ids import read_boot_id
from lepton.edge.events.schema import ModelRef
from lepton.edge.events.snapshots import SnapshotStore
from lepton.edge.events.tracker import DefectTracker
from lepton.edge.mqtt.link import MqttLink
from lepton.edge.mqtt.sender import OutboxSender
from lepton.edge.mqtt.status import CameraStatus, DeviceState, DeviceStatus, LatencyStats, Stats
from lepton.edge.mqtt.topics import Topics, default_prefix
from lepton.edge.outbox.delivery_clock import DeliveryClock, LatencySummary
from lepton.edge.outbox.store import Outbox
from lepton.edge.preprocess import Tensor, preprocess
from lepton.edge.service.capture import CaptureWorker, Prepare
from lepton.edge.service.malloc_tuning import keep_freed_frames
from lepton.edge.service.pipeline import STAGES, Pipeline, PipelineParts
from lepton.edge.service.sd_notify import notify, watchdog_interval_s
from lepton.edge.sources.base import Frame, SourceState
from lepton.edge.sources.registry import create_source
from lepton.edge.version import __version__

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.db"
SNAPSHOT_DIR = "snapshots"


@dataclass(frozen=True)
class Served:
    """What this daemon serves: reported in status and in every event."""

    manifest: Manifest
    engine: Engine
    model: ModelRef
    batch_max: int
    """Most frames per engine call (``engine.batch_max``, measured when "auto")."""


def _load_model(config: LeptonConfig) -> Served:
    manifest = verify_bundle(config.bundle.path)
    engine = open_engine(manifest, config.bundle, config.engine, config.service.state_dir)
    batch_max = choose_batch_max(engine, Path(config.bundle.path), config.engine.batch_max)
    artifact = manifest.model_artifact(engine.precision, engine.backend)
    assert artifact is not None
    model = ModelRef(
        name=manifest.model.name,
        version=manifest.model.version,
        sha256=artifact.sha256,
        precision=engine.precision,
        backend=engine.backend,
    )
    return Served(manifest, engine, model, batch_max)


class _Stopper:
    """SIGTERM/SIGINT → a flag the main loop checks."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.event.set()


@dataclass(frozen=True)
class _StatusBook:
    """Builds the retained device status; alarms ride along so operators see them."""

    device_id: str
    model: ModelRef
    alarms: Alarms
    since_ms: int

    def payload(self, state: DeviceState) -> bytes:
        return DeviceStatus(
            state=state,
            device_id=self.device_id,
            lepton=__version__,
            model=f"{self.model.name}:{self.model.version}",
            model_sha256=self.model.sha256,
            precision=self.model.precision,
            backend=self.model.backend,
            since_ms=self.since_ms,
            alarms=self.alarms.active(),
        ).to_payload()


def _start_link(config: LeptonConfig, topics: Topics, status: _StatusBook, alarms: Alarms) -> MqttLink:
    def will() -> bytes:
        return DeviceStatus(
            state="offline", device_id=config.device.id, lepton=__version__, alarms=alarms.active()
        ).to_payload()

    link = MqttLink(
        config.mqtt,
        client_id=config.mqtt.client_id or f"lepton-{config.device.id}",
        will_topic=topics.status,
        will_payload=will,
        alarms=alarms,
    )
    link.publish_retained(topics.status, status.payload("online"))
    alarms.subscribe(lambda _active: link.publish_retained(topics.status, status.payload("online")))
    link.start()
    return link


def _open_sources(
    config: LeptonConfig,
    prepare: Prepare,
    link: MqttLink,
    topics: Topics,
    ready: threading.Event,
) -> list[CaptureWorker]:
    def on_state(camera: str, state: SourceState) -> None:
        log.info("camera %s: %s", camera, state)
        payload = CameraStatus(state=state, camera=camera, since_ms=time.time_ns() // 1_000_000).to_payload()
        link.publish_retained(topics.camera_status(camera), payload)

    workers = []
    for source_config in config.sources:
        source = create_source(source_config)
        source.open()  # a file that cannot be decoded fails here, before READY
        workers.append(CaptureWorker(source, prepare, on_state, ready))
    return workers


def run_daemon(config: LeptonConfig) -> int:
    keep_freed_frames()
    stopper = _Stopper()
    stopper.install()
    served = _load_model(config)
    alarms = Alarms()
    quarantined = quarantine_alarm(config.service.state_dir)
    if quarantined is not None:
        alarms.raise_alarm(ALARM_QUARANTINED, quarantined)
    topics = Topics(config.mqtt.topic_prefix or default_prefix(config.device.id))
    status = _StatusBook(config.device.id, served.model, alarms, time.time_ns() // 1_000_000)
    state_dir = config.service.state_dir
    outbox = Outbox(state_dir / OUTBOX_FILE, config.outbox, alarms)
    depth, _ = outbox.depth()
    if depth:
        log.info("outbox holds %d undelivered message(s) from before; they go first", depth)
    link = _start_link(config, topics, status, alarms)
    clock = DeliveryClock()
    sender = OutboxSender(outbox, link, config.mqtt.max_inflight, config.outbox, alarms, clock)
    sender.start()

    manifest = served.manifest

    def prepare(frame: Frame) -> Tensor:
        return preprocess(frame.image, manifest.preprocess, manifest.input)

    frames_ready = threading.Event()
    workers = _open_sources(config, prepare, link, topics, frames_ready)
    score_min = config.events.score_min
    if score_min is None:
        score_min = served.manifest.thresholds.score_min
    trackers = {
        w.source.camera: DefectTracker(config.events.confirm_frames, config.events.clear_frames, score_min)
        for w in workers
    }
    parts = PipelineParts(
        served.manifest,
        served.engine,
        create_decoder(served.manifest),
        EventBuilder(config.device, served.model, read_boot_id(), topics),
        outbox,
        SnapshotStore(state_dir / SNAPSHOT_DIR, config.snapshots) if config.snapshots.enabled else None,
        prepare,
        served.batch_max,
        clock,
    )
    pipeline = Pipeline(parts, workers, trackers, frames_ready, on_commit=sender.notify)
    reporter = _StatsReporter(config, pipeline, workers, outbox, sender, clock)
    for worker in workers:
        worker.start()
    notify("READY=1")
    log.info(
        "lepton-edge %s serving %s:%s (%s, %s) on %d camera(s); events on %s",
        __version__, served.model.name, served.model.version, served.model.precision,
        served.model.backend, len(workers), topics.all_events,
    )  # fmt: skip
    code = _main_loop(pipeline, sender, link, topics, reporter, stopper.event)

    notify("STOPPING=1")
    for worker in workers:
        worker.stop()
    pipeline.close_all()
    if parts.snapshots is not None:
        parts.snapshots.close()
    _drain(outbox, config.service.drain_timeout_s, sender)
    link.publish_transient(topics.stats, reporter.take(final=True).to_payload())
    link.stop(topics.status, status.payload("stopped"))
    sender.stop()
    for worker in workers:
        worker.join(timeout_s=2.0)
    outbox.close()
    served.engine.close()
    log.info("lepton-edge stopped")
    if pipeline.source_errors and code == exitcodes.OK:
        raise pipeline.source_errors[0]
    return code


def _latency(summary: LatencySummary) -> LatencyStats:
    return LatencyStats(**dataclasses.asdict(summary))


class _StatsReporter:
    """The stats topic: one payload per period, and a last one when the daemon stops cleanly."""

    def __init__(
        self,
        config: LeptonConfig,
        pipeline: Pipeline,
        workers: list[CaptureWorker],
        outbox: Outbox,
        sender: OutboxSender,
        clock: DeliveryClock,
    ) -> None:
        self._config = config
        self._pipeline = pipeline
        self._workers = workers
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self._period_start = time.monotonic()
        self.next_due = self._period_start + config.service.stats_interval_s

    def take(self, *, final: bool = False) -> Stats:
        """The period's figures; the next period starts now."""
        now = time.monotonic()
        stats = self._pipeline.take_stats()
        elapsed_s = now - self._period_start
        self._period_start, self.next_due = now, now + self._config.service.stats_interval_s
        frames = sum(stats.frames.values()) or 1
        depth, oldest_ms = self._outbox.depth()
        latency = self._clock.take()
        return Stats(
            device_id=self._config.device.id,
            period_s=round(elapsed_s, 3),
            frames=dict(stats.frames),
            fps={cam: round(n / max(elapsed_s, 1e-6), 2) for cam, n in stats.frames.items()},
            dropped_frames={w.source.camera: w.dropped for w in self._workers},
            stage_ms={stage: round(stats.stage_s[stage] * 1000.0 / frames, 3) for stage in STAGES},
            batch_mean=round(frames / stats.batches, 2) if stats.batches else 0.0,
            outbox_depth=depth,
            outbox_oldest_age_s=None if oldest_ms is None else round(time.time() - oldest_ms / 1000.0, 1),
            delivered=self._sender.delivered,
            alarms=self._outbox.alarms.active(),
            capture_to_puback_ms=None if latency is None else _latency(latency.capture_to_puback),
            capture_to_commit_ms=None if latency is None else _latency(latency.capture_to_commit),
            commit_to_puback_ms=None if latency is None else _latency(latency.commit_to_puback),
            final=final,
        )


def _main_loop(
    pipeline: Pipeline,
    sender: OutboxSender,
    link: MqttLink,
    topics: Topics,
    reporter: _StatsReporter,
    stop: threading.Event,
) -> int:
    watchdog_s = watchdog_interval_s()
    next_watchdog = time.monotonic()
    while not stop.is_set() and not pipeline.finished:
        pipeline.step()
        now = time.monotonic()
        if not sender.alive:
            log.error("the outbox sender stopped: %s", sender.error)
            return exitcodes.FAULT
        if watchdog_s is not None and now >= next_watchdog:
            notify("WATCHDOG=1")
            next_watchdog = now + watchdog_s
        if now >= reporter.next_due:
            stats = reporter.take()
            link.publish_transient(topics.stats, stats.to_payload())
            notify(f"STATUS={sum(stats.frames.values())} frames, outbox {stats.outbox_depth}")
    return exitcodes.OK


def _drain(outbox: Outbox, timeout_s: float, sender: OutboxSender) -> None:
    """Give the sender a bounded time to deliver what is committed; the rest waits on disk."""
    sender.notify()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        depth, _ = outbox.depth()
        if depth == 0:
            return
        time.sleep(0.05)
    depth, _ = outbox.depth()
    if depth:
        log.warning(
            "stopping with %d undelivered message(s) in the outbox; they are sent on the next start", depth
        )


__all__ = ["OUTBOX_FILE", "SNAPSHOT_DIR", "run_daemon"]
