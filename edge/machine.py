"""What machine this is, in words, for the reports people compare across machines."""

from __future__ import annotations

import platform
from pathlib import Path


def read_cpu_model(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the machine type where there is none."""
    try:
        for line in cpuinfo_path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.machine() or "unknown"


__all__ = ["read_cpu_model"]
