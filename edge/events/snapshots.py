"""Snapshots: the JPEG of a defect's frame with its finding drawn on it.

Saved atomically under the state directory and published next to the event, which names
it by topic and sha256. Snapshots live under their own quota and are evicted oldest
first: an operator needs the recent ones; events, not pictures, are what must never be lost.

So a snapshot sits on the event's critical path as little as it can:

- It is rendered ahead (``render_ahead``, on this store's own thread) from the frame before
  the one that confirms the defect, while that one is captured and inferred; the pipeline
  only waits for it, and writes it, when the ``new`` event is committed. Encoding a JPEG is
  milliseconds (more on a Jetson's CPU), a frame interval is 10-40 ms.
- The finding is drawn on the frame itself (the pipeline is done with it; a copy of a
  1280x720 frame cost more than the drawing).
- The file is written without fsync, so the event's outbox commit is the only fsync between a
  defect and its alert (each one is about 1 ms here, tens of milliseconds on an SD card). A
  power cut before writeback can leave the newest pictures torn: ``read_snapshot`` tells, and
  the sender drops them as it drops evicted ones.

A snapshot that cannot be written (a full disk, an I/O error) is dropped, counted and
alarmed (``snapshots_dropped``): its event is committed without a picture. On a full disk
pictures go first; the outbox keeps a reserve for the events themselves.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from lepton.edge.alarms import Alarms
from lepton.edge.atomic_write import write_bytes_atomic
from lepton.edge.config.models import SnapshotConfig
from lepton.edge.events.schema import Finding

log = logging.getLogger(__name__)

_RED = (0, 0, 255)

ALARM_SNAPSHOTS_DROPPED = "snapshots_dropped"


_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"


def draw_heatmap(canvas: npt.NDArray[np.uint8], heat: npt.NDArray[np.float32]) -> None:
    """Blend an anomaly map (frame-sized, 0.5 = threshold) onto ``canvas`` where it is above 0.5 - 0.2.

    Only the warm part is tinted, so the part itself stays readable for the operator.
    """
    if heat.shape != canvas.shape[:2]:
        raise ValueError(f"heat map {heat.shape} does not match the frame {canvas.shape[:2]}")
    colored = cv2.applyColorMap(np.clip(heat * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    warm = heat >= 0.3
    blended = cv2.addWeighted(canvas, 0.5, colored, 0.5, 0.0)
    np.copyto(canvas, blended, where=warm[:, :, None])


def render_snapshot(canvas: npt.NDArray[np.uint8], finding: Finding, quality: int) -> bytes:
    """Draw the finding on ``canvas`` itself (box when there is one, a banner always); encode a JPEG."""
    if finding.box is not None:
        x1, y1, x2, y2 = finding.box
        thickness = max(2, canvas.shape[1] // 400)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), _RED, thickness)
        cv2.putText(
            canvas, finding.label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _RED, 1, cv2.LINE_AA
        )
    text = f"{finding.label} {finding.score:.2f}"
    scale = max(0.5, canvas.shape[1] / 900)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(canvas, (0, 0), (w + 12, h + base + 12), _RED, -1)
    cv2.putText(canvas, text, (6, h + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the snapshot")
    return encoded.tobytes()


@dataclass(frozen=True)
class RenderedSnapshot:
    """A snapshot encoded but not yet written: the JPEG, its sha256 and the label drawn on it."""

    label: str
    jpeg: bytes
    sha256: str


class SnapshotStore:
    def __init__(
        self, directory: Path, config: SnapshotConfig, alarms: Alarms | None = None, keep_free_bytes: int = 0
    ) -> None:
        self.directory = directory
        self._keep_free_bytes = keep_free_bytes
        self._config = config
        self._alarms = alarms or Alarms()
        self._lock = threading.Lock()
        self._renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshots")
        self.dropped = 0
        """Snapshots that could not be written (disk full): their events went without one."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a full disk at start: snapshots are dropped until it has room
            log.warning("snapshots %s: cannot create the directory (%s)", directory, err.strerror)
        for leftover in directory.glob(".*.part"):  # a write cut short by kill -9 or a power cut
            leftover.unlink(missing_ok=True)
        # (file name, bytes), oldest first: a name and an int per snapshot, since the index
        # holds one entry per snapshot the quota keeps (about 10,000 with the default)
        kept = sorted((p.stat().st_mtime, p.name, p.stat().st_size) for p in directory.glob("*.jpg"))
        self._files: deque[tuple[str, int]] = deque((name, size) for _mtime, name, size in kept)
        self._bytes = sum(size for _name, size in self._files)
        self.evicted = 0

    def render_ahead(self, image: npt.NDArray[np.uint8], finding: Finding) -> Future[RenderedSnapshot]:
        """Draw the finding on ``image`` (which it changes) and encode it, on this store's thread."""
        return self._renderer.submit(self._render, image, finding)

    def save(self, event_id: str, image: npt.NDArray[np.uint8], finding: Finding) -> tuple[Path, str] | None:
        """Draw the finding on ``image`` (which it changes), write the JPEG; its path and sha256."""
        return self.keep(event_id, self._render(image, finding))

    def keep(self, event_id: str, rendered: RenderedSnapshot) -> tuple[Path, str] | None:
        """Write a rendered snapshot as the event's, within the quota; its path and sha256.

        None when it cannot be written: the event goes without a picture rather than not at all.
        """
        path = self.directory / f"{event_id}.jpg"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)  # a start on a full disk could not make it
            self._check_room(len(rendered.jpeg))
            write_bytes_atomic(path, rendered.jpeg, durable=False)  # the event's commit is the real fsync
        except OSError as err:
            self.dropped += 1
            self._alarms.raise_alarm(
                ALARM_SNAPSHOTS_DROPPED,
                f"snapshots {self.directory}: not written ({err.strerror}); {self.dropped} event(s) sent "
                "without their snapshot so far; free space under service.state_dir",
            )
            return None
        self._alarms.clear(ALARM_SNAPSHOTS_DROPPED)
        with self._lock:
            self._files.append((path.name, len(rendered.jpeg)))
            self._bytes += len(rendered.jpeg)
            self._evict()
        return path, rendered.sha256

    def _check_room(self, size: int) -> None:
        """Raise ENOSPC when writing would leave less free than the outbox's reserve."""
        if self._keep_free_bytes <= 0:
            return
        stat = os.statvfs(self.directory)
        free = stat.f_bavail * stat.f_frsize
        if free < self._keep_free_bytes + size:
            raise OSError(
                errno.ENOSPC,
                f"{free} bytes free, kept for events (outbox.reserve_bytes = {self._keep_free_bytes})",
            )

    def close(self) -> None:
        """Stop the render thread; renders not started yet are dropped (their events are not committed)."""
        self._renderer.shutdown(wait=True, cancel_futures=True)

    def _render(self, image: npt.NDArray[np.uint8], finding: Finding) -> RenderedSnapshot:
        data = render_snapshot(image, finding, self._config.jpeg_quality)
        return RenderedSnapshot(finding.label, data, hashlib.sha256(data).hexdigest())

    def _evict(self) -> None:
        while self._bytes > self._config.max_bytes and len(self._files) > 1:
            name, size = self._files.popleft()
            self._bytes -= size
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                continue
            self.evicted += 1
            log.info("snapshot quota (snapshots.max_bytes): evicted %s", name)


def read_snapshot(path: Path) -> bytes | None:
    """The snapshot's JPEG when the file is whole; None when it was evicted or a power cut tore it."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(_JPEG_START) and data.endswith(_JPEG_END) else None


__all__ = [
    "ALARM_SNAPSHOTS_DROPPED",
    "RenderedSnapshot",
    "SnapshotStore",
    "draw_heatmap",
    "read_snapshot",
    "render_snapshot",
]
