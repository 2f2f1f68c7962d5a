"""Pick the engine by measurement: every backend x precision the box offers, smoke-tested and timed.

On an Intel line PC OpenVINO ran the same FP32 file 2-6x faster than ONNX Runtime; on the
same CPU the portable INT8 file was slower than FP32 on ORT (issue 13). Which combination
is fastest depends on the CPU, the runtime versions and the model, so the daemon measures
at start, on the golden inputs, like ``engine.batch_max = "auto"`` does for the batch size:
each candidate is loaded, must pass the golden smoke test, and is timed at each batch size
within ``engine.measure_budget_s`` (in rounds, the candidates in turn); the fastest per frame
runs. Every candidate's outcome (not installed, no GPU, load failed, smoke test failed,
slower) is logged once and carried in the status payload. ``engine.select = "first"``
keeps the plain fallback order instead.

Each backend x arithmetic runs one file: the one made for that backend where the bundle has
one (``Manifest.model_artifact``), so OpenVINO's INT8 candidate is ``model.int8.openvino.onnx``
where the bundle carries it, and ORT CPU never sees that file. The portable file is not timed
on OpenVINO beside it: the export already timed both there, on the same samples, and ships the
OpenVINO file only where it asked for it (``true``) or where it measured faster (``"auto"``);
a second INT8 candidate would add a compile, a smoke test and timing rounds to every start.

A backend plugs in through the registry table and ``Engine.unavailable`` / ``Engine.computes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lepton.edge.bundle.manifest import Artifact, Manifest, Precision
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.base import Compute, Engine
from lepton.edge.engines.batch_size import check_batch_max, fastest_batch, timing_of, timing_sample
from lepton.edge.engines.parallel_requests import Contender, choose_requests
from lepton.edge.engines.registry import engine_class
from lepton.edge.engines.report import CandidateReport, EngineReport
from lepton.edge.engines.smoke_test import SmokeTestFailedError, open_and_verify
from lepton.edge.errors import BundleError, EngineError

log = logging.getLogger(__name__)

PREFERENCE: tuple[Compute, ...] = ("int8", "bf16", "fp16", "fp32")
"""Order of the candidates of one backend for ``engine.precision = "auto"`` (cheapest first)."""
FILE_OF: dict[Compute, Precision] = {"int8": "int8", "bf16": "fp32", "fp16": "fp32", "fp32": "fp32"}
"""The bundle file each arithmetic runs: bf16 and fp16 are computed from the FP32 file."""


@dataclass(frozen=True)
class Candidate:
    backend: str
    compute: Compute
    artifact: Artifact


@dataclass(frozen=True)
class EngineChoice:
    """The engine that runs (opened and smoke-tested), its batch limit, and how it was chosen."""

    engine: Engine
    batch_max: int
    report: EngineReport


def bundle_precisions(manifest: Manifest, config: BundleConfig) -> tuple[Precision, ...]:
    """The bundle files ``bundle.precision`` lets the engine run."""
    available = manifest.precisions()
    if config.precision == "auto":
        return available
    if config.precision not in available:
        raise BundleError(
            f"bundle {config.path}: bundle.precision = {config.precision!r} but the bundle has "
            f'only {list(available)}; set bundle.precision = "auto" or export that precision'
        )
    return (config.precision,)


def plan_candidates(
    manifest: Manifest, bundle: BundleConfig, config: EngineConfig
) -> tuple[list[Candidate], list[CandidateReport]]:
    """Every backend x arithmetic to try, in preference order, and those skipped up front."""
    files = bundle_precisions(manifest, bundle)
    wanted = PREFERENCE if config.precision == "auto" else config.precision
    planned: list[Candidate] = []
    skipped: list[CandidateReport] = []
    for backend in config.backends:
        try:
            cls = engine_class(backend)
            reason = cls.unavailable()
        except EngineError as err:
            cls, reason = None, str(err)
        if cls is None or reason is not None:
            skipped.append(
                CandidateReport(backend=backend, precision="-", outcome="unavailable", reason=reason or "")
            )
            continue
        offered = {c for p in files for c in cls.computes(p) if FILE_OF[c] == p}
        for compute in wanted:
            if compute in offered:
                artifact = manifest.model_artifact(FILE_OF[compute], backend)
                assert artifact is not None  # bundle_precisions only returns precisions the bundle has
                planned.append(Candidate(backend, compute, artifact))
        if not any(c.backend == backend for c in planned):
            skipped.append(
                CandidateReport(
                    backend=backend,
                    precision="-",
                    outcome="unavailable",
                    reason=f"offers {sorted(offered)} for this bundle's files {list(files)}; "
                    f"engine.precision allows {list(wanted)}",
                )
            )
    return planned, skipped


def _engine(
    candidate: Candidate, manifest: Manifest, bundle_dir: Path, config: EngineConfig, cache_dir: Path | None
) -> Engine:
    cls = engine_class(candidate.backend)
    return cls(
        bundle_dir / candidate.artifact.path,
        manifest,
        FILE_OF[candidate.compute],
        config.intra_op_threads,
        compute=candidate.compute,
        cache_dir=None if cache_dir is None else cache_dir / candidate.backend,
        tensorrt=config.tensorrt,
    )


def _report(candidate: Candidate, **fields: object) -> CandidateReport:
    return CandidateReport.model_validate(
        {
            "backend": candidate.backend,
            "precision": candidate.compute,
            "model": candidate.artifact.path,
            **fields,
        }
    )


TIMING_ROUNDS = 3
"""Candidates are timed in turn, this many rounds, each size's best call kept: load that comes
and goes during start-up then hits every candidate alike (one candidate timed in a quiet
second and the next in a busy one was how a 3.6x slower engine won on a loaded box)."""


@dataclass
class _Passed:
    """A candidate that loaded and passed its smoke test: open, waiting to be timed."""

    engine: Engine
    report: int
    """Its index in the reports."""
    ms_per_frame: dict[int, float]


def choose_engine(
    manifest: Manifest,
    bundle: BundleConfig,
    config: EngineConfig,
    cache_dir: Path | None = None,
) -> EngineChoice:
    """Open and smoke-test every candidate, time those that pass, keep the fastest open.

    With select = "first" the first that passes runs (and only its batch size is timed).
    """
    bundle_dir = Path(bundle.path)
    check_batch_max(manifest.input, config.batch_max)
    planned, reports = plan_candidates(manifest, bundle, config)
    for r in reports:
        log.warning("engine %s skipped: %s", r.backend, r.reason)
    passed: list[_Passed] = []
    sample = timing_sample(manifest, bundle_dir)
    for candidate in planned:
        if passed and config.select == "first":
            reason = f"select = first: {passed[0].engine.label} runs"
            reports.append(_report(candidate, outcome="not tried", reason=reason))
            continue
        engine = _open_and_verify(candidate, manifest, bundle_dir, config, cache_dir, reports)
        if engine is not None:
            passed.append(_Passed(engine, len(reports) - 1, {}))
    try:
        _time_in_rounds(passed, sample, config, reports)
        if not passed:
            refusals = " | ".join(
                r.reason if r.reason.startswith(r.label) else f"{r.label}: {r.reason}" for r in reports
            )
            raise EngineError(
                f"no inference backend could run the model ({refusals}); install a runtime "
                "(pip install 'lepton-line[cpu]') or fix the cause named for the backend you expect"
            )
        return _keep_fastest(passed, reports, config, manifest, bundle_dir, sample)
    except BaseException:
        for p in passed:
            p.engine.close()
        raise


def open_engine(
    manifest: Manifest, bundle: BundleConfig, config: EngineConfig, cache_dir: Path | None = None
) -> Engine:
    """The engine ``choose_engine`` picks, for callers that need only the engine (tests, tools)."""
    return choose_engine(manifest, bundle, config, cache_dir).engine


def _open_and_verify(
    candidate: Candidate,
    manifest: Manifest,
    bundle_dir: Path,
    config: EngineConfig,
    cache_dir: Path | None,
    reports: list[CandidateReport],
) -> Engine | None:
    """The candidate opened and smoke-tested, its report appended; None (and why) if it failed."""
    try:
        engine = _engine(candidate, manifest, bundle_dir, config, cache_dir)
        cosine = open_and_verify(engine, manifest, bundle_dir, keep_open=True)
    except SmokeTestFailedError as err:
        log.warning("engine %s refused: %s", engine.label, err.detail)
        reports.append(_report(candidate, outcome="smoke test failed", reason=err.detail))
        return None
    except EngineError as err:
        log.warning("engine %s %s refused: %s", candidate.backend, candidate.compute, err)
        reports.append(_report(candidate, outcome="load failed", reason=str(err)))
        return None
    reports.append(_report(candidate, outcome="chosen", cosine=cosine))
    return engine


def _time_in_rounds(
    passed: list[_Passed],
    sample: npt.NDArray[np.float32],
    config: EngineConfig,
    reports: list[CandidateReport],
) -> None:
    """Fill each candidate's ms per frame by batch size (the best of its rounds); one that fails
    while timed is closed, reported and removed."""
    sizes = None if config.batch_max == "auto" else [config.batch_max]
    rounds = TIMING_ROUNDS if len(passed) > 1 else 1
    for _ in range(rounds):
        for p in list(passed):
            try:
                timing = fastest_batch(
                    p.engine, sample, sizes=sizes, total_budget_s=config.measure_budget_s / rounds
                )
            except EngineError as err:
                p.engine.close()
                passed.remove(p)
                log.warning("engine %s refused: %s", p.engine.label, err)
                reports[p.report] = reports[p.report].model_copy(
                    update={"outcome": "load failed", "reason": str(err)}
                )
                continue
            for size, ms in timing.ms_per_frame.items():
                p.ms_per_frame[size] = min(ms, p.ms_per_frame.get(size, ms))


def _keep_fastest(
    passed: list[_Passed],
    reports: list[CandidateReport],
    config: EngineConfig,
    manifest: Manifest,
    bundle_dir: Path,
    sample: npt.NDArray[np.float32],
) -> EngineChoice:
    """The fastest per frame, or a candidate's parallel variant where it is clearly faster
    (``parallel_requests.py``); every other engine closed, every report filled in."""
    timings = {id(p): timing_of(p.ms_per_frame) for p in passed}

    def cost(p: _Passed) -> float:
        timing = timings[id(p)]
        return timing.ms_per_frame[timing.batch_max]

    fastest = min(passed, key=cost)
    contenders = [Contender(p.engine, timings[id(p)].batch_max, cost(p)) for p in passed]
    picked = choose_requests(
        contenders, passed.index(fastest), manifest, bundle_dir, config, sample, rounds=TIMING_ROUNDS
    )
    best = passed[picked.index]
    for p in passed:
        timing = timings[id(p)]
        update: dict[str, object] = {"batch": timing.batch_max, "ms_per_frame": timing.ms_per_frame}
        if p is not best:
            p.engine.close()
            reason = f"{cost(p) / cost(fastest):.2f}x the time per frame of {fastest.engine.label}"
            update |= {"outcome": "slower", "reason": reason if best is fastest else picked.reason}
        elif picked.engine is not p.engine:
            p.engine.close()  # its parallel variant runs
        reports[p.report] = reports[p.report].model_copy(update=update)
    for r in reports:
        log.info("engine candidate %s", r.describe())
    engine, timing = picked.engine, timings[id(best)]
    ms = picked.ms_per_frame.get(engine.label, cost(best))
    report = EngineReport(
        backend=engine.backend,
        precision=engine.compute,
        model=reports[best.report].model or engine.model_path.name,
        batch_max=timing.batch_max,
        fps=round(1000.0 / ms, 1),
        select=config.select,
        candidates=tuple(reports),
        requests=engine.requests,
        requests_ms_per_frame=picked.ms_per_frame,
        requests_reason=picked.reason,
    )
    log.info(
        "engine %s running %s, up to %d frame(s) per call: %.1f frames/s alone (%s)",
        engine.label,
        report.model,
        report.batch_max,
        report.fps,
        "fastest of the candidates" if config.select == "fastest" else "first that passed",
    )
    return EngineChoice(engine, timing.batch_max, report)


__all__ = [
    "Candidate",
    "EngineChoice",
    "bundle_precisions",
    "choose_engine",
    "open_engine",
    "plan_candidates",
]
