"""A network camera read through a capture process of its own (``capture_child.py``).

Why a process: OpenCV's FFmpeg backend opens one capture at a time per process, so in one
process a camera that accepts the connection and never answers holds every other camera's
open for its ``open_timeout_s``; and a driver that ignores its timeouts wedges a thread for
good, while a process can be killed. Each ``open`` starts a child (forked from a server
with OpenCV already loaded), ``read`` takes the next frame it captured out of shared memory,
``close`` ends it. The daemon never blocks on the child longer than the camera's own
timeouts plus ``MARGIN_S``: a child that overruns is killed and the camera is
``reconnecting``, like a child that died, with the reason.

Device paths (``/dev/v4l/…``, V4L2) stay in the daemon's process (``camera.py``): the V4L2
backend has no such lock, and a driver wedged in the kernel leaves its process unkillable
anyway, which the watchdog turns into a restart of the daemon.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import mmap
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import recv_handle
from typing import Any

import numpy as np

from lepton.edge.sources.base import CallBounds, Frame, FrameSource, SourceUnavailableError
from lepton.edge.sources.camera import CameraSource, redact
from lepton.edge.sources.capture_child import run_capture
from lepton.edge.sources.configs import CameraSourceConfig, runs_in_child

log = logging.getLogger(__name__)

START_S = 30.0
"""How long a capture process may take to start: the first one also starts the fork server,
which imports OpenCV (about a second; more on a loaded box)."""

MARGIN_S = 2.0
"""How long past the camera's own open or read timeout the daemon waits before it counts the
capture process as wedged and kills it."""

EXIT_WAIT_S = 1.0
"""How long a closed capture process gets to release its camera before SIGKILL."""

_CONTEXT = "forkserver"
_PRELOAD = ["__main__", "lepton.edge.sources.fork_server", "lepton.edge.sources.capture_child"]
"""What the fork server imports once, before it forks any child (``fork_server.py`` says why)."""


_LIVE: set[BaseProcess] = set()
"""Every capture process not yet ended, killed at exit: multiprocessing's own exit handler would
send them SIGTERM, which they ignore, and then wait for them."""


@atexit.register
def _kill_live() -> None:
    for child in list(_LIVE):
        if child.exitcode is None:
            child.kill()


def create_camera(config: CameraSourceConfig) -> FrameSource:
    """The source kind ``camera``: a capture process for a network camera, in-process for a device."""
    return CameraProcessSource(config) if runs_in_child(config) else CameraSource(config)


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"


class CameraProcessSource(FrameSource):
    live = True

    def __init__(self, config: CameraSourceConfig) -> None:
        super().__init__(config.camera)
        self.config = config
        # What the capture worker's wedge check allows: never reached, since every wait below
        # is bounded by these and then kills the child.
        self.bounds = CallBounds(
            open_s=START_S + config.open_timeout_s + MARGIN_S, read_s=config.read_timeout_s + MARGIN_S
        )
        self._shown_uri = redact(config.uri)
        self._child: BaseProcess | None = None
        self._conn: Connection | None = None
        self._map: mmap.mmap | None = None
        self._slot_bytes = 0
        self._lock = threading.Lock()
        """Guards the child against ``interrupt`` from the main thread."""
        self._interrupted = False

    @property
    def pid(self) -> int | None:
        """The capture process of the current connection, if any."""
        return None if self._child is None else self._child.pid

    def open(self) -> None:
        """Start a capture process and wait for it to open the camera (or say why not)."""
        self.close()
        if self._interrupted:
            raise SourceUnavailableError("stopping")
        ctx: Any = multiprocessing.get_context(_CONTEXT)
        ctx.set_forkserver_preload(_PRELOAD)  # read once, when the fork server starts
        conn, child_conn = ctx.Pipe(duplex=True)
        child = ctx.Process(
            target=run_capture,
            args=(self.config.model_dump_json(), child_conn),
            name=f"capture-{self.camera}",
            daemon=True,
        )
        try:
            child.start()
        except OSError as err:  # no fork server (out of memory, TasksMax, no writable /tmp): retried
            conn.close()
            raise SourceUnavailableError(f"cannot start a capture process: {err}") from err
        finally:
            child_conn.close()
        with self._lock:
            self._child, self._conn = child, conn
            _LIVE.add(child)
            interrupted = self._interrupted
        if interrupted:
            self.close()
            raise SourceUnavailableError("stopping")
        reply = self._receive(START_S + self.config.open_timeout_s + MARGIN_S, "open")
        if reply[0] != "opened":
            self.close()
            raise SourceUnavailableError(str(reply[1]))

    def read(self) -> Frame:
        """The next frame the capture process took, or ``SourceUnavailableError`` saying why not."""
        if self._conn is None:
            raise SourceUnavailableError("read before open")
        while True:
            message = self._receive(self.config.read_timeout_s + MARGIN_S, "read")
            if message[0] == "buffer":
                self._map_buffer(int(message[1]))
            elif message[0] == "frame":
                return self._take(*message[1:])
            else:
                self.close()
                raise SourceUnavailableError(str(message[1]))

    def interrupt(self) -> None:
        """Stopping: kill the capture process, so that a wait for it returns now."""
        with self._lock:
            self._interrupted = True
            child = self._child
        if child is not None and child.exitcode is None:
            child.kill()

    def close(self) -> None:
        """End the capture process: it gets ``EXIT_WAIT_S`` to release the camera, then SIGKILL."""
        with self._lock:
            conn, child, buffer = self._conn, self._child, self._map
            self._conn = self._child = self._map = None
        if conn is not None:
            conn.close()  # the child's next send fails: it releases the camera and exits
        if child is not None:
            self._end(child, EXIT_WAIT_S)
        if buffer is not None:
            buffer.close()

    def _end(self, child: BaseProcess, wait_s: float) -> int | None:
        """Wait ``wait_s`` for the child to exit, else SIGKILL it; its exit code (None: it would not die)."""
        _LIVE.discard(child)
        child.join(wait_s)
        if child.exitcode is None:
            child.kill()
            child.join(EXIT_WAIT_S)
        exitcode = child.exitcode
        if exitcode is None:
            log.warning(
                "camera %s: capture process %s did not exit after SIGKILL (blocked in the kernel?)",
                self.camera, child.pid,
            )  # fmt: skip
        else:
            child.close()
        return exitcode

    def _receive(self, timeout_s: float, what: str) -> tuple[Any, ...]:
        """The capture process's next message; a silence past ``timeout_s`` or its death raise."""
        conn, child = self._conn, self._child
        assert conn is not None and child is not None
        if not conn.poll(timeout_s):
            with self._lock:
                self._conn = self._child = None
            conn.close()
            self._end(child, 0.0)
            raise SourceUnavailableError(
                f"{what} of {self._shown_uri} blocked {timeout_s:g} s, past its timeout: the capture "
                "process was killed"
            )
        try:
            message: tuple[Any, ...] = conn.recv()
        except (EOFError, OSError):
            with self._lock:
                self._conn = self._child = None
            conn.close()
            exitcode = self._end(child, EXIT_WAIT_S)
            raise SourceUnavailableError(
                f"the capture process of {self._shown_uri} died ({_how_it_ended(exitcode)})"
            ) from None
        return message

    def _map_buffer(self, slot_bytes: int) -> None:
        assert self._conn is not None and self._child is not None
        try:
            fd = recv_handle(self._conn)
        except (EOFError, OSError, RuntimeError) as err:  # the child died while passing it
            self.close()
            raise SourceUnavailableError(f"the capture process of {self._shown_uri} died ({err})") from None
        try:
            size = os.fstat(fd).st_size
            if self._map is not None:
                self._map.close()
            self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            self._slot_bytes = slot_bytes
        finally:
            os.close(fd)

    def _take(self, slot: int, shape: tuple[int, ...], at_ms: int, mono_ns: int) -> Frame:
        assert self._conn is not None and self._map is not None
        view = np.ndarray(shape, np.uint8, buffer=self._map, offset=slot * self._slot_bytes)
        image = view.copy()  # the pipeline owns its frame (a snapshot draws on it)
        del view
        with contextlib.suppress(OSError):
            self._conn.send(slot)  # a child gone now is seen at the next read
        return self._stamp(image, at_ms, mono_ns)


__all__ = ["MARGIN_S", "START_S", "CameraProcessSource", "create_camera"]
