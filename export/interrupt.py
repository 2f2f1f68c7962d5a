"""SIGTERM and SIGINT during an export: raised where the signal lands, and again at the next checkpoint.

The handler raises ``Signalled`` in whatever Python frame runs. Where that frame is a
finalizer (``__del__``), a weakref callback or the garbage collector, Python reports the
exception as unraisable and carries on, so the export ignored the signal and ran to its end
(2 of 14 runs of a brought-ONNX export signalled at the INT8 stage; a library's output was
redirected then, so nothing was printed either). The handler therefore also records the
signal, and ``raise_if_signalled``, called at every stage and in the long timing loops,
raises it again. Only the main thread can install handlers; elsewhere (an app embedding
the export) nothing changes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_received: list[int] = []
"""The signals received while ``signals_raise`` is active (the handler appends)."""


class Signalled(BaseException):
    """Raised by the handler: a BaseException, so no ``except Exception`` on the way (ours or a
    library's) mistakes it for a failure of the stage it lands in."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_if_signalled() -> None:
    """A checkpoint: raise a signal received earlier whose exception was swallowed on the way."""
    if _received:
        raise Signalled(_received[0])


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``Signalled`` inside this block (and at its checkpoints)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        _received.append(signum)
        raise Signalled(signum)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
        raise_if_signalled()  # one that landed after the last checkpoint, and was swallowed
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()


__all__ = ["Signalled", "raise_if_signalled", "signals_raise"]
