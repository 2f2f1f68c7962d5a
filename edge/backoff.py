"""Reconnect delays with full jitter, so a line of boxes does not retry in lock-step."""

from __future__ import annotations

import random


class Backoff:
    """Exponential back-off capped at ``max_s``; each delay is drawn uniformly below the cap.

    Full jitter (AWS architecture blog, "Exponential Backoff and Jitter") spreads a fleet's
    retries after a shared outage such as a broker restart.
    """

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self._min_s = min_s
        self._max_s = max_s
        self._attempt = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        cap = min(self._max_s, self._min_s * (2**self._attempt))
        self._attempt += 1
        return self._rng.uniform(self._min_s, max(self._min_s, cap))

    def reset(self) -> None:
        self._attempt = 0
