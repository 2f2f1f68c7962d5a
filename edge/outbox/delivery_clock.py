"""Frame-to-PUBACK latency: how late an operator learns of a defect, measured in-process.

The pipeline starts an event's clock when it commits the event (with the frame's monotonic
capture time); the sender stops it on the event's successful PUBACK. Monotonic time makes
the figure immune to clock steps; an event committed before a restart has no clock and
gives no sample (its delay is in ``outbox_oldest_age_s`` instead). Both sides are cheap
dictionary operations under one lock, and the book is bounded: a daemon runs for months,
and a row dead-lettered or dropped never stops its clock.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

_MAX_OPEN = 10_000
_MAX_SAMPLES = 10_000


def nearest_rank(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of already sorted values (``benchmarks/`` uses it too)."""
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of the samples taken since the last summary (milliseconds)."""

    count: int
    p50: float
    p99: float
    max: float


class DeliveryClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[str, int] = OrderedDict()  # message key -> capture monotonic ns
        self._samples: list[float] = []

    def started(self, message_key: str, captured_mono_ns: int) -> None:
        """The message was committed; its frame was captured at ``captured_mono_ns``."""
        with self._lock:
            self._open[message_key] = captured_mono_ns
            while len(self._open) > _MAX_OPEN:
                self._open.popitem(last=False)

    def acknowledged(self, message_key: str) -> None:
        """The broker acknowledged the message; a key without a clock is ignored."""
        now = time.monotonic_ns()
        with self._lock:
            captured = self._open.pop(message_key, None)
            if captured is not None and len(self._samples) < _MAX_SAMPLES:
                self._samples.append((now - captured) / 1e6)

    def take(self) -> LatencySummary | None:
        """Summarise and forget the samples so far; None when there were none."""
        with self._lock:
            samples, self._samples = self._samples, []
        if not samples:
            return None
        samples.sort()
        return LatencySummary(
            count=len(samples),
            p50=round(statistics.median(samples), 3),
            p99=round(nearest_rank(samples, 0.99), 3),
            max=round(samples[-1], 3),
        )


__all__ = ["DeliveryClock", "LatencySummary", "nearest_rank"]
