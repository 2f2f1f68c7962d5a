"""How many frames the engine gets per call at most: measured on the device, at start.

The pipeline runs the frames that queued up behind inference as one batch. That saves the
per-call overhead (Python, the runtime's dispatch), and on a GPU batching is where the
speed is; but on a CPU a larger batch can cost more per frame, once its activations no
longer fit the core's cache: the engine-bound benchmark model took 1.36 ms a frame alone
and 1.49 ms in fours, which held the daemon at 0.89 of the bare engine. Which way it goes
depends on the model, the backend and the device, so with ``engine.batch_max = "auto"``
the daemon times each batch size the bundle allows, once, and batches up to the fastest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import InputSpec, Manifest
from lepton.edge.engines.base import Engine
from lepton.edge.engines.smoke_test import golden_inputs
from lepton.edge.errors import ConfigError

log = logging.getLogger(__name__)

CANDIDATES = (1, 2, 4, 8, 16, 32, 64)
CLOSE_ENOUGH = 1.03
"""A smaller batch within 3 % of the fastest cost per frame wins: it waits less."""


@dataclass(frozen=True)
class BatchTiming:
    batch_max: int
    ms_per_frame: dict[int, float]
    """Best of the timed calls at each size tried, per frame."""

    def describe(self) -> str:
        return ", ".join(f"{size}: {ms:.3f}" for size, ms in self.ms_per_frame.items())


def sizes_to_try(spec: InputSpec) -> list[int]:
    """The candidate sizes within the bundle's range, and its own ``batch_max``."""
    sizes = [b for b in CANDIDATES if spec.batch_min <= b <= spec.batch_max]
    if spec.batch_max not in sizes:
        sizes.append(spec.batch_max)
    return sizes


def batch_of(sample: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """``size`` frames of ``sample`` (its frames repeated), as the engines take them."""
    return np.ascontiguousarray(np.resize(sample, (size, *sample.shape[1:])), dtype=np.float32)


def fastest_batch(
    engine: Engine,
    sample: npt.NDArray[np.float32],
    *,
    budget_s: float = 0.05,
    clock: Callable[[], float] = time.perf_counter,
    sizes: list[int] | None = None,
    total_budget_s: float | None = None,
) -> BatchTiming:
    """Time ``engine`` at each size (``sample`` frames repeated to fill the batch), warm.

    Each size runs once to warm up, then at least 3 times and until ``budget_s`` is spent;
    the best call counts, since noise on a shared box only ever adds time. With
    ``total_budget_s`` (the engine choice's per-candidate budget) each size gets its share of
    it instead, and no size is started once it is spent (a slow model keeps start-up bounded).
    """
    costs: dict[int, float] = {}
    began = clock()
    sizes = sizes or sizes_to_try(engine.manifest.input)
    if total_budget_s is not None:  # spread over the sizes: a single size gets all of it
        budget_s = total_budget_s / len(sizes)
    for size in sizes:
        if costs and total_budget_s is not None and clock() - began >= total_budget_s:
            break
        batch = batch_of(sample, size)
        engine.infer(batch)
        best, calls, started = float("inf"), 0, clock()
        while calls < 3 or clock() - started < budget_s:
            t0 = clock()
            engine.infer(batch)
            best = min(best, clock() - t0)
            calls += 1
        costs[size] = best * 1000.0 / size
    return timing_of(costs)


def timing_of(costs: dict[int, float]) -> BatchTiming:
    """The batch size to use given ms per frame by size: the smallest within ``CLOSE_ENOUGH``."""
    fastest = min(costs.values())
    chosen = min(size for size, ms in costs.items() if ms <= fastest * CLOSE_ENOUGH)
    return BatchTiming(chosen, costs)


def check_batch_max(spec: InputSpec, configured: int | Literal["auto"]) -> None:
    """A fixed ``engine.batch_max`` must lie in the bundle's range."""
    if configured != "auto" and not spec.batch_min <= configured <= spec.batch_max:
        raise ConfigError(
            f"engine.batch_max = {configured} is outside the bundle's batch range "
            f'[{spec.batch_min}, {spec.batch_max}]; set a size within it, or "auto"'
        )


def timing_sample(manifest: Manifest, bundle_dir: Path) -> npt.NDArray[np.float32]:
    """The golden inputs (real preprocessed images), or zeros for a bundle without them."""
    sample = golden_inputs(manifest, bundle_dir)
    if sample is None:
        spec = manifest.input
        sample = np.zeros((1, spec.channels, spec.height, spec.width), dtype=np.float32)
    return sample


def choose_batch_max(engine: Engine, bundle_dir: Path, configured: int | Literal["auto"]) -> int:
    """``engine.batch_max`` from the config, checked against the bundle, or measured when "auto"."""
    check_batch_max(engine.manifest.input, configured)
    if configured != "auto":
        return configured
    timing = fastest_batch(engine, timing_sample(engine.manifest, bundle_dir))
    log.info(
        "engine %s: up to %d frame(s) per call, the fastest per frame (ms per frame by batch size: %s)",
        engine.backend,
        timing.batch_max,
        timing.describe(),
    )
    return timing.batch_max


__all__ = [
    "CANDIDATES",
    "BatchTiming",
    "batch_of",
    "check_batch_max",
    "choose_batch_max",
    "fastest_batch",
    "sizes_to_try",
    "timing_of",
    "timing_sample",
]
