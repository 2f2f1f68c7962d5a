"""A live camera through OpenCV: RTSP/HTTP streams via FFmpeg, USB cameras via V4L2.

Opening and reading are bounded by timeouts (OpenCV's defaults are 30 s, and older builds
could block forever). A failed open or read raises ``SourceUnavailableError``; the capture
worker (``edge/service/capture.py``) reports the camera's state, backs off with jitter and
opens it again, so this class holds no retry loop and no state of its own.

OpenCV's FFmpeg backend opens one capture at a time, process-wide (a mutex in
``CvCapture_FFMPEG::open``): a server that accepts the connection and never answers would
hold every other camera's (re)connection for its whole ``open_timeout_s``. So the daemon
runs this class in its own process only for device paths (V4L2 has no such lock); a network
camera runs it in a capture process of its own (``camera_process.py``).
"""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import urlsplit, urlunsplit

import cv2

from lepton.edge.sources.base import CallBounds, Frame, FrameSource, SourceUnavailableError
from lepton.edge.sources.configs import CameraSourceConfig

log = logging.getLogger(__name__)


def redact(uri: str) -> str:
    """The URI as logs and status messages may show it: a password in it becomes ``***``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class CameraSource(FrameSource):
    live = True

    def __init__(self, config: CameraSourceConfig) -> None:
        super().__init__(config.camera)
        self.config = config
        self.bounds = CallBounds(open_s=config.open_timeout_s, read_s=config.read_timeout_s)
        self._capture: cv2.VideoCapture | None = None
        self._shown_uri = redact(config.uri)

    def _connect(self) -> cv2.VideoCapture:
        uri = self.config.uri
        if uri.startswith("/dev/"):
            # V4L2 has no open/read timeout property; OpenCV reads this once per process.
            os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(int(self.config.read_timeout_s)))
            return cv2.VideoCapture(uri, cv2.CAP_V4L2)
        # Open-only properties: they must be passed to the constructor, not set() later.
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.config.read_timeout_s * 1000),
        ]
        if self.config.decode_threads:
            params += [cv2.CAP_PROP_N_THREADS, self.config.decode_threads]
        return cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)

    def open(self) -> None:
        """Connect, or raise ``SourceUnavailableError`` saying why as far as OpenCV lets us know."""
        self.close()
        started = time.monotonic()
        capture = self._connect()
        if capture.isOpened():
            self._capture = capture
            return
        capture.release()
        elapsed_s = time.monotonic() - started
        # OpenCV reports no cause; the time it took tells a silent server from a refusal.
        why = (
            f"no answer within open_timeout_s ({self.config.open_timeout_s:g} s)"
            if elapsed_s >= self.config.open_timeout_s * 0.9
            else "refused, not found or not a video stream"
        )
        raise SourceUnavailableError(f"cannot open {self._shown_uri}: {why}")

    def read(self) -> Frame:
        """The next frame, or ``SourceUnavailableError`` when the stream failed or timed out."""
        if self._capture is None:
            raise SourceUnavailableError("read before open")
        ok, image = self._capture.read()
        if not ok or image is None:
            self.close()
            raise SourceUnavailableError(
                f"stream {self._shown_uri} ended or sent nothing for "
                f"read_timeout_s ({self.config.read_timeout_s:g} s)"
            )
        return self._stamp(image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
