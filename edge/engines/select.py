"""Pick the engine by measurement: every backend x precision the box offers, smoke-tested and timed.

On an Intel line PC OpenVINO ran the same FP32 file 2-6x faster than ONNX Runtime; on the
same CPU the portable INT8 file was slower than FP32 on ORT (issue 13). Which combination
is fastest depends on the CPU, the runtime versions and the model, so the daemon measures
at start, on the golden inputs, like ``engine.batch_max = "auto"`` does for the batch size:
each candidate is loaded, must pass the golden smoke test, and is timed at each batch size
within ``engine.measure_budget_s``; the fastest per frame runs. Every candidate's outcome
(not installed, no GPU, load failed, smoke test failed, slower) is logged once and carried
in the status payload. ``engine.select = "first"`` keeps the plain fallback order instead.

A backend plugs in through the registry table and ``Engine.unavailable`` / ``Engine.computes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from lepton.edge.bundle.manifest import Artifact, Manifest, Precision
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.base import Compute, Engine
from lepton.edge.engines.batch_size import BatchTiming, check_batch_max, fastest_batch, timing_sample
from lepton.edge.engines.registry import engine_class
from lepton.edge.engines.report import CandidateReport, EngineReport
from lepton.edge.engines.smoke_test import run_smoke_test
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


def _open(
    candidate: Candidate, manifest: Manifest, bundle_dir: Path, config: EngineConfig, cache_dir: Path | None
) -> Engine:
    cls = engine_class(candidate.backend)
    engine = cls(
        bundle_dir / candidate.artifact.path,
        manifest,
        FILE_OF[candidate.compute],
        config.intra_op_threads,
        compute=candidate.compute,
        cache_dir=None if cache_dir is None else cache_dir / candidate.backend,
    )
    engine.open()
    return engine


def _report(candidate: Candidate, **fields: object) -> CandidateReport:
    return CandidateReport.model_validate(
        {
            "backend": candidate.backend,
            "precision": candidate.compute,
            "model": candidate.artifact.path,
            **fields,
        }
    )


def choose_engine(
    manifest: Manifest,
    bundle: BundleConfig,
    config: EngineConfig,
    cache_dir: Path | None = None,
) -> EngineChoice:
    """Open every candidate in turn, keep the fastest that passes (or the first, with select = "first")."""
    bundle_dir = Path(bundle.path)
    check_batch_max(manifest.input, config.batch_max)
    planned, reports = plan_candidates(manifest, bundle, config)
    for r in reports:
        log.warning("engine %s skipped: %s", r.backend, r.reason)
    sample = timing_sample(manifest, bundle_dir)
    sizes = None if config.batch_max == "auto" else [config.batch_max]
    best: tuple[Engine, BatchTiming, int] | None = None  # engine, timing, index in reports
    for candidate in planned:
        if best is not None and config.select == "first":
            reports.append(
                _report(candidate, outcome="not tried", reason=f"select = first: {best[0].label} runs")
            )
            continue
        try:
            engine = _open(candidate, manifest, bundle_dir, config, cache_dir)
        except EngineError as err:
            log.warning("engine %s %s refused: %s", candidate.backend, candidate.compute, err)
            reports.append(_report(candidate, outcome="load failed", reason=str(err)))
            continue
        try:
            cosine = run_smoke_test(engine, manifest, bundle_dir)
        except EngineError as err:
            engine.close()
            log.warning("engine %s refused: %s", engine.label, err)
            reports.append(_report(candidate, outcome="smoke test failed", reason=str(err)))
            continue
        try:
            timing = fastest_batch(engine, sample, sizes=sizes, total_budget_s=config.measure_budget_s)
        except EngineError as err:
            engine.close()
            log.warning("engine %s refused: %s", engine.label, err)
            reports.append(_report(candidate, outcome="load failed", reason=str(err)))
            continue
        reports.append(
            _report(
                candidate,
                outcome="chosen",
                cosine=cosine,
                batch=timing.batch_max,
                ms_per_frame=timing.ms_per_frame,
            )
        )
        best = _keep_faster(best, (engine, timing, len(reports) - 1), reports)
    if best is None:
        refusals = " | ".join(f"{r.label}: {r.reason}" for r in reports)
        raise EngineError(
            f"no inference backend could run the model ({refusals}); install a runtime "
            "(pip install 'lepton-line[cpu]') or fix the cause named for the backend you expect"
        )
    engine, timing, index = best
    for r in reports:
        log.info("engine candidate %s", r.describe())
    chosen = reports[index]
    report = EngineReport(
        backend=engine.backend,
        precision=engine.compute,
        model=chosen.model or engine.model_path.name,
        batch_max=timing.batch_max,
        fps=round(1000.0 / timing.ms_per_frame[timing.batch_max], 1),
        select=config.select,
        candidates=tuple(reports),
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


def _keep_faster(
    best: tuple[Engine, BatchTiming, int] | None,
    new: tuple[Engine, BatchTiming, int],
    reports: list[CandidateReport],
) -> tuple[Engine, BatchTiming, int]:
    """The faster per frame of two opened engines; the other is closed and its report says slower."""
    if best is None:
        return new

    def cost(entry: tuple[Engine, BatchTiming, int]) -> float:
        return entry[1].ms_per_frame[entry[1].batch_max]

    keep, drop = (new, best) if cost(new) < cost(best) else (best, new)
    drop[0].close()
    reports[drop[2]] = reports[drop[2]].model_copy(
        update={
            "outcome": "slower",
            "reason": f"{cost(drop) / cost(keep):.2f}x the time per frame of {keep[0].label}",
        }
    )
    return keep


__all__ = ["Candidate", "EngineChoice", "bundle_precisions", "choose_engine", "plan_candidates"]
