"""The composition root of lepton-edge: the start-up sequence, and the only place that wires parts.

Order matters: bundle verified → engine loaded and smoke-tested → outbox open (integrity
checked) → broker link started in the background → recordings opened → READY=1. The broker
is never waited for: events are committed to the outbox and delivered when it is reachable.
Nor are live cameras: each connects in its own capture thread (a network camera through a
capture process of its own) and publishes its own state, so a dead or silent camera delays
neither READY nor the others.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType

from lepton.edge import exitcodes
from lepton.edge.alarms import Alarms
from lepton.edge.bundle.manifest import Manifest, verify_bundle
from lepton.edge.config.models import LeptonConfig
from lepton.edge.decoders.registry import create_decoder
from lepton.edge.engines.base import Engine
from lepton.edge.engines.engine_cache import ALARM_QUARANTINED, STATE_CACHE_DIR, quarantine_alarm
from lepton.edge.engines.report import EngineReport
from lepton.edge.engines.select import choose_engine
from lepton.edge.events.builder import EventBuilder
from lepton.edge.events.ids import read_boot_id
from lepton.edge.events.schema import ModelRef
from lepton.edge.events.snapshots import SnapshotStore
from lepton.edge.events.tracking import create_tracker
from lepton.edge.mqtt.link import MqttLink
from lepton.edge.mqtt.sender import OutboxSender
from lepton.edge.mqtt.status import DeviceState, DeviceStatus, LatencyStats, Stats
from lepton.edge.mqtt.topics import Topics, default_prefix
from lepton.edge.outbox.delivery_clock import DeliveryClock, LatencySummary
from lepton.edge.outbox.store import Outbox
from lepton.edge.preprocess import Tensor, preprocess
from lepton.edge.service.camera_status import CameraStatusPublisher
from lepton.edge.service.capture import CaptureWorker, Prepare
from lepton.edge.service.health_server import HealthServer
from lepton.edge.service.malloc_tuning import keep_freed_frames
from lepton.edge.service.metrics import LiveParts, Metrics
from lepton.edge.service.pipeline import STAGES, Pipeline, PipelineParts
from lepton.edge.service.sd_notify import notify, watchdog_usec
from lepton.edge.service.watchdog import Watchdog
from lepton.edge.sources.base import Frame
from lepton.edge.sources.configs import CameraSourceConfig, runs_in_child
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
    engine_report: EngineReport
    """How the engine was chosen: every candidate's outcome and figures (status payload)."""


def _load_model(config: LeptonConfig) -> Served:
    manifest = verify_bundle(config.bundle.path)
    choice = choose_engine(manifest, config.bundle, config.engine, config.service.state_dir / STATE_CACHE_DIR)
    engine, batch_max = choice.engine, choice.batch_max
    artifact = manifest.model_artifact(engine.precision, engine.backend)
    assert artifact is not None
    model = ModelRef(
        name=manifest.model.name,
        version=manifest.model.version,
        sha256=artifact.sha256,
        precision=engine.precision,
        backend=engine.backend,
    )
    return Served(manifest, engine, model, batch_max, choice.report)


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
    engine: EngineReport
    alarms: Alarms
    since_ms: int

    def payload(self, state: DeviceState, since_ms: int | None = None) -> bytes:
        """``since_ms``: when ``state`` began; by default the start (``online`` began then)."""
        return DeviceStatus(
            state=state,
            device_id=self.device_id,
            lepton=__version__,
            model=f"{self.model.name}:{self.model.version}",
            model_sha256=self.model.sha256,
            precision=self.model.precision,
            backend=self.model.backend,
            engine=self.engine,
            since_ms=self.since_ms if since_ms is None else since_ms,
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
    on_state: CameraStatusPublisher,
    ready: threading.Event,
) -> list[CaptureWorker]:
    """Recordings are opened here (an undecodable file fails before READY); cameras connect
    in their capture threads once started."""
    # OpenCV opens one camera at a time per process: a camera opened in this process may first
    # wait for the other ones opened here; network cameras open in capture processes of their own
    in_process = [c for c in config.sources if isinstance(c, CameraSourceConfig) and not runs_in_child(c)]
    workers = []
    for source_config in config.sources:
        source = create_source(source_config)
        if not source.live:
            source.open()  # a file that cannot be decoded fails here, before READY
        camera = source_config if isinstance(source_config, CameraSourceConfig) else None
        queued = in_process if camera in in_process else []
        queue_s = sum(c.open_timeout_s for c in queued if c is not camera)
        workers.append(CaptureWorker(source, prepare, on_state, ready, camera=camera, open_queue_s=queue_s))
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
    status = _StatusBook(
        config.device.id, served.model, served.engine_report, alarms, time.time_ns() // 1_000_000
    )
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
    metrics = Metrics() if config.health.listen is not None else None

    def prepare(frame: Frame) -> Tensor:
        return preprocess(frame.image, manifest.preprocess, manifest.input)

    frames_ready = threading.Event()
    workers = _open_sources(config, prepare, CameraStatusPublisher(link, topics, alarms), frames_ready)
    score_min = config.events.score_min
    if score_min is None:
        score_min = served.manifest.thresholds.score_min
    trackers = {
        w.source.camera: create_tracker(
            manifest.model.task, config.events.confirm_frames, config.events.clear_frames, score_min
        )
        for w in workers
    }
    parts = PipelineParts(
        served.manifest,
        served.engine,
        create_decoder(served.manifest),
        EventBuilder(config.device, served.model, read_boot_id(), topics),
        outbox,
        SnapshotStore(state_dir / SNAPSHOT_DIR, config.snapshots, alarms, config.outbox.reserve_bytes)
        if config.snapshots.enabled
        else None,
        prepare,
        served.batch_max,
        clock,
        metrics.observe_stage if metrics is not None else None,
    )
    pipeline = Pipeline(parts, workers, trackers, frames_ready, on_commit=sender.notify)
    reporter = _StatsReporter(config, pipeline, workers, outbox, sender, clock)
    watchdog = Watchdog(
        workers,
        pipeline,
        {"outbox sender": lambda: sender.alive, "MQTT link": lambda: link.alive},
        config.service.capture_grace_s,
        watchdog_usec(),
    )
    health = None
    if metrics is not None and config.health.listen is not None:
        delivered, fps = (lambda: sender.delivered), (lambda: reporter.fps)
        metrics.watch(LiveParts(workers, pipeline, outbox, delivered, alarms, watchdog, fps))
        health = HealthServer(config.health.listen, metrics, lambda: watchdog.health)
        health.start()
    for worker in workers:
        worker.start()
    watchdog.start()
    notify("READY=1")
    log.info(
        "lepton-edge %s serving %s:%s (%s, %s) on %d camera(s); events on %s",
        __version__, served.model.name, served.model.version, served.model.precision,
        served.model.backend, len(workers), topics.all_events,
    )  # fmt: skip
    code = _main_loop(pipeline, sender, link, topics, reporter, watchdog, stopper.event)

    notify("STOPPING=1")
    for worker in workers:
        worker.stop()  # publishes "stopped" now, even for a wedged camera
    watchdog.stop()
    if health is not None:
        health.stop()
    pipeline.close_all()
    if parts.snapshots is not None:
        parts.snapshots.close()
    _drain(outbox, config.service.drain_timeout_s, sender)
    link.publish_transient(topics.stats, reporter.take(final=True).to_payload())
    link.stop(topics.status, status.payload("stopped", since_ms=time.time_ns() // 1_000_000))
    sender.stop()
    joined_by = time.monotonic() + 2.0  # one shared bound: a wedged camera is not waited for
    for worker in workers:
        worker.join(timeout_s=max(0.0, joined_by - time.monotonic()))
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
        self.fps: dict[str, float] = {w.source.camera: 0.0 for w in workers}
        """Per camera, over the last period (for /metrics)."""
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
        # every camera keeps its key, with 0, through an outage
        counts = {w.source.camera: stats.frames.get(w.source.camera, 0) for w in self._workers}
        self.fps = {cam: round(n / max(elapsed_s, 1e-6), 2) for cam, n in counts.items()}
        return Stats(
            device_id=self._config.device.id,
            period_s=round(elapsed_s, 3),
            frames=counts,
            fps=self.fps,
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
            cameras={w.source.camera: w.state for w in self._workers},
        )


def _main_loop(
    pipeline: Pipeline,
    sender: OutboxSender,
    link: MqttLink,
    topics: Topics,
    reporter: _StatsReporter,
    watchdog: Watchdog,
    stop: threading.Event,
) -> int:
    """Inference until stopped; systemd's watchdog is pinged by ``watchdog``, not from here."""
    while not stop.is_set() and not pipeline.finished:
        pipeline.step()
        now = time.monotonic()
        if not sender.alive:
            log.error("the outbox sender stopped: %s", sender.error)
            return exitcodes.FAULT
        if watchdog.fatal.is_set():
            log.error("%s: exiting so that systemd restarts the daemon", watchdog.fatal_reason)
            return exitcodes.FAULT
        if not watchdog.alive:
            log.error("the watchdog thread stopped")
            return exitcodes.FAULT
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
