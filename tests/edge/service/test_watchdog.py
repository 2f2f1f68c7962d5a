"""The watchdog's verdict and ``/healthz``, on real components: healthy, then a thread gone.

The daemon-level behaviour (pings through a camera outage, a wedged capture thread exiting
1) is in ``tests/edge/faults/test_cameras.py``; here the verdict is checked part by part.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton.edge.alarms import Alarms
from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.config.models import BundleConfig, DeviceConfig, EngineConfig, MqttConfig, OutboxConfig
from lepton.edge.decoders.registry import create_decoder
from lepton.edge.engines.select import open_engine
from lepton.edge.events.builder import EventBuilder
from lepton.edge.events.schema import ModelRef
from lepton.edge.events.tracker import DefectTracker
from lepton.edge.mqtt.link import MqttLink
from lepton.edge.mqtt.sender import OutboxSender
from lepton.edge.mqtt.topics import Topics
from lepton.edge.outbox.delivery_clock import DeliveryClock
from lepton.edge.outbox.store import Outbox
from lepton.edge.preprocess import Tensor, preprocess
from lepton.edge.service.capture import CaptureWorker
from lepton.edge.service.health_server import HealthServer
from lepton.edge.service.metrics import LiveParts, Metrics
from lepton.edge.service.pipeline import Pipeline, PipelineParts
from lepton.edge.service.watchdog import Watchdog
from lepton.edge.sources.base import Frame
from lepton.edge.sources.configs import FileSourceConfig
from lepton.edge.sources.video_file import VideoFileSource
from tests.conftest import MODELS
from tests.support.mosquitto import Broker
from tests.support.polling import wait_until
from tests.support.videos import GRAY, write_color_video


class Daemon:
    """The parts the watchdog watches, wired as ``app.py`` wires them, nothing started."""

    def __init__(self, tmp_path: Path, broker: Broker) -> None:
        bundle = MODELS / "color_bundle"
        manifest = verify_bundle(bundle)
        engine = open_engine(manifest, BundleConfig(path=bundle), EngineConfig())
        video = tmp_path / "line.mp4"
        write_color_video(video, [(GRAY, 10)])
        source = VideoFileSource(FileSourceConfig(kind="file", camera="cam1", path=video))
        source.open()
        self.alarms = Alarms()
        self.outbox = Outbox(tmp_path / "outbox.db", OutboxConfig(), self.alarms)
        self.link = MqttLink(
            MqttConfig(port=broker.port), "lepton-test", "t/status", lambda: b"offline", self.alarms
        )
        self.sender = OutboxSender(self.outbox, self.link, 20, OutboxConfig(), self.alarms, DeliveryClock())

        def prepare(frame: Frame) -> Tensor:
            return preprocess(frame.image, manifest.preprocess, manifest.input)

        self.worker = CaptureWorker(source, prepare, lambda _change: None, threading.Event())
        model = ModelRef(name="m", version="1", sha256="0" * 64, precision="fp32", backend="ort-cpu")
        parts = PipelineParts(
            manifest, engine, create_decoder(manifest),
            EventBuilder(DeviceConfig(id="box-1"), model, "boot", Topics("t")),
            self.outbox, None, prepare, 1,
        )  # fmt: skip
        self.pipeline = Pipeline(parts, [self.worker], {"cam1": DefectTracker(3, 3, 0.5)}, threading.Event())
        self.watchdog = Watchdog(
            [self.worker],
            self.pipeline,
            {"outbox sender": lambda: self.sender.alive, "MQTT link": lambda: self.link.alive},
            capture_grace_s=1.0,
            watchdog_usec=None,
        )


@pytest.fixture
def daemon(tmp_path: Path, broker: Broker) -> Iterator[Daemon]:
    d = Daemon(tmp_path, broker)
    d.worker.start()  # it fills its queue and waits for inference, which this test never runs
    yield d
    d.worker.stop()
    d.sender.stop()
    d.link.stop("t/status", b"stopped", timeout_s=2)
    d.outbox.close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_healthz_is_200_while_every_part_runs_and_503_naming_the_one_that_stopped(daemon: Daemon) -> None:
    metrics = Metrics()
    metrics.watch(
        LiveParts(
            [daemon.worker], daemon.pipeline, daemon.outbox, lambda: 0, daemon.alarms, daemon.watchdog, dict
        )
    )
    server = HealthServer("127.0.0.1:0", metrics, lambda: daemon.watchdog.health)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        # nothing started: neither thread runs, so systemd must not be told all is well
        health = daemon.watchdog.check(daemon.pipeline.last_step_mono)
        assert not health.ok
        assert "the outbox sender thread is not running" in health.reasons
        assert "the MQTT link thread is not running" in health.reasons
        status, body = get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["ok"] is False

        daemon.link.start()
        daemon.sender.start()
        assert daemon.watchdog.check(daemon.pipeline.last_step_mono).ok
        status, body = get(f"{base}/healthz")
        assert status == 200 and json.loads(body) == {"ok": True, "reasons": []}
        assert b"lepton_healthy 1.0" in get(f"{base}/metrics")[1]

        daemon.sender.stop()
        health = daemon.watchdog.check(daemon.pipeline.last_step_mono)
        assert health.reasons == ("the outbox sender thread is not running",)
        status, body = get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["reasons"] == ["the outbox sender thread is not running"]
        assert b"lepton_healthy 0.0" in get(f"{base}/metrics")[1]
    finally:
        server.stop()


def test_an_inference_loop_that_stopped_turning_stops_the_pings(daemon: Daemon) -> None:
    daemon.link.start()
    daemon.sender.start()
    wait_until(lambda: daemon.worker.last_put_mono is not None, 10, "a frame handed over")
    now = max(daemon.pipeline.last_step_mono, daemon.worker.last_put_mono or 0.0)
    assert daemon.watchdog.check(now + 1.0).ok
    # the same parts, seen a period later: the loop never turned, the frame was never inferred
    health = daemon.watchdog.check(now + daemon.watchdog.period_s + 1.0)
    assert not health.ok
    assert any(r.startswith("the inference loop has not turned for") for r in health.reasons)
    assert any(r.endswith("still waits for the engine") for r in health.reasons)
    # once the loop has run the engine on what waited, all is well again
    while daemon.pipeline.step(timeout_s=0.0):
        pass
    assert daemon.watchdog.check(time.monotonic()).ok
