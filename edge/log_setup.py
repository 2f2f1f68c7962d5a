"""Logging for lepton-edge: plain lines on a terminal, priority-tagged lines for the journal.

Under systemd, stderr is a stream to journald (``$JOURNAL_STREAM`` names its device and
inode). The journal stamps each line itself and reads a ``<N>`` prefix as the syslog
priority, so there each line is ``<3>name: message`` (no second timestamp) and
``journalctl -p warning`` finds our warnings. Anywhere else a line keeps its timestamp and
level name.

OpenCV and FFmpeg write to stderr from C, outside Python logging: a refused connection
gave several lines of backend chatter ("backend is generally available but can't be used
to capture by name"). They are quieted before ``cv2`` is imported (``QUIET_NATIVE``); our
sources report each failure in one line of their own.
"""

from __future__ import annotations

import logging
import os
import sys
from types import TracebackType
from typing import TextIO

_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
"""syslog priorities (sd-daemon(3)): crit, err, warning, info, debug."""

QUIET_NATIVE = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "8"}
"""OpenCV's own log to errors, FFmpeg's av_log (as OpenCV sets it) to fatal only (8 =
AV_LOG_FATAL): at its error level FFmpeg still prints each refused connection and every
damaged macroblock of an RTSP stream, which our sources report in one line each. An
operator's own setting in the environment wins (``OPENCV_FFMPEG_LOGLEVEL=24`` to see them)."""


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (custom levels round down to the next known one)."""
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return _PRIORITY[logging.DEBUG]


class JournalFormatter(logging.Formatter):
    """``<N>name: message``: journald takes the priority from the prefix and adds the time."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        # Every line of a multi-line message (a traceback) is its own journal entry: tag each.
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def stderr_is_journal(stream: TextIO | None = None) -> bool:
    """True when stderr is the journal stream systemd connected (``$JOURNAL_STREAM`` = ``dev:inode``).

    Compared with the stream itself, as systemd.exec(5) asks: a child whose stderr was
    redirected (a pipe in a test, a file) inherits the variable but not the journal.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def quiet_native_logs() -> None:
    """OpenCV and FFmpeg to errors only, unless the operator set them; before ``cv2`` loads."""
    for name, value in QUIET_NATIVE.items():
        os.environ.setdefault(name, value)


def _log_unhandled(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("lepton.edge").critical("unhandled error (a bug)", exc_info=(kind, value, tb))


def setup_logging(verbose: bool) -> None:
    """Configure the root logger once, for the journal or for a terminal."""
    quiet_native_logs()
    handler = logging.StreamHandler(sys.stderr)
    if stderr_is_journal():
        handler.setFormatter(JournalFormatter())
        # A bug's traceback, too, at err priority and one entry per line (Python writes it raw).
        sys.excepthook = _log_unhandled
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


__all__ = [
    "QUIET_NATIVE",
    "JournalFormatter",
    "quiet_native_logs",
    "setup_logging",
    "stderr_is_journal",
    "syslog_priority",
]
