"""Real camera streams for tests: ffmpeg serving MJPEG over HTTP, as an IP camera would.

``ffmpeg -listen 1`` serves one client and exits when that client goes, so a test that
makes the daemon reconnect starts a new server on the same port (``restart``). Faults are
real signals to this fixture's own ffmpeg process: SIGKILL (server gone), SIGSTOP (server
silent, connection open), SIGCONT.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from tests.support.mosquitto import free_port

FFMPEG = shutil.which("ffmpeg")

MOVING = ("-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25")
"""An animated test pattern: every frame differs, neither dark nor uniform."""

BLACK = ("-re", "-f", "lavfi", "-i", "color=c=black:s=320x240:r=25")
"""A covered lens."""


def still(png: Path) -> tuple[str, ...]:
    """The same picture at 25 fps: a camera whose encoder froze."""
    return ("-re", "-loop", "1", "-framerate", "25", "-i", str(png))


def write_red_still(path: Path) -> Path:
    """A red picture with a brightness ramp (contrast, so it is not "featureless"): a defect
    frame for the colour bundle."""
    ramp = np.linspace(150, 250, 320, dtype=np.float32)
    image = np.zeros((240, 320, 3), dtype=np.uint8)
    image[:, :, 2] = ramp.astype(np.uint8)  # BGR: red ramps, green and blue stay low
    image[:, :, 1] = (ramp * 0.2).astype(np.uint8)
    image[:, :, 0] = (ramp * 0.2).astype(np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


class MjpegServer:
    def __init__(self, source: Sequence[str], log_path: Path, port: int | None = None) -> None:
        assert FFMPEG is not None, "ffmpeg is not installed (scripts/bootstrap.sh installs it)"
        self.source = tuple(source)
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cam.mjpg"

    def start(self) -> MjpegServer:
        assert FFMPEG is not None
        args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *self.source]
        args += ["-an", "-c:v", "mjpeg", "-q:v", "5", "-f", "mpjpeg", "-listen", "1", self.url]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        return self

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped process dies on SIGKILL too; be explicit
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self) -> MjpegServer:
        self.kill()
        return self.start()

    stop = kill


__all__ = ["BLACK", "FFMPEG", "MOVING", "MjpegServer", "still", "write_red_still"]
