"""Run a measuring child process and read back its one JSON line."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.pipeline.results import Measured


def run_child(module: str, *args: str, timeout_s: float = 900.0) -> Measured:
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.pipeline.{module}", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return Measured.from_json(lines[-1])
