"""The capture process: one connection of one network camera, in a child of the daemon.

OpenCV's FFmpeg backend opens one capture at a time per process (a mutex in
``CvCapture_FFMPEG::open``), so a camera that accepts the connection and never answers
would hold every other camera's open for its whole ``open_timeout_s``. Each network camera
connection therefore opens and reads in a process of its own, started from a fork server
that has OpenCV loaded (milliseconds, not an interpreter start). The daemon's side is
``camera_process.py``; this module is what runs in the child.

The child opens the camera, says so, then reads frames as fast as the camera sends them
into a ring of ``SLOTS`` frames in anonymous shared memory (``memfd``: no name in
``/dev/shm``, so nothing is left behind whoever dies first) and sends each frame's slot
number over the pipe; the daemon copies the frame out and hands the slot back. A failed
open or read is one ``failed`` message, then the child exits: every reconnect is a fresh
process.

The child never outlives the daemon: it ignores SIGTERM and SIGINT (a stop is the daemon's
to decide, and it closes its cameras itself), and asks the kernel for SIGKILL when its
parent, the fork server, exits, which the fork server does as soon as the daemon is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import multiprocessing.forkserver
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.reduction import send_handle

import numpy as np

from lepton.edge.sources.base import SourceUnavailableError
from lepton.edge.sources.camera import CameraSource
from lepton.edge.sources.configs import CameraSourceConfig

SLOTS = 2
"""Frames in flight: one the daemon copies out while the child decodes the next. More would
only add latency to a live camera."""

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1

# Messages, child → daemon (tuples, pickled by the pipe): ("opened",) | ("failed", why) |
# ("buffer", slot_bytes) then the memfd | ("frame", slot, shape, at_ms, mono_ns).
# Daemon → child: a slot number the daemon is done with.


def process_name(camera: str) -> str:
    """What ``ps -o comm`` and ``top`` show for a camera's capture process (15 bytes at most)."""
    return f"lepton-cam:{camera}"[:15]


def _detach(camera: str) -> None:
    """Die with the fork server, leave stop signals to the daemon, and say which camera this is."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The fork server exits when the last holder of its "alive" pipe is gone: the daemon, and every
    # child it forked. Drop the child's copy so that the server, and with it this child, go with the daemon.
    alive_fd = getattr(multiprocessing.forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive_fd is not None:
        with contextlib.suppress(OSError):
            os.close(alive_fd)
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getppid()
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(_PR_SET_NAME, process_name(camera).encode(), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


class _Ring:
    """``SLOTS`` frame buffers in one memfd; the daemon maps the same file."""

    def __init__(self, slot_bytes: int, conn: Connection) -> None:
        self.slot_bytes = slot_bytes
        fd = os.memfd_create("lepton-frames", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, SLOTS * slot_bytes)
            self._map = mmap.mmap(fd, SLOTS * slot_bytes)
            conn.send(("buffer", slot_bytes))
            send_handle(conn, fd, os.getppid())
        finally:
            os.close(fd)

    def write(self, slot: int, image: np.ndarray) -> None:
        view = np.ndarray(image.shape, np.uint8, buffer=self._map, offset=slot * self.slot_bytes)
        view[...] = image


def run_capture(config_json: str, conn: Connection) -> None:
    """The child's whole life: open, then stream frames until the camera or the daemon goes."""
    config = CameraSourceConfig.model_validate_json(config_json)
    _detach(config.camera)
    source = CameraSource(config)
    try:
        try:
            source.open()
        except SourceUnavailableError as err:
            conn.send(("failed", str(err)))
            return
        conn.send(("opened",))
        _stream(source, conn)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the daemon closed this camera (or is gone): nothing left to tell
    finally:
        source.close()


def _stream(source: CameraSource, conn: Connection) -> None:
    ring: _Ring | None = None
    free = list(range(SLOTS))
    while True:
        try:
            frame = source.read()
        except SourceUnavailableError as err:
            conn.send(("failed", str(err)))
            return
        image = frame.image
        if ring is None or image.nbytes > ring.slot_bytes:
            while len(free) < SLOTS:  # the old ring is unmapped only once the daemon is done with it
                free.append(conn.recv())
            ring = _Ring(image.nbytes, conn)
        while conn.poll(0) or not free:  # slots handed back; wait for one when the daemon lags
            free.append(conn.recv())
        slot = free.pop(0)
        ring.write(slot, image)
        conn.send(("frame", slot, image.shape, frame.captured_at_ms, frame.captured_mono_ns))


__all__ = ["SLOTS", "process_name", "run_capture"]
