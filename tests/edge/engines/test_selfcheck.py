"""The self-check's hook for a vendor tool timing the same engine (trtexec for TensorRT)."""

from __future__ import annotations

import time

import numpy as np

from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.base import Engine
from lepton.edge.engines.selfcheck import ExternalTiming, run_selfcheck
from tests.edge.engines.bundles import COLOR_BUNDLE

CALLS = 50


def bare_loop(engine: Engine, batch: int, ours_fps: float) -> ExternalTiming:
    """A tool that times the same opened engine its own way: a bare loop of CALLS calls.

    TensorRT's hook runs ``trtexec --loadEngine`` on the engine file; this one needs no tool,
    so the hook itself is what is tested.
    """
    spec = engine.manifest.input
    frames = np.zeros((batch, spec.channels, spec.height, spec.width), np.float32)
    started = time.perf_counter()
    for _ in range(CALLS):
        engine.infer(frames)
    fps = CALLS * batch / (time.perf_counter() - started)
    return ExternalTiming(
        tool="bare-loop", batch=batch, fps=fps, ratio=ours_fps / fps, detail=f"{CALLS} calls"
    )


def test_a_backends_external_benchmark_runs_on_its_engine_and_is_reported_beside_ours() -> None:
    report = run_selfcheck(
        verify_bundle(COLOR_BUNDLE),
        BundleConfig(path=COLOR_BUNDLE),
        EngineConfig(backends=("ort-cpu",), measure_budget_s=0.1),
        duration_s=0.1,
        external={"ort-cpu": "tests.edge.engines.test_selfcheck:bare_loop"},
    )
    (row,) = report.rows
    assert row.outcome == "ok" and row.external is not None and row.best is not None
    assert row.external.tool == "bare-loop" and row.external.batch == row.best.batch
    assert row.external.ratio == row.best.fps / row.external.fps and row.external.detail == "50 calls"


def test_without_a_hook_no_external_figure() -> None:
    report = run_selfcheck(
        verify_bundle(COLOR_BUNDLE),
        BundleConfig(path=COLOR_BUNDLE),
        EngineConfig(backends=("ort-cpu",), measure_budget_s=0.1),
        duration_s=0.1,
    )
    assert [r.external for r in report.rows] == [None]
