"""Cameras that drop, stall, freeze or go black, with real streams: ffmpeg serving MJPEG over HTTP.

Each test runs the real daemon (``lepton-edge run``) against a real Mosquitto and a fake
systemd ``NOTIFY_SOCKET``, and reads what an operator would: the retained camera and device
status topics, the stats, the events, ``/healthz`` and ``/metrics``. Thresholds are set to
seconds so each test stays short; nothing asserts a duration.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.edge.faults.camera_line import HEALTHY, Line, camera, http_get, write_config
from tests.edge.faults.conftest import PREFIX
from tests.support.mosquitto import Broker, free_port
from tests.support.polling import wait_until
from tests.support.streams import BLACK, FFMPEG, MOVING, MjpegServer, still, write_red_still
from tests.support.subscriber import Subscriber

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (scripts/bootstrap.sh)")


def test_outage_is_published_as_it_happens_and_a_clean_stop_says_stopped(
    tmp_path: Path, broker: Broker, servers: list[MjpegServer]
) -> None:
    server = MjpegServer(MOVING, tmp_path / "ffmpeg.log")  # not started: the camera is dead at boot
    servers.append(server)
    health_port = free_port()
    # HEALTHY: under CPU load a 2 s open or read could give up on the ffmpeg server as it starts,
    # and that server, serving one client, would then be gone for the rest of the test
    config = write_config(
        tmp_path, broker, [camera(server.url, **HEALTHY)], health={"listen": f"127.0.0.1:{health_port}"}
    )
    line = Line(tmp_path, broker, config)

    def metrics() -> str:
        return http_get(f"http://127.0.0.1:{health_port}/metrics")[1].decode()

    try:
        line.daemon.start()
        line.notify.wait_for("READY=1", 60)
        # dead at boot: reported while it happens, with the error and the next try
        down = line.status_of("reconnecting")
        # "connecting" comes first unless it changed before the broker link was up: a retained
        # status is resent on connect as its latest state only, which is what a screen needs
        assert line.statuses()[0]["state"] in {"connecting", "reconnecting"}
        assert "cannot open" in down["error"] and down["next_try_ms"] >= down["since_ms"]
        wait_until(lambda: "camera_reconnecting:cam1" in line.device_alarms(), 10, "the camera alarm")
        wait_until(lambda: any(s["frames"] == {"cam1": 0} for s in line.stats()), 10, "cam1 at 0 in stats")
        # a camera outage is the camera's alarm, not a dead daemon: the watchdog still pings
        line.notify.wait_for("WATCHDOG=1", 10)
        status, body = http_get(f"http://127.0.0.1:{health_port}/healthz")
        assert status == 200 and json.loads(body)["ok"] is True
        assert 'lepton_camera_state{camera="cam1",state="reconnecting"} 1.0' in metrics()
        assert 'lepton_alarm{code="camera_reconnecting:cam1"} 1.0' in metrics()

        server.start()
        up = line.wait_state("streaming")
        wait_until(lambda: not line.device_alarms(), 10, "the camera alarm cleared")
        wait_until(lambda: any(s["fps"].get("cam1", 0) > 0 for s in line.stats()), 20, "cam1 fps in stats")
        # a state, not a fact that stays: under load a gap of stall_after_s makes it "stalled" a moment
        streaming = 'lepton_camera_state{camera="cam1",state="streaming"} 1.0'
        wait_until(lambda: streaming in metrics(), 10, "cam1 streaming in /metrics")
        assert 'lepton_frames_total{camera="cam1"}' in metrics()
        assert 'lepton_stage_seconds_count{stage="infer"}' in metrics()

        server.kill()  # the camera's server dies mid-stream
        down = line.wait_state("reconnecting", after=up)
        seen = len(line.stats())
        wait_until(
            lambda: any(s["frames"] == {"cam1": 0} for s in line.stats()[seen:]),
            10,
            "0 frames during the outage",
        )
        pings = len(line.notify.received("WATCHDOG=1"))
        line.notify.wait_for("WATCHDOG=1", 10, count=pings + 1)

        server.start()  # and comes back: the camera streams again without a daemon restart
        line.wait_state("streaming", after=down)
        wait_until(lambda: not line.device_alarms(), 10, "the camera alarm cleared again")

        line.daemon.stop()
        assert line.daemon.proc is not None and line.daemon.proc.returncode == 0, line.daemon.tail()
    finally:
        line.close()
    # the retained camera status a new operator screen receives: not a stale "streaming"
    late = Subscriber(broker.port, f"{PREFIX}/cam1/status")
    try:
        retained = late.wait_for("/cam1/status", 1, timeout_s=10)
    finally:
        late.close()
    assert json.loads(retained[-1].payload)["state"] == "stopped"


def test_silent_server_is_stalled_then_streams_again(
    tmp_path: Path, broker: Broker, servers: list[MjpegServer]
) -> None:
    server = MjpegServer(MOVING, tmp_path / "ffmpeg.log").start()
    servers.append(server)
    # the read waits 30 s: "stalled" must come from stall_after_s, long before the read gives up
    config = write_config(tmp_path, broker, [camera(server.url, read_timeout_s=30.0)])
    line = Line(tmp_path, broker, config)
    try:
        line.daemon.start()
        up = line.wait_state("streaming")
        server.signal(signal.SIGSTOP)
        stalled = line.wait_state("stalled", after=up)
        assert "no frame for" in line.statuses()[stalled]["error"]
        wait_until(lambda: "camera_stalled:cam1" in line.device_alarms(), 10, "the stall alarm")
        server.signal(signal.SIGCONT)
        line.wait_state("streaming", after=stalled)
        wait_until(lambda: not line.device_alarms(), 10, "the stall alarm cleared")
    finally:
        line.close()


def test_frozen_picture_closes_its_defect_and_raises_an_alarm(
    tmp_path: Path, broker: Broker, servers: list[MjpegServer]
) -> None:
    server = MjpegServer(still(write_red_still(tmp_path / "red.png")), tmp_path / "ffmpeg.log").start()
    servers.append(server)
    config = write_config(tmp_path, broker, [camera(server.url)])
    line = Line(tmp_path, broker, config)
    try:
        line.daemon.start()
        frozen = line.status_of("frozen")
        assert "identical" in frozen["error"]
        wait_until(lambda: "camera_frozen:cam1" in line.device_alarms(), 10, "the frozen alarm")
        # the defect frozen on screen was confirmed, then closed when the picture froze
        events = wait_until(lambda: len(line.events()) >= 2 and line.events(), 10, "new and end")
        assert [(e["type"], e["findings"][0]["label"]) for e in events] == [("new", "red"), ("end", "red")]
        assert events[0]["event_id"] == events[1]["event_id"]
        # and while frozen, nothing is inferred: no new event, 0 fps
        seen = len(line.stats())
        wait_until(
            lambda: any(s["frames"] == {"cam1": 0} for s in line.stats()[seen:]), 10, "0 fps while frozen"
        )
        assert len(line.events()) == 2
    finally:
        line.close()


def test_black_stream_is_blind(tmp_path: Path, broker: Broker, servers: list[MjpegServer]) -> None:
    server = MjpegServer(BLACK, tmp_path / "ffmpeg.log").start()
    servers.append(server)
    config = write_config(tmp_path, broker, [camera(server.url)])
    line = Line(tmp_path, broker, config)
    try:
        line.daemon.start()
        blind = line.status_of("blind")
        assert "black picture" in blind["error"]
        wait_until(lambda: "camera_blind:cam1" in line.device_alarms(), 10, "the blind alarm")
        assert "frozen" not in [s["state"] for s in line.statuses()]  # blind says more than frozen
    finally:
        line.close()


def test_wedged_capture_thread_stops_the_pings_and_exits_1(tmp_path: Path, broker: Broker) -> None:
    # a FIFO nobody writes: opening it blocks in the kernel, past any timeout OpenCV has
    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)
    config = write_config(
        tmp_path,
        broker,
        [camera(str(fifo), open_timeout_s=1.0)],
        service={"capture_grace_s": 1.0},
    )
    line = Line(tmp_path, broker, config)
    try:
        line.daemon.start()
        line.notify.wait_for("READY=1", 60)
        assert line.daemon.wait(timeout_s=60) == 1
        log = line.daemon.log()
        assert "camera cam1: open blocked for" in log and "exiting so that systemd restarts" in log
        assert "watchdog: not pinging systemd" in log
    finally:
        line.close()
