"""CPU time and memory of a process, read from ``/proc`` (Linux): the same figures for every variant."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuMark:
    """Where a process's CPU time (user + system) and the wall clock stood at one moment."""

    cpu_s: float
    wall_s: float

    @staticmethod
    def of(pid: int) -> CpuMark:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # after "pid (comm)": state is field 3, utime 14, stime 15 (proc(5)), so offset by 3
        utime, stime = int(fields[14 - 3]), int(fields[15 - 3])
        return CpuMark((utime + stime) / _TICKS, time.monotonic())

    @staticmethod
    def own() -> CpuMark:
        return CpuMark(time.process_time(), time.monotonic())

    def cores_since(self, earlier: CpuMark) -> float:
        """Average number of cores kept busy between two marks."""
        return (self.cpu_s - earlier.cpu_s) / max(self.wall_s - earlier.wall_s, 1e-9)


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of ``pid`` in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return values["VmRSS"], values["VmHWM"]


def own_peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux carries it across ``exec`` from the
    forked parent (the benchmark's own 280 MB with torch loaded); VmHWM starts afresh."""
    return memory_mb(os.getpid())[1]
