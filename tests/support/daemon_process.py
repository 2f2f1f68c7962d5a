"""``lepton-edge run`` as a child process that tests can watch, signal and kill.

The daemon logs each event it committed (``camera <cam>: new|end <label> <event_id>``)
right after the outbox commit returned, so its log is an exact account of what it
committed; the outbox database holds what it has not delivered yet. Together they give
the set of messages a fault test must find at the subscriber.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.daemon import BIN
from tests.support.polling import wait_until

_COMMITTED = re.compile(r"camera (\S+): (new|end) \S+ ([0-9a-f-]{36})$", re.MULTILINE)


class DaemonProcess:
    def __init__(
        self, config: Path, log_path: Path, *, env: Mapping[str, str] | None = None, verbose: bool = False
    ) -> None:
        self.config = config
        self.log_path = log_path
        self._env = None if env is None else {**os.environ, **env}
        self._verbose = verbose
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        args = [
            str(BIN / "lepton-edge"),
            *(["-v"] if self._verbose else []),
            "run",
            "--config",
            str(self.config),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self._env)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout_s: float, count: int = 1) -> str:
        """Wait until ``pattern`` (a regex) occurs ``count`` times in the log; fails if the daemon exits."""
        regex = re.compile(pattern)

        def seen() -> bool:
            if len(regex.findall(self.log())) >= count:
                return True
            if not self.running:
                raise AssertionError(f"lepton-edge exited before logging {pattern!r}:\n{self.tail()}")
            return False

        wait_until(seen, timeout_s, f"{pattern!r} x{count} in the daemon log")
        return self.log()

    def committed(self) -> set[tuple[str, str]]:
        """``(event_id, type)`` of every event this daemon's log says it committed."""
        return {(m.group(3), m.group(2)) for m in _COMMITTED.finditer(self.log())}

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"lepton-edge still running after {timeout_s} s:\n{self.tail()}") from None

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


# --- the outbox database, read as an operator with sqlite3 would -------------------------------
def outbox_keys(db_path: Path) -> set[tuple[str, str]]:
    """``(event_id, kind)`` of every undelivered row (the daemon deletes a row once PUBACKed)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT message_key FROM outbox").fetchall()
    finally:
        db.close()
    return {(key.split("/", 1)[0], key.split("/", 1)[1]) for (key,) in rows}


def outbox_rows(db_path: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [
            dict(r) for r in db.execute("SELECT id, message_key, topic, attempts, last_error FROM outbox")
        ]
    finally:
        db.close()


def dead_letters(db_path: Path) -> int:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0])
    finally:
        db.close()


def integrity_check(db_path: Path) -> str:
    """``PRAGMA integrity_check`` on the file as it is on disk (WAL included)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return "\n".join(str(r[0]) for r in db.execute("PRAGMA integrity_check").fetchall())
    finally:
        db.close()


__all__ = [
    "DaemonProcess",
    "dead_letters",
    "integrity_check",
    "outbox_keys",
    "outbox_rows",
]
