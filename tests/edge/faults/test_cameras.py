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
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.edge.faults.conftest import BUNDLE, PREFIX
from tests.support.daemon_process import DaemonProcess
from tests.support.edge_config import Section, render_toml
from tests.support.mosquitto import Broker, free_port
from tests.support.notify_socket import NotifySocket
from tests.support.polling import wait_until
from tests.support.streams import BLACK, FFMPEG, MOVING, MjpegServer, still, write_red_still
from tests.support.subscriber import Subscriber

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (scripts/bootstrap.sh)")

WATCHDOG_USEC = "2000000"


def camera(uri: str, name: str = "cam1", **overrides: Any) -> Section:
    return {
        "kind": "camera",
        "camera": name,
        "uri": uri,
        "open_timeout_s": 2.0,
        "read_timeout_s": 2.0,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 0.5,
        "stall_after_s": 1.0,
        "frozen_after_s": 1.5,
        "blind_after_s": 1.0,
        **overrides,
    }


def write_config(tmp_path: Path, broker: Broker, sources: list[Section], **sections: Section) -> Path:
    path = tmp_path / "lepton.toml"
    text = render_toml(
        {
            "device": {"id": "box-1"},
            "bundle": {"path": BUNDLE},
            "engine": {"batch_max": 1},
            "events": {"confirm_frames": 3, "clear_frames": 3},
            "mqtt": {"port": broker.port, "keepalive_s": 10, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
            "snapshots": {"enabled": False},
            "service": {
                "state_dir": tmp_path / "state",
                "stats_interval_s": 0.5,
                **sections.get("service", {}),
            },
            **{k: v for k, v in sections.items() if k != "service"},
        },
        {"sources": sources},
    )
    path.write_text(text, encoding="utf-8")
    return path


class Line:
    """The daemon and what an operator sees of it."""

    def __init__(self, tmp_path: Path, broker: Broker, config: Path) -> None:
        self.notify = NotifySocket()
        self.sub = Subscriber(broker.port, f"{PREFIX}/#")
        env = {"NOTIFY_SOCKET": str(self.notify.path), "WATCHDOG_USEC": WATCHDOG_USEC}
        self.daemon = DaemonProcess(config, tmp_path / "daemon.log", env=env)

    def statuses(self, cam: str = "cam1") -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.sub.on_topic(f"/{cam}/status")]

    def status_of(self, state: str, cam: str = "cam1") -> dict[str, Any]:
        """The first status message with ``state``, once it came."""
        index = self.wait_state(state, cam)
        return self.statuses(cam)[index]

    def wait_state(self, state: str, cam: str = "cam1", after: int = 0, timeout_s: float = 30.0) -> int:
        """Index of the first ``state`` at or after ``after`` in the camera's status messages."""

        def found() -> int | None:
            states = [s["state"] for s in self.statuses(cam)]
            return next((i + 1 for i in range(after, len(states)) if states[i] == state), None)

        return wait_until(found, timeout_s, f"camera {cam} status {state!r}\n{self.daemon.tail()}") - 1

    def device_alarms(self) -> dict[str, str]:
        payloads = [json.loads(m.payload) for m in self.sub.on_topic("box-1/status")]
        return payloads[-1].get("alarms", {}) if payloads else {}

    def stats(self) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.sub.on_topic("box-1/stats")]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.sub.on_topic("/events")]

    def close(self) -> None:
        self.daemon.stop()
        self.sub.close()
        self.notify.close()


@pytest.fixture
def servers() -> Iterator[list[MjpegServer]]:
    started: list[MjpegServer] = []
    yield started
    for server in started:
        server.kill()


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_outage_is_published_as_it_happens_and_a_clean_stop_says_stopped(
    tmp_path: Path, broker: Broker, servers: list[MjpegServer]
) -> None:
    server = MjpegServer(MOVING, tmp_path / "ffmpeg.log")  # not started: the camera is dead at boot
    servers.append(server)
    health_port = free_port()
    config = write_config(
        tmp_path, broker, [camera(server.url)], health={"listen": f"127.0.0.1:{health_port}"}
    )
    line = Line(tmp_path, broker, config)
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
        metrics = http_get(f"http://127.0.0.1:{health_port}/metrics")[1].decode()
        assert 'lepton_camera_state{camera="cam1",state="reconnecting"} 1.0' in metrics
        assert 'lepton_alarm{code="camera_reconnecting:cam1"} 1.0' in metrics

        server.start()
        up = line.wait_state("streaming")
        wait_until(lambda: not line.device_alarms(), 10, "the camera alarm cleared")
        wait_until(lambda: any(s["fps"].get("cam1", 0) > 0 for s in line.stats()), 20, "cam1 fps in stats")
        metrics = http_get(f"http://127.0.0.1:{health_port}/metrics")[1].decode()
        assert 'lepton_camera_state{camera="cam1",state="streaming"} 1.0' in metrics
        assert 'lepton_frames_total{camera="cam1"}' in metrics
        assert 'lepton_stage_seconds_count{stage="infer"}' in metrics

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


def test_silent_cameras_open_concurrently_and_never_hold_ready_back(
    tmp_path: Path, broker: Broker, servers: list[MjpegServer]
) -> None:
    # three RTSP servers that accept TCP and never answer (the case): each open waits its
    # whole open_timeout_s, and must hold back neither READY nor the healthy MJPEG camera
    listeners = []
    for _ in range(3):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        listeners.append(sock)
    sources = [
        camera(f"rtsp://127.0.0.1:{s.getsockname()[1]}/stream1", name=f"cam{i}", open_timeout_s=120.0)
        for i, s in enumerate(listeners)
    ]
    healthy = MjpegServer(MOVING, tmp_path / "ffmpeg.log").start()
    servers.append(healthy)
    sources.append(camera(healthy.url, name="good"))
    line = Line(tmp_path, broker, write_config(tmp_path, broker, sources))
    try:
        line.daemon.start()
        line.notify.wait_for("READY=1", 60)
        line.wait_state("streaming", cam="good")  # the healthy camera does not wait for the others
        for i in range(3):
            line.wait_state("connecting", cam=f"cam{i}")
        # READY came, and the healthy camera streams, while the silent ones are still connecting
        assert all(len(line.statuses(f"cam{i}")) == 1 for i in range(3))
    finally:
        line.close()
        for sock in listeners:
            sock.close()


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
