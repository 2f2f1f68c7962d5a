"""One request at a time, or two at once: measured at start, beside the engine choice.

A model's layers do not split evenly over a CPU's threads (small convolutions, the detection
head, the graph's serial parts), so one request on every core leaves cores idle part of the
time. Two requests side by side, each on its own share of the cores, keep them busy: on 2
cores YOLOv8n at 480x640 made 17.4 frames/s as one ORT request on both and 21.0 as two
single-threaded ones, 16.2 and 19.8 on OpenVINO (1 stream against 2; AMD EPYC, AVX2).
Each frame then takes about twice as long to compute, so with ``engine.parallel_requests =
"auto"`` two requests run only where they make at least ``PARALLEL_GAIN`` times the frames
per second of the fastest engine alone, and ``engine.parallel_requests = 1`` keeps the
shortest latency per frame.

The engines are timed alike, in the same rounds: wall time per frame over a window of calls
with their requests in flight (the best window of each), at the batch size each was given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.config.models import EngineConfig
from lepton.edge.engines.base import Engine, Outputs, usable_cores
from lepton.edge.engines.batch_size import batch_of
from lepton.edge.engines.smoke_test import open_and_verify
from lepton.edge.errors import EngineError

log = logging.getLogger(__name__)

AUTO_REQUESTS = 2
"""What ``"auto"`` tries beside one request: two, one per core of a 2-core box."""
PARALLEL_GAIN = 1.05
"""Two requests must make this many times the frames per second of the fastest alone: each
frame takes longer, which is only worth a gain beyond the timing's noise. The start-up figures
understate the gain the pipeline sees: there the capture thread shares the cores, which
stalls a request spread over every core more than requests on a core each (YOLOv8n, 2 AVX2
cores: OpenVINO INT8 alone 34.8 ms a frame at start and 42.1 in the pipeline, ORT INT8 x2
30.3 and 33.6; at 1.10 the choice flipped to the slower one in one start of three)."""
MIN_MS_PER_FRAME = 5.0
"""With ``"auto"``, two requests are tried only where the fastest engine alone takes at least
this long a frame. Below it the capture thread's decoding and preprocessing (0.5-1 ms a
640x480 frame here, several at 1080p) need a comparable share of the cores, and the hand-off
to a request thread costs more than it gains: the demo classifier (0.7 ms a frame) timed
1.05x faster with two at start but ran 4-5 % slower with them in the pipeline, at 2 threads
(1018-1111 against 1066-1155 frames/s, AVX2). YOLOv8n (30-35 ms) gained 1.25x."""
MIN_CALLS = 3
"""Calls per timing window at least, per request in flight."""


@dataclass(frozen=True)
class Contender:
    """A candidate that passed, as the engine choice timed it: one request, its best batch."""

    engine: Engine
    batch_size: int
    ms_per_frame: float


@dataclass(frozen=True)
class RequestsChoice:
    index: int
    """Which contender runs: the fastest, or the one whose parallel variant is fastest."""
    engine: Engine
    """What runs: that contender's engine, or its variant with more requests (opened)."""
    ms_per_frame: dict[str, float]
    """Wall time per frame by engine label (``ort-cpu int8``, ``ort-cpu int8 x2``), timed
    alike here; empty where nothing was."""
    reason: str
    """Why it runs that many requests: for the log and the status payload."""


def requests_to_try(config: EngineConfig, engine: Engine) -> int | None:
    """How many requests to time beside one for ``engine``, or None: it runs one at a time."""
    wanted = config.parallel_requests
    if wanted == 1:
        return None
    if not engine.concurrent_calls:
        if wanted != "auto":
            log.warning(
                "engine.parallel_requests = %d: %s runs one request at a time; it runs so",
                wanted,
                engine.backend,
            )
        return None
    if wanted == "auto":  # one request per thread at least, of the threads the engine may use
        return AUTO_REQUESTS if (engine.threads or usable_cores()) >= AUTO_REQUESTS else None
    return wanted


def choose_requests(
    contenders: list[Contender],
    fastest: int,
    manifest: Manifest,
    bundle_dir: Path,
    config: EngineConfig,
    sample: npt.NDArray[np.float32],
    *,
    rounds: int,
) -> RequestsChoice:
    """Open the parallel variants that could beat the ``fastest`` contender, smoke-test them,
    time them and it alike in rounds, and say what runs (the unused variants are closed; the
    contenders are the caller's to close).

    The best at one request need not be the best at two (YOLOv8n on 2 AVX2 cores: OpenVINO
    INT8 33.4 ms a frame alone and 34.3 with two requests, ORT INT8 37.0 and 29.6), so every
    contender that could win is tried: one whose time alone is within ``requests`` times the
    fastest's (n requests make at most n times the frames). ``engine.parallel_requests`` = N
    runs the fastest contender with N requests, without comparing.
    """
    first = contenders[fastest]
    forced = config.parallel_requests != "auto"
    if not forced and first.ms_per_frame < MIN_MS_PER_FRAME:
        reason = (
            f"one request at a time: {first.engine.label} takes {first.ms_per_frame:.2f} ms a frame, "
            f"under the {MIN_MS_PER_FRAME:g} ms where two requests pay"
        )
        return RequestsChoice(fastest, first.engine, {}, reason)
    variants: list[tuple[int, Engine]] = []
    """(contender index, its parallel variant), opened."""
    for i, contender in enumerate(contenders):
        if forced and i != fastest:
            continue
        requests = requests_to_try(config, contender.engine)
        if requests is None or contender.ms_per_frame > first.ms_per_frame * requests:
            continue
        variant = open_variant(contender.engine, manifest, bundle_dir, requests)
        if variant is not None:
            variants.append((i, variant))
    if not variants:
        return RequestsChoice(fastest, first.engine, {}, "one request at a time")
    timed = [(fastest, first.engine), *variants]
    """The fastest contender alone, then the variants: each timed at its contender's batch."""
    batches = [batch_of(sample, contenders[i].batch_size) for i, _ in timed]
    ms = [float("inf")] * len(timed)
    budget_s = config.measure_budget_s / rounds
    try:
        for _ in range(rounds):
            for n, ((_, engine), batch) in enumerate(zip(timed, batches, strict=True)):
                ms[n] = min(ms[n], ms_per_frame(engine, batch, budget_s))
    except EngineError as err:  # a variant that fails while timed: one request at a time
        log.warning("engine refused while timed with several requests: %s", err)
        for _, variant in variants:
            variant.close()
        return RequestsChoice(fastest, first.engine, {}, f"several requests refused: {err}")
    n_best = min(range(1, len(timed)), key=ms.__getitem__)
    best, variant = timed[n_best]
    gain = ms[0] / ms[n_best]
    figures = {engine.label: float(f"{value:.6g}") for (_, engine), value in zip(timed, ms, strict=True)}
    versus = f"{variant.label} made {gain:.2f}x the frames/s of {first.engine.label}"
    if forced:
        index, kept, reason = best, variant, f"engine.parallel_requests = {variant.requests}"
    elif gain >= PARALLEL_GAIN:
        index, kept, reason = best, variant, versus
    else:
        index, kept, reason = fastest, first.engine, f"{versus} (under {PARALLEL_GAIN:.2f}x)"
    for _, engine in variants:
        if engine is not kept:
            engine.close()
    log.info("engine %s runs: %s (ms per frame with its requests in flight: %s)", kept.label, reason,
             ", ".join(f"{label} {value:.3f}" for label, value in figures.items()))  # fmt: skip
    return RequestsChoice(index, kept, figures, reason)


def open_variant(engine: Engine, manifest: Manifest, bundle_dir: Path, requests: int) -> Engine | None:
    """``engine``'s model and arithmetic with ``requests`` requests, opened and smoke-tested;
    None (and why, in the log) where it failed."""
    variant = type(engine)(
        engine.model_path,
        manifest,
        engine.precision,
        engine.threads,
        compute=engine.compute,
        cache_dir=engine.cache_dir,
        tensorrt=engine.tensorrt,
        requests=requests,
    )
    try:
        open_and_verify(variant, manifest, bundle_dir, keep_open=True, quarantine=False)
    except EngineError as err:
        log.warning("engine %s refused: %s", variant.label, err)
        return None
    return variant


def ms_per_frame(
    engine: Engine,
    batch: npt.NDArray[np.float32],
    budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Wall time per frame with ``engine.requests`` calls in flight, over a window of at least
    ``MIN_CALLS`` calls per request and ``budget_s``, after one warm call per request."""
    for warm in [engine.submit(batch) for _ in range(engine.requests)]:
        warm.result()
    in_flight: list[Future[Outputs]] = [engine.submit(batch) for _ in range(engine.requests)]
    calls, started = 0, clock()
    while calls < MIN_CALLS * engine.requests or clock() - started < budget_s:
        in_flight.pop(0).result()
        calls += 1
        in_flight.append(engine.submit(batch))
    elapsed = clock() - started
    for future in in_flight:
        future.result()
    return elapsed * 1000.0 / (calls * int(batch.shape[0]))


__all__ = [
    "AUTO_REQUESTS",
    "MIN_MS_PER_FRAME",
    "PARALLEL_GAIN",
    "Contender",
    "RequestsChoice",
    "choose_requests",
    "ms_per_frame",
    "open_variant",
    "requests_to_try",
]
