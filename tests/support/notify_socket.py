"""A fake systemd ``NOTIFY_SOCKET``: a real unix datagram socket whose messages the test reads."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from tests.support.polling import wait_until


class NotifySocket:
    def __init__(self) -> None:
        # unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer
        self._dir = Path(tempfile.mkdtemp(prefix="notify-", dir="/tmp"))
        self.path = self._dir / "notify.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        """(monotonic time received, datagram) in order of arrival."""
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.extend((time.monotonic(), line) for line in data.decode().split("\n") if line)

    def received(self, message: str) -> list[float]:
        """When each ``message`` (e.g. ``WATCHDOG=1``) arrived."""
        with self._lock:
            return [t for t, m in self.messages if m == message]

    def wait_for(self, message: str, timeout_s: float, count: int = 1) -> list[float]:
        return wait_until(
            lambda: (got := self.received(message)) and len(got) >= count and got, timeout_s, message
        )

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


__all__ = ["NotifySocket"]
