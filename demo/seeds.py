"""Independent random streams derived from the one ``--seed`` of a build.

Each consumer keys its ``numpy`` generator by (seed, stream, ...), so the video, every data
set split and every chunk of a split draw from disjoint streams, and a chunk renders the
same images whichever worker process happens to run it.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    TRAIN = 1
    VAL = 2
    TEST = 3
    VIDEO = 10


def generator(seed: int, stream: Stream, *keys: int) -> np.random.Generator:
    """A fresh generator for one stream (and optional sub-keys such as a chunk index)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng([seed, int(stream), *keys])


__all__ = ["Stream", "generator"]
