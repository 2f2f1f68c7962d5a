"""The self-check a person runs on a box: every backend loads, matches the golden outputs, is timed.

``lepton-edge selfcheck`` answers "does this box compute the right thing, how fast, on which
runtime?" before the line depends on it, with the same candidates, smoke test and timing
the daemon's engine choice uses (``select.py``), plus the figures a person compares with
other tools: latency percentiles at batch 1 and at the best batch, and frames per second.

Where a vendor tool times the same engine (``trtexec`` for TensorRT), its figure sits beside
ours: a backend registers a function in ``EXTERNAL_BENCHMARKS`` (see ``ExternalBenchmark``).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from lepton.edge.bundle.manifest import Manifest
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.base import Engine
from lepton.edge.engines.batch_size import batch_of, fastest_batch, timing_sample
from lepton.edge.engines.parallel_requests import ms_per_frame, open_variant, requests_to_try
from lepton.edge.engines.registry import ENGINE_KINDS, engine_class
from lepton.edge.engines.select import FILE_OF, Candidate, plan_candidates
from lepton.edge.engines.smoke_test import run_smoke_test
from lepton.edge.errors import EngineError
from lepton.edge.machine import read_cpu_model
from lepton.edge.strict_model import StrictModel

RowOutcome = Literal["ok", "unavailable", "load failed", "smoke test failed"]


class Timing(StrictModel):
    batch: int
    calls: int
    p50_ms: float = Field(description="Median latency of one call (the whole batch).")
    p99_ms: float
    fps: float = Field(description="Frames per second over the timed calls.")


class ExternalTiming(StrictModel):
    """A vendor tool's figure for the same engine (e.g. trtexec), and ours as a fraction of it."""

    tool: str
    batch: int
    fps: float
    ratio: float = Field(description="Our frames/s at that batch over the tool's.")
    detail: str = ""


class SelfcheckRow(StrictModel):
    backend: str
    precision: str
    model: str | None = None
    outcome: RowOutcome = "ok"
    reason: str = ""
    cosine: float | None = None
    batch1: Timing | None = None
    best: Timing | None = None
    streamed_fps: float | None = Field(
        default=None,
        description="Frames/s at the best batch through infer_many: batches back to back, more "
        "than one in flight where the backend has asynchronous requests (OpenVINO).",
    )
    parallel_requests: int | None = Field(
        default=None,
        description="Requests the daemon would also time side by side for this candidate "
        "(engine.parallel_requests); None where it runs one at a time.",
    )
    parallel_fps: float | None = Field(
        default=None,
        description="Frames/s at the best batch with parallel_requests calls in flight, each on "
        "its share of the threads, as the daemon runs them where they are faster (it tries them "
        "where the fastest engine alone takes 5 ms a frame or more).",
    )
    external: ExternalTiming | None = None


ExternalBenchmark = Callable[[Engine, int, float], ExternalTiming | None]
"""``(opened engine, batch, our fps at that batch) -> figure``, or None where the tool is absent."""

EXTERNAL_BENCHMARKS: dict[str, str] = {
    # "tensorrt": "lepton.edge.engines.tensorrt_trtexec:run_trtexec",  (the TensorRT backend adds it)
}
"""Backend name → ``module:function`` of its ``ExternalBenchmark``, imported only when that backend runs."""


class SelfcheckReport(StrictModel):
    cpu: str
    bundle: str
    model: str
    threads: int
    rows: tuple[SelfcheckRow, ...]

    @property
    def failed(self) -> tuple[SelfcheckRow, ...]:
        return tuple(r for r in self.rows if r.outcome in ("load failed", "smoke test failed"))


def percentiles_ms(latencies_s: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(latencies_s) * 1000.0, [50, 99])
    return round(float(p50), 3), round(float(p99), 3)


def time_calls(
    engine: Engine, batch: npt.NDArray[np.float32], duration_s: float, min_calls: int = 10
) -> Timing:
    """Call ``engine`` on ``batch`` for ``duration_s`` (at least ``min_calls`` times), after one warm-up."""
    engine.infer(batch)
    latencies: list[float] = []
    started = time.perf_counter()
    while len(latencies) < min_calls or time.perf_counter() - started < duration_s:
        t0 = time.perf_counter()
        engine.infer(batch)
        latencies.append(time.perf_counter() - t0)
    p50, p99 = percentiles_ms(latencies)
    fps = len(batch) * len(latencies) / sum(latencies)
    return Timing(batch=len(batch), calls=len(latencies), p50_ms=p50, p99_ms=p99, fps=round(fps, 1))


def time_streamed(
    engine: Engine, batch: npt.NDArray[np.float32], duration_s: float, min_batches: int = 10
) -> float:
    """Frames/s of ``infer_many`` over copies of ``batch`` for about ``duration_s``."""
    started = time.perf_counter()
    frames = 0

    def stream() -> Iterator[npt.NDArray[np.float32]]:
        sent = 0
        while sent < min_batches or time.perf_counter() - started < duration_s:
            sent += 1
            yield batch

    for outputs in engine.infer_many(stream()):
        frames += len(next(iter(outputs.values())))
    return round(frames / (time.perf_counter() - started), 1)


def _external(backend: str, table: Mapping[str, str]) -> ExternalBenchmark | None:
    target = table.get(backend)
    if target is None:
        return None
    module, function = target.split(":")
    bench: ExternalBenchmark = getattr(importlib.import_module(module), function)
    return bench


def _check_one(
    candidate: Candidate,
    manifest: Manifest,
    bundle_dir: Path,
    config: EngineConfig,
    timing: tuple[float, Mapping[str, str]],
) -> SelfcheckRow:
    duration_s, external_table = timing
    row = {"backend": candidate.backend, "precision": candidate.compute, "model": candidate.artifact.path}
    engine = engine_class(candidate.backend)(
        bundle_dir / candidate.artifact.path,
        manifest,
        FILE_OF[candidate.compute],
        config.intra_op_threads,
        compute=candidate.compute,
    )
    try:
        engine.open()
    except EngineError as err:
        return SelfcheckRow.model_validate({**row, "outcome": "load failed", "reason": str(err)})
    try:
        try:
            cosine = run_smoke_test(engine, manifest, bundle_dir)
        except EngineError as err:
            return SelfcheckRow.model_validate({**row, "outcome": "smoke test failed", "reason": str(err)})
        sample = timing_sample(manifest, bundle_dir)
        best_size = fastest_batch(engine, sample, total_budget_s=config.measure_budget_s).batch_max
        timings = {}
        for size in dict.fromkeys((1, best_size)):
            timings[size] = time_calls(engine, batch_of(sample, size), duration_s / 2)
        best_batch = batch_of(sample, best_size)
        streamed = time_streamed(engine, best_batch, duration_s / 2)
        parallel = _time_parallel(engine, manifest, bundle_dir, config, best_batch, duration_s / 2)
        bench = _external(candidate.backend, external_table)
        external = bench(engine, best_size, timings[best_size].fps) if bench else None
        return SelfcheckRow.model_validate(
            {
                **row,
                "cosine": round(cosine, 6),
                "batch1": timings[1],
                "best": timings[best_size],
                "streamed_fps": streamed,
                **parallel,
                "external": external,
            }
        )
    finally:
        engine.close()


def _time_parallel(
    engine: Engine,
    manifest: Manifest,
    bundle_dir: Path,
    config: EngineConfig,
    batch: npt.NDArray[np.float32],
    duration_s: float,
) -> dict[str, object]:
    """The row's ``parallel_*`` figures: the daemon's parallel variant of ``engine``, timed."""
    requests = requests_to_try(config, engine)
    if requests is None:
        return {}
    variant = open_variant(engine, manifest, bundle_dir, requests)
    if variant is None:
        return {"parallel_requests": requests}
    try:
        fps = 1000.0 / ms_per_frame(variant, batch, duration_s)
    finally:
        variant.close()
    return {"parallel_requests": requests, "parallel_fps": round(fps, 1)}


def run_selfcheck(
    manifest: Manifest,
    bundle: BundleConfig,
    config: EngineConfig,
    duration_s: float = 2.0,
    external: Mapping[str, str] = EXTERNAL_BENCHMARKS,
) -> SelfcheckReport:
    """Every candidate of ``config.backends`` x the bundle's precisions, checked and timed one by one."""
    planned, skipped = plan_candidates(manifest, bundle, config)
    rows = [
        SelfcheckRow(backend=s.backend, precision=s.precision, outcome="unavailable", reason=s.reason)
        for s in skipped
    ]
    rows += [_check_one(c, manifest, Path(bundle.path), config, (duration_s, external)) for c in planned]
    order = list(config.backends)
    rows.sort(key=lambda r: order.index(r.backend) if r.backend in order else len(order))
    return SelfcheckReport(
        cpu=read_cpu_model(),
        bundle=str(bundle.path),
        model=f"{manifest.model.name}:{manifest.model.version}",
        threads=config.intra_op_threads,
        rows=tuple(rows),
    )


def all_backends() -> tuple[str, ...]:
    """Every backend of the registry, the order the table shows them in."""
    return tuple(ENGINE_KINDS)


__all__ = [
    "EXTERNAL_BENCHMARKS",
    "ExternalBenchmark",
    "ExternalTiming",
    "SelfcheckReport",
    "SelfcheckRow",
    "Timing",
    "all_backends",
    "run_selfcheck",
    "time_calls",
]
