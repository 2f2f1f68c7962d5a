"""Network cameras capture in processes of their own: real streams, real processes, real signals.

A silent camera (it accepts TCP and never answers) must hold back neither READY nor the other
cameras: in one process, OpenCV's FFmpeg backend opens one capture at a time. A capture
process that dies or hangs is the camera's fault (``reconnecting``), not the daemon's; and no
capture process outlives the daemon, stopped cleanly or killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.faults.camera_line import (
    HEALTHY,
    Line,
    alive,
    camera,
    capture_processes,
    descendants,
    write_config,
)
from tests.edge.faults.conftest import PREFIX
from tests.edge.faults.rtsp import RtspServer, rtsp_server_missing
from tests.support.mosquitto import Broker
from tests.support.polling import wait_until
from tests.support.streams import FFMPEG, MOVING, MjpegServer
from tests.support.subscriber import Subscriber

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (scripts/bootstrap.sh)")


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    """Silent cameras: TCP listeners that accept and never answer."""
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def silent(listeners: list[socket.socket]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(60)
    listeners.append(sock)
    return sock


def port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def retained_states(broker: Broker, cameras: list[str]) -> dict[str, str]:
    """The retained status of each camera, as a new operator screen receives it."""
    late = Subscriber(broker.port, f"{PREFIX}/+/status")
    try:
        received = late.wait_for("/status", len(cameras), timeout_s=10)
    finally:
        late.close()
    return {
        m.topic.split("/")[-2]: json.loads(m.payload)["state"]
        for m in received
        if m.topic.split("/")[-2] in cameras
    }


def test_silent_cameras_hold_back_neither_ready_nor_the_healthy_ones(
    tmp_path: Path,
    broker: Broker,
    servers: list[MjpegServer | RtspServer],
    listeners: list[socket.socket],
) -> None:
    http, rtsp = silent(listeners), silent(listeners)
    healthy = [MjpegServer(MOVING, tmp_path / f"ffmpeg{i}.log") for i in range(2)]  # started below
    servers.extend(healthy)
    sources = [
        camera(f"http://127.0.0.1:{port(http)}/cam.mjpg", name="silenthttp", open_timeout_s=120.0),
        camera(f"rtsp://127.0.0.1:{port(rtsp)}/stream1", name="silentrtsp", open_timeout_s=120.0),
        *(camera(s.url, name=f"good{i}", **HEALTHY) for i, s in enumerate(healthy)),
    ]
    line = Line(tmp_path, broker, write_config(tmp_path, broker, sources))
    held = []
    try:
        line.daemon.start()
        line.notify.wait_for("READY=1", 60)
        # both silent cameras are being opened now: in one process the HTTP one would hold
        # OpenCV's open lock for its 120 s, and every other camera's open would wait behind it
        held = [http.accept()[0], rtsp.accept()[0]]
        for server in healthy:
            server.start()  # the healthy cameras (re)connect only now, after the silent ones began
        for i in range(len(healthy)):
            line.wait_state("streaming", cam=f"good{i}")
        # the silent ones are still opening: nothing has waited for their timeout
        assert [s["state"] for s in line.statuses("silenthttp")] == ["connecting"]
        assert [s["state"] for s in line.statuses("silentrtsp")] == ["connecting"]
        assert line.daemon.proc is not None
        names = descendants(line.daemon.proc.pid).values()
        assert sum(name.startswith("lepton-cam:") for name in names) == 4, names
        # a clean stop ends every capture process, the silent ones' blocked opens too, and says stopped;
        # SIGTERM to every process at once, as systemd stops a unit (KillMode=control-group)
        family = descendants(line.daemon.proc.pid)
        for pid in [line.daemon.proc.pid, *family]:
            os.kill(pid, signal.SIGTERM)
        assert line.daemon.wait(timeout_s=30) == 0, line.daemon.tail()
        wait_until(lambda: not any(alive(pid) for pid in family), 10, f"no process left of {family}")
        for i in range(len(healthy)):  # streaming until the stop: no burst of "reconnecting" as it goes
            stopped = line.wait_state("stopped", cam=f"good{i}")
            states = [s["state"] for s in line.statuses(f"good{i}")]
            assert "reconnecting" not in states[states.index("streaming") : stopped], states
    finally:
        line.close()
        for conn in held:
            conn.close()
    cameras = ["silenthttp", "silentrtsp", "good0", "good1"]
    assert retained_states(broker, cameras) == dict.fromkeys(cameras, "stopped")


def test_a_capture_process_that_dies_or_hangs_is_the_camera_reconnecting(
    tmp_path: Path, broker: Broker, servers: list[MjpegServer | RtspServer]
) -> None:
    server = MjpegServer(MOVING, tmp_path / "ffmpeg.log").start()
    servers.append(server)
    config = write_config(tmp_path, broker, [camera(server.url, **{**HEALTHY, "read_timeout_s": 2.0})])
    line = Line(tmp_path, broker, config)
    try:
        line.daemon.start()
        up = line.wait_state("streaming")
        [child] = capture_processes(line.daemon)
        maps = Path(f"/proc/{child}/maps").read_text()
        assert "/memfd:lepton-frames" in maps and "/dev/shm/" not in maps  # nothing named to leak

        os.kill(child, signal.SIGKILL)  # the capture process dies (a crash in a decoder)
        down = line.wait_state("reconnecting", after=up)
        assert "capture process" in line.statuses()[down]["error"]
        assert "killed by SIGKILL" in line.statuses()[down]["error"]
        server.restart()  # ffmpeg serves one client: it went with the killed process
        up = line.wait_state("streaming", after=down)
        [child] = capture_processes(line.daemon)

        os.kill(child, signal.SIGSTOP)  # it hangs (a driver ignoring its timeouts): stalled, then killed
        stalled = line.wait_state("stalled", after=up)
        down = line.wait_state("reconnecting", after=stalled)
        assert "the capture process was killed" in line.statuses()[down]["error"]
        wait_until(lambda: not alive(child), 10, "the hung capture process gone")
        server.restart()
        line.wait_state("streaming", after=down)
        pings = len(line.notify.received("WATCHDOG=1"))  # the daemon itself was never at fault
        line.notify.wait_for("WATCHDOG=1", 10, count=pings + 1)

        # SIGKILL of the daemon: no handler runs, yet its capture process and helpers go with it
        assert line.daemon.proc is not None
        family = descendants(line.daemon.proc.pid)
        assert any(name.startswith("lepton-cam:") for name in family.values()), family
        line.daemon.kill()
        wait_until(lambda: not any(alive(pid) for pid in family), 10, f"no process left of {family}")
    finally:
        line.close()


RTSP_MISSING = rtsp_server_missing()


@pytest.mark.skipif(RTSP_MISSING is not None, reason=str(RTSP_MISSING))
def test_rtsp_camera_streams_is_lost_and_comes_back(
    tmp_path: Path, broker: Broker, servers: list[MjpegServer | RtspServer]
) -> None:
    server = RtspServer(tmp_path / "rtsp.log").start()
    servers.append(server)
    line = Line(tmp_path, broker, write_config(tmp_path, broker, [camera(server.url, **HEALTHY)]))
    try:
        line.daemon.start()
        up = line.wait_state("streaming")
        wait_until(lambda: any(s["fps"].get("cam1", 0) > 0 for s in line.stats()), 20, "cam1 fps in stats")
        server.kill()
        down = line.wait_state("reconnecting", after=up)
        wait_until(lambda: "camera_reconnecting:cam1" in line.device_alarms(), 10, "the camera alarm")
        server.start()  # back on the same port
        line.wait_state("streaming", after=down)
        wait_until(lambda: not line.device_alarms(), 10, "the camera alarm cleared")
    finally:
        line.close()
