"""A real RTSP camera for tests: GStreamer's RTSP server in a process of its own.

Debian packages it (``gir1.2-gst-rtsp-server-1.0``, ``gstreamer1.0-plugins-base``/``-good``,
``python3-gi``; ``scripts/bootstrap.sh`` installs them); its Python bindings live in the
system Python, not in the venv, so ``rtsp_server.py`` runs under ``/usr/bin/python3``.
Unlike ``ffmpeg -listen 1``, it serves every client that comes, so a daemon that reconnects
finds it again; ``kill`` and ``start`` take the camera away and bring it back on its port.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.mosquitto import free_port

SYSTEM_PYTHON = Path("/usr/bin/python3")
SCRIPT = Path(__file__).with_name("rtsp_server.py")


def rtsp_server_missing() -> str | None:
    """Why no RTSP server can run here (a skip reason), or None."""
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} is missing"
    probe = subprocess.run(
        [
            str(SYSTEM_PYTHON),
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return "GStreamer's RTSP server is not installed (scripts/bootstrap.sh installs it)"
    return None


class RtspServer:
    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> RtspServer:
        """Start and wait until it listens (it prints ``ready``)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SYSTEM_PYTHON), str(SCRIPT), str(self.port)], stdout=subprocess.PIPE, stderr=log
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == b"ready", f"the RTSP server did not start: {self.log_path.read_text()}"
        return self

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


__all__ = ["RtspServer", "rtsp_server_missing"]
