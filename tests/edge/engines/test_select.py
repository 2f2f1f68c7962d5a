"""The engine chosen by measurement: real ONNX Runtime and OpenVINO on real bundles."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lepton.edge.bundle.manifest import GoldenTolerance, verify_bundle
from lepton.edge.config.models import BundleConfig, EngineConfig
from lepton.edge.engines.select import EngineChoice, choose_engine, plan_candidates
from lepton.edge.errors import BundleError, ConfigError, EngineError
from tests.edge.engines.bundles import (
    COLOR_BUNDLE,
    copy_color_bundle,
    with_int8_file,
    with_openvino_int8_file,
    with_tolerances,
)

pytest.importorskip("openvino", reason="the openvino extra is not installed")

FAST = {"measure_budget_s": 0.05}
SLIGHT = 0.2
"""INT8 golden outputs this far off give a worst cosine of 0.970: below the 0.98 default."""


def _choose(bundle: Path, tmp_path: Path, bundle_precision: str = "auto", **engine: object) -> EngineChoice:
    config = EngineConfig.model_validate({**FAST, **engine})
    choice = choose_engine(
        verify_bundle(bundle),
        BundleConfig.model_validate({"path": bundle, "precision": bundle_precision}),
        config,
        tmp_path / "cache",
    )
    choice.engine.close()
    return choice


def test_every_candidate_is_timed_and_the_fastest_per_frame_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lepton.edge.engines.select")
    choice = _choose(COLOR_BUNDLE, tmp_path, measure_budget_s=1.0)  # time enough for every batch size
    report = choice.report
    by_backend = {c.backend: c for c in report.candidates}
    assert set(by_backend) == {"openvino", "ort-cpu"}
    chosen = by_backend[report.backend]
    other = by_backend[({"openvino", "ort-cpu"} - {report.backend}).pop()]
    assert chosen.outcome == "chosen" and other.outcome == "slower"
    assert chosen.best_ms is not None and other.best_ms is not None and chosen.best_ms <= other.best_ms
    assert f"the time per frame of {report.backend} fp32" in other.reason
    assert set(chosen.ms_per_frame) == {1, 2, 4} and report.batch_max == chosen.batch == choice.batch_max
    assert report.model == "model.fp32.onnx" and report.precision == "fp32" and report.fps
    assert chosen.cosine is not None and chosen.cosine > 0.999
    # the log says what runs and every candidate's figures
    logged = caplog.text
    assert f"engine {report.backend} fp32 running model.fp32.onnx" in logged
    assert "engine candidate openvino fp32: " in logged and "engine candidate ort-cpu fp32: " in logged


def test_a_backend_the_box_lacks_is_skipped_with_its_reason(tmp_path: Path) -> None:
    choice = _choose(COLOR_BUNDLE, tmp_path, backends=["ort-cuda", "ort-cpu"])
    cuda = choice.report.candidates[0]
    assert (cuda.backend, cuda.outcome) == ("ort-cuda", "unavailable")
    assert "CUDAExecutionProvider" in cuda.reason and "lepton-line[gpu]" in cuda.reason
    assert choice.report.backend == "ort-cpu"


def test_select_first_runs_the_first_that_passes_without_timing_the_rest(tmp_path: Path) -> None:
    # fp32 only: one candidate per backend, also on a CPU where OpenVINO offers bf16 as well
    choice = _choose(
        COLOR_BUNDLE,
        tmp_path,
        backends=["openvino", "ort-cpu"],
        precision=["fp32"],
        select="first",
        batch_max=2,
    )
    outcomes = [(c.backend, c.outcome) for c in choice.report.candidates]
    assert outcomes == [("openvino", "chosen"), ("ort-cpu", "not tried")]
    assert choice.batch_max == 2 and list(choice.report.candidates[0].ms_per_frame) == [2]


def test_a_candidate_failing_its_smoke_test_is_refused_and_the_others_compete(tmp_path: Path) -> None:
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"), skew=1.0)
    choice = _choose(bundle, tmp_path)
    failed = [c for c in choice.report.candidates if c.outcome == "smoke test failed"]
    assert {(c.backend, c.precision) for c in failed} == {("openvino", "int8"), ("ort-cpu", "int8")}
    assert all("golden smoke test failed on model.int8.onnx" in c.reason for c in failed)
    assert choice.report.precision == "fp32" and choice.engine.model_path.name == "model.fp32.onnx"


def test_int8_competes_with_fp32_and_the_faster_file_runs(tmp_path: Path) -> None:
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"), skew=0.0)
    choice = _choose(bundle, tmp_path, backends=["ort-cpu"])
    measured = {c.precision: c for c in choice.report.candidates}
    assert set(measured) == {"int8", "fp32"}
    assert {c.outcome for c in measured.values()} == {"chosen", "slower"}
    assert choice.report.precision in measured and measured[choice.report.precision].outcome == "chosen"


def _int8_files(bundle: Path) -> dict[str, str]:
    """Backend → the INT8 file the daemon would run on it."""
    engines = EngineConfig(backends=("openvino", "ort-cpu"), precision=("int8",))
    planned, _ = plan_candidates(verify_bundle(bundle), BundleConfig(path=bundle), engines)
    return {c.backend: c.artifact.path for c in planned}


def test_openvino_runs_the_file_made_for_it_and_ort_cpu_never_does(tmp_path: Path) -> None:
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"))
    assert _int8_files(bundle) == {"openvino": "model.int8.onnx", "ort-cpu": "model.int8.onnx"}  # old bundles
    with_openvino_int8_file(bundle)
    assert _int8_files(bundle) == {"openvino": "model.int8.openvino.onnx", "ort-cpu": "model.int8.onnx"}
    choice = _choose(bundle, tmp_path, "int8", backends=["openvino"])
    assert choice.report.model == "model.int8.openvino.onnx"
    assert choice.report.candidates[0].outcome == "chosen"


def test_the_openvino_file_is_smoke_tested_against_its_own_golden_outputs(tmp_path: Path) -> None:
    # its golden outputs rotated: OpenVINO refuses it, ORT CPU runs the portable file unaffected
    bundle = with_openvino_int8_file(with_int8_file(copy_color_bundle(tmp_path / "bundle")), skew=1.0)
    choice = _choose(bundle, tmp_path, "int8", backends=["openvino", "ort-cpu"])
    outcomes = {(c.backend, c.model): c.outcome for c in choice.report.candidates}
    assert outcomes == {
        ("openvino", "model.int8.openvino.onnx"): "smoke test failed",
        ("ort-cpu", "model.int8.onnx"): "chosen",
    }


def test_engine_precision_and_bundle_precision_limit_the_candidates(tmp_path: Path) -> None:
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"), skew=0.0)
    only_fp32 = _choose(bundle, tmp_path, "fp32", backends=["ort-cpu"])
    assert [c.precision for c in only_fp32.report.candidates] == ["fp32"]
    only_int8 = _choose(bundle, tmp_path, backends=["ort-cpu"], precision=["int8"])
    assert [c.precision for c in only_int8.report.candidates] == ["int8"]


def test_when_no_candidate_passes_the_error_names_each_and_its_cause(tmp_path: Path) -> None:
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"), skew=1.0)
    with pytest.raises(EngineError) as err:
        _choose(bundle, tmp_path, "int8")
    message = str(err.value)
    assert "no inference backend could run the model" in message
    assert "(openvino int8: golden smoke test failed" in message
    assert "| ort-cpu int8: golden smoke test failed" in message


def test_a_recorded_tolerance_applies_to_its_precision(tmp_path: Path) -> None:
    # INT8 outputs a little off the reference: refused at the default 0.98, passed at a recorded 0.96
    bundle = with_int8_file(copy_color_bundle(tmp_path / "bundle"), skew=SLIGHT)
    with pytest.raises(EngineError, match=r"worst cosine 0\.97\d+ \(need ≥ 0\.98\)"):
        _choose(bundle, tmp_path, "int8", backends=["ort-cpu"])
    with_tolerances(
        bundle, {"int8": GoldenTolerance(cosine_min=0.96), "fp32": GoldenTolerance(cosine_min=1.0)}
    )
    choice = _choose(bundle, tmp_path, "int8", backends=["ort-cpu"])
    assert choice.report.candidates[0].outcome == "chosen"


def test_bad_requests_are_config_and_bundle_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"engine.batch_max = 9 is outside the bundle's batch range \[1, 4\]"
    ):
        _choose(COLOR_BUNDLE, tmp_path, batch_max=9)
    with pytest.raises(BundleError, match=r"bundle.precision = 'int8' but the bundle has only \['fp32'\]"):
        _choose(COLOR_BUNDLE, tmp_path, "int8")
