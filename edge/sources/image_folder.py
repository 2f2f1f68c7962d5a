"""A folder of still images as a frame source, read in name order."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2

from lepton.edge.errors import SourceError
from lepton.edge.sources.base import Frame, FrameSource
from lepton.edge.sources.configs import ImageFolderSourceConfig
from lepton.edge.sources.pacing import FramePacer

log = logging.getLogger(__name__)


class ImageFolderSource(FrameSource):
    live = False

    @property
    def paced(self) -> bool:
        return self._config.realtime

    def __init__(self, config: ImageFolderSourceConfig) -> None:
        super().__init__(config.camera)
        self._config = config
        self._paths: list[Path] = []
        self._index = 0
        self._pacer: FramePacer | None = None

    def open(self) -> None:
        folder = self._config.path
        if not folder.is_dir():
            raise SourceError(f"camera {self.camera}: image folder {folder} does not exist; fix sources.path")
        self._paths = sorted(folder.glob(self._config.pattern))
        if not self._paths:
            raise SourceError(
                f"camera {self.camera}: no file in {folder} matches {self._config.pattern!r}; "
                "fix sources.pattern or add images"
            )
        if self._config.realtime:
            self._pacer = FramePacer(self._config.fps)

    def read(self) -> Frame | None:
        while True:
            if self._index >= len(self._paths):
                if not self._config.loop:
                    return None
                self._index = 0
            path = self._paths[self._index]
            self._index += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("camera %s: skipping %s: not a readable image", self.camera, path)
                continue
            if self._pacer is not None:
                self._pacer.wait()
            return self._stamp(image)

    def close(self) -> None:
        self._paths = []
