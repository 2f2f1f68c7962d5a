"""Pacing a recording at its frame rate, so a file can stand in for a live camera."""

from __future__ import annotations

import time


class FramePacer:
    """Sleeps so that frame n is released no earlier than n / fps after the first one."""

    def __init__(self, fps: float) -> None:
        self._interval_s = 1.0 / fps if fps > 0 else 0.0
        self._start: float | None = None
        self._count = 0

    def wait(self) -> None:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._count * self._interval_s
        if due > now:
            time.sleep(due - now)
        self._count += 1
