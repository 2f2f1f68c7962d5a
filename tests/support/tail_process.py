"""``lepton-edge tail`` as a child process: its lines read while it runs, stopped by SIGTERM.

Its stdout and stderr go to files, so a test can wait for a line (``wait_for``) without a
pipe that fills up, and read everything at the end. ``SIGTERM`` is how an operator's
terminal or a unit stops it; it must exit 0.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.support.daemon import BIN
from tests.support.polling import wait_until

TAIL = [str(BIN / "lepton-edge"), "tail"]


def run_tail(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """One ``tail`` to its end (``--timeout-s``, ``--count`` or an error)."""
    return subprocess.run([*TAIL, *args], capture_output=True, text=True, timeout=timeout_s, check=False)


class TailProcess:
    def __init__(self, directory: Path, args: Sequence[str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.stdout_path = directory / "stdout"
        self.stderr_path = directory / "stderr"
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TailProcess:
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen([*TAIL, *self.args], stdout=out, stderr=err)
        return self

    def lines(self) -> list[str]:
        return self.stdout_path.read_text(encoding="utf-8").splitlines()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def records(self) -> list[dict[str, Any]]:
        """The ``--json`` lines, parsed; a line still being written is left for the next call."""
        records = []
        for line in self.lines():
            try:
                records.append(json.loads(line))
            except ValueError:
                break
        return records

    def wait_for(self, condition: Callable[[TailProcess], object], timeout_s: float, what: str) -> None:
        def met() -> object:
            assert self.proc is not None
            if self.proc.poll() is not None and not condition(self):
                raise AssertionError(f"tail exited {self.proc.returncode} before {what}: {self.stderr()}")
            return condition(self)

        wait_until(met, timeout_s, what)

    def wait_subscribed(self, timeout_s: float = 60.0) -> None:
        self.wait_for(lambda t: "subscribed at" in t.stderr(), timeout_s, "tail to subscribe")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, as a terminal or a unit stops it; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def returncode(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def kill(self) -> None:
        """Teardown of a test that failed half-way: no tail outlives its test."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)


__all__ = ["TAIL", "TailProcess", "run_tail"]
