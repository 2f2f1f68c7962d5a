"""What ``/metrics`` exposes, in Prometheus' format: read from the components at scrape time.

Counters and gauges are not kept twice: a collector reads the pipeline's running totals, the
capture workers' states, the outbox and the alarms when Prometheus scrapes. Only the stage
latency histograms are fed as frames go (``observe_stage``), since a distribution cannot be
rebuilt afterwards; one ``observe`` per stage per batch costs microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import get_args

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from lepton.edge.alarms import Alarms
from lepton.edge.errors import LeptonError
from lepton.edge.outbox.store import Outbox
from lepton.edge.service.capture import CaptureWorker
from lepton.edge.service.pipeline import STAGES, Pipeline
from lepton.edge.service.watchdog import Watchdog
from lepton.edge.sources.base import SourceState

STAGE_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Per-frame stage times: from a fraction of a millisecond (INT8 on a GPU) to seconds (a stuck disk)."""


@dataclass(frozen=True)
class LiveParts:
    """The running components the collector reads at each scrape."""

    workers: list[CaptureWorker]
    pipeline: Pipeline
    outbox: Outbox
    delivered: Callable[[], int]
    alarms: Alarms
    watchdog: Watchdog
    fps: Callable[[], dict[str, float]]
    """Frames per second per camera over the last stats period."""


class Metrics:
    """The registry ``/metrics`` serves. Build it before the pipeline (it takes ``observe_stage``),
    then ``watch`` the running parts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._stages = Histogram(
            "lepton_stage_seconds",
            "Time per frame in each pipeline stage (preprocess, infer, decode, commit).",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=self.registry,
        )
        for stage in STAGES:
            self._stages.labels(stage)  # every stage appears from the first scrape

    def observe_stage(self, stage: str, seconds: float) -> None:
        self._stages.labels(stage).observe(seconds)

    def watch(self, parts: LiveParts) -> None:
        self.registry.register(_LiveCollector(parts))


class _LiveCollector(Collector):
    def __init__(self, parts: LiveParts) -> None:
        self._p = parts

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        p = self._p
        frames = CounterMetricFamily("lepton_frames", "Frames inferred since start.", labels=["camera"])
        dropped = CounterMetricFamily(
            "lepton_frames_dropped", "Frames dropped because inference lagged.", labels=["camera"]
        )
        fps = GaugeMetricFamily(
            "lepton_camera_fps", "Inferred frames per second, last stats period.", labels=["camera"]
        )
        states = GaugeMetricFamily(
            "lepton_camera_state",
            "1 for the state each camera is in, 0 for the others.",
            labels=["camera", "state"],
        )
        totals, rates = dict(p.pipeline.frames_total), p.fps()
        for worker in p.workers:
            camera = worker.source.camera
            frames.add_metric([camera], totals.get(camera, 0))
            dropped.add_metric([camera], worker.dropped)
            fps.add_metric([camera], rates.get(camera, 0.0))
            for state in get_args(SourceState):
                states.add_metric([camera, state], 1.0 if worker.state == state else 0.0)
        yield from (frames, dropped, fps, states)
        yield CounterMetricFamily(
            "lepton_events", "Events committed to the outbox since start.", value=p.pipeline.events_total
        )
        yield CounterMetricFamily(
            "lepton_delivered", "Messages acknowledged by the broker since start.", value=p.delivered()
        )
        yield from self._outbox()
        alarms = GaugeMetricFamily("lepton_alarm", "Active alarms (1 each), by code.", labels=["code"])
        for code in sorted(p.alarms.active()):
            alarms.add_metric([code], 1.0)
        yield alarms
        yield GaugeMetricFamily(
            "lepton_healthy",
            "1 while the watchdog pings systemd (what /healthz says).",
            value=float(p.watchdog.health.ok),
        )

    def _outbox(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth, oldest_ms = self._p.outbox.depth()
        except LeptonError:
            return  # the outbox alarm says why; a scrape must not fail on it
        yield GaugeMetricFamily("lepton_outbox_depth", "Messages waiting in the outbox.", value=depth)
        age_s = 0.0 if oldest_ms is None else max(0.0, time.time() - oldest_ms / 1000.0)
        yield GaugeMetricFamily(
            "lepton_outbox_oldest_age_seconds", "Age of the oldest waiting message.", value=age_s
        )


__all__ = ["STAGE_BUCKETS_S", "LiveParts", "Metrics"]
