"""A video file as a frame source (replays, the demo line, acceptance tests)."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from lepton.edge.errors import SourceError
from lepton.edge.sources.base import Frame, FrameSource
from lepton.edge.sources.configs import FileSourceConfig
from lepton.edge.sources.pacing import FramePacer

log = logging.getLogger(__name__)


class VideoFileSource(FrameSource):
    live = False

    @property
    def paced(self) -> bool:
        return self._config.realtime

    def __init__(self, config: FileSourceConfig) -> None:
        super().__init__(config.camera)
        self._config = config
        self._capture: cv2.VideoCapture | None = None
        self._pacer: FramePacer | None = None
        self._pending: np.ndarray | None = None
        self._announced = 0  # frames the container's header announces
        self._played = 0  # frames read in this pass through the file
        self.fps = 0.0

    def _open_capture(self) -> cv2.VideoCapture:
        path = self._config.path
        params = [cv2.CAP_PROP_N_THREADS, self._config.decode_threads] if self._config.decode_threads else []
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"camera {self.camera}: cannot open video file {path} (OpenCV/FFmpeg could not "
                "decode it); check that it is a complete video (mp4, avi, mkv) and readable"
            )
        return capture

    def open(self) -> None:
        capture = self._open_capture()
        ok, image = capture.read()
        if not ok or image is None:
            capture.release()
            raise SourceError(
                f"camera {self.camera}: video file {self._config.path} holds no decodable frame; "
                "re-encode or replace the file"
            )
        self._capture = capture
        self._pending = image
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if self._config.realtime:
            self._pacer = FramePacer(self.fps or 25.0)
        log.info("camera %s: playing %s at %.1f fps", self.camera, self._config.path, self.fps)

    def read(self) -> Frame | None:
        if self._capture is None:
            raise SourceError(f"camera {self.camera}: read() before open()")
        image = self._pending
        self._pending = None
        if image is None:
            ok, image = self._capture.read()
            if not ok:
                self._warn_if_cut_short()
            if not ok and self._config.loop:
                self._capture.release()
                self._capture = self._open_capture()
                ok, image = self._capture.read()
            if not ok or image is None:
                return None
        self._played += 1
        if self._pacer is not None:
            self._pacer.wait()
        return self._stamp(image)

    def _warn_if_cut_short(self) -> None:
        """A copy cut short still announces its whole length: it ends early, and a replay that
        stops there would otherwise look like a complete one (exit 0, all events sent)."""
        if 0 < self._played < self._announced:
            log.warning(
                "camera %s: video file %s ended at frame %d of the %d its header announces "
                "(truncated copy?); copy the file again for a complete replay",
                self.camera,
                self._config.path,
                self._played,
                self._announced,
            )
        self._played = 0

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
