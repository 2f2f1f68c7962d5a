"""Other programs keeping the box busy: ``count`` CPU hogs, each a plain busy loop in its own process.

Issue 13 saw the daemon fall further than the bare engine when other processes loaded a
2-core box (load average 5-9). A hog stands for such a process: one runnable thread that
never sleeps, at the default nice, started by the benchmark (so in its session's autogroup,
the same scheduling group as the measured child) and killed by its pid when the window ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import TracebackType

from benchmarks.pipeline.procstat import CpuMark

_BUSY_LOOP = "while True: pass"


class Hogs:
    """``with Hogs(4) as hogs: ...`` keeps 4 busy loops running inside the block; 0 is a no-op."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._procs: list[subprocess.Popen[bytes]] = []
        self._start: list[CpuMark] = []
        self.cores = 0.0
        """Cores the hogs got between ``start`` and ``stop`` (all of them together)."""

    def start(self) -> None:
        if self._procs or not self.count:
            return
        self._procs = [
            subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdin=subprocess.DEVNULL)
            for _ in range(self.count)
        ]
        self._start = [CpuMark.of(p.pid) for p in self._procs]

    def stop(self) -> None:
        if not self._procs:
            return
        try:
            ends = [CpuMark.of(p.pid) for p in self._procs if Path(f"/proc/{p.pid}").exists()]
            self.cores = sum(e.cores_since(s) for s, e in zip(self._start, ends, strict=False))
        finally:
            for proc in self._procs:
                proc.kill()
            for proc in self._procs:
                proc.wait()
            self._procs = []

    def __enter__(self) -> Hogs:
        self.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
