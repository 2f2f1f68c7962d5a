"""A live camera through OpenCV: RTSP/HTTP streams via FFmpeg, USB cameras via V4L2.

Opening and reading are bounded by timeouts (OpenCV's defaults are 30 s, and older builds
could block forever); a failed open or read moves the camera to ``reconnecting`` and the
source retries with jittered back-off. ``read`` only returns None once the source is closed.
"""

from __future__ import annotations

import logging
import os

import cv2

from lepton.edge.backoff import Backoff
from lepton.edge.sources.base import Frame, FrameSource
from lepton.edge.sources.configs import CameraSourceConfig

log = logging.getLogger(__name__)


class CameraSource(FrameSource):
    live = True

    def __init__(self, config: CameraSourceConfig) -> None:
        super().__init__(config.camera)
        self._config = config
        self._capture: cv2.VideoCapture | None = None
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)

    def _connect(self) -> cv2.VideoCapture | None:
        uri = self._config.uri
        if uri.startswith("/dev/"):
            # V4L2 has no open/read timeout property; OpenCV reads this once per process.
            os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(int(self._config.read_timeout_s)))
            capture = cv2.VideoCapture(uri, cv2.CAP_V4L2)
        else:
            # Open-only properties: they must be passed to the constructor, not set() later.
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self._config.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self._config.read_timeout_s * 1000),
            ]
            if self._config.decode_threads:
                params += [cv2.CAP_PROP_N_THREADS, self._config.decode_threads]
            capture = cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def open(self) -> None:
        # Never fail start-up on a missing camera: the box must come up and report it.
        self._capture = self._connect()
        self.state = "streaming" if self._capture is not None else "reconnecting"
        if self._capture is None:
            log.warning("camera %s: cannot open %s; will keep retrying", self.camera, self._config.uri)

    def read(self) -> Frame | None:
        while not self._stop_requested.is_set():
            if self._capture is None:
                delay = self._backoff.next_delay_s()
                self.state = "reconnecting"
                if self._stop_requested.wait(delay):
                    break
                self._capture = self._connect()
                if self._capture is None:
                    log.warning("camera %s: reconnect failed; next try within %.0f s", self.camera, delay * 2)
                    continue
                log.info("camera %s: reconnected", self.camera)
            ok, image = self._capture.read()
            if not ok or image is None:
                log.warning("camera %s: read failed or timed out; reconnecting", self.camera)
                self.state = "stalled"
                self._capture.release()
                self._capture = None
                continue
            self._backoff.reset()
            self.state = "streaming"
            return self._stamp(image)
        return None

    def close(self) -> None:
        self.request_stop()
        if self._capture is not None:
            self._capture.release()
            self._capture = None
