"""Frame-to-PUBACK latency: how late an operator learns of a defect, measured in-process.

The pipeline starts an event's clock as it commits the event (with the frame's monotonic
capture time), under the outbox's lock, so the sender cannot see the row first; the sender
stops it on the event's successful PUBACK. Monotonic time makes
the figure immune to clock steps; an event committed before a restart has no clock and
gives no sample (its delay is in ``outbox_oldest_age_s`` instead). Each sample is split at
the commit, so a slow tail shows its side: before it (queueing, inference, snapshot, the
outbox's fsync) or after it (the sender, the network, the broker). Both sides are cheap
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


def _summarise(samples: list[float]) -> LatencySummary:
    ordered = sorted(samples)
    return LatencySummary(
        count=len(ordered),
        p50=round(statistics.median(ordered), 3),
        p99=round(nearest_rank(ordered, 0.99), 3),
        max=round(ordered[-1], 3),
    )


@dataclass(frozen=True)
class DeliverySummary:
    """The period's events: whole frame-to-PUBACK time, and its two sides of the commit."""

    capture_to_puback: LatencySummary
    capture_to_commit: LatencySummary
    commit_to_puback: LatencySummary


class DeliveryClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # message key -> (capture, commit) monotonic ns
        self._open: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._samples: list[tuple[float, float]] = []  # (capture → commit, commit → PUBACK) ms

    def started(self, message_key: str, captured_mono_ns: int) -> None:
        """The message was committed just now; its frame was captured at ``captured_mono_ns``."""
        committed = time.monotonic_ns()
        with self._lock:
            self._open[message_key] = (captured_mono_ns, committed)
            while len(self._open) > _MAX_OPEN:
                self._open.popitem(last=False)

    def acknowledged(self, message_key: str) -> None:
        """The broker acknowledged the message; a key without a clock is ignored."""
        now = time.monotonic_ns()
        with self._lock:
            clock = self._open.pop(message_key, None)
            if clock is not None and len(self._samples) < _MAX_SAMPLES:
                captured, committed = clock
                self._samples.append(((committed - captured) / 1e6, (now - committed) / 1e6))

    def take(self) -> DeliverySummary | None:
        """Summarise and forget the samples so far; None when there were none."""
        with self._lock:
            samples, self._samples = self._samples, []
        if not samples:
            return None
        return DeliverySummary(
            capture_to_puback=_summarise([before + after for before, after in samples]),
            capture_to_commit=_summarise([before for before, _after in samples]),
            commit_to_puback=_summarise([after for _before, after in samples]),
        )


__all__ = ["DeliveryClock", "DeliverySummary", "LatencySummary", "nearest_rank"]
