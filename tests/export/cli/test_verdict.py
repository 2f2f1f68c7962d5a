"""The verdict line from check results: which figure each gate shows, and how it is marked.

The console-script runs (``test_build.py``, ``test_reproducible.py``) show the line in place;
these cover the marks a real export rarely produces: a speed gate made fatal, one failing
figure of two, and the ASCII fallback for a terminal that cannot print ✓.
"""

from __future__ import annotations

import io
from pathlib import Path

from lepton.edge.bundle.manifest import CheckResult
from lepton.export.cli.verdict import ASCII, UNICODE, glyphs_for, verdict_line

GRAPH = CheckResult(
    name="graph_fp32", passed=True, measured={"opset": 19, "nodes": 12}, thresholds={"opset": 19}
)
PARITY = CheckResult(
    name="parity_fp32", passed=True, measured={"max_abs_diff": 2.1e-6}, thresholds={"max_abs_diff": 1e-3}
)


def _int8_parity(cosine: float, top1: float) -> CheckResult:
    return CheckResult(
        name="parity_int8",
        passed=cosine >= 0.99 and top1 >= 0.97,
        measured={"cosine": cosine, "top1_agreement": top1},
        thresholds={"cosine_min": 0.99, "top1_agreement_min": 0.97},
    )


def _speed(ratio: float, fail_below: float | None = None) -> CheckResult:
    thresholds = {"warn_below": 1.05} | ({"fail_below": fail_below} if fail_below else {})
    return CheckResult(
        name="speed_int8_cpu",
        passed=fail_below is None or ratio >= fail_below,
        measured={"ratio": ratio},
        thresholds=thresholds,
    )


def test_a_passing_export_names_every_gate_then_the_bundle() -> None:
    checks = (GRAPH, PARITY, _int8_parity(0.9992, 0.996), _speed(1.7))

    line = verdict_line(checks, UNICODE, bundle=Path("/nowhere/bundle"))

    assert line == (
        "lepton-export: FP32 graph opset 19 ✓ · parity max|Δ| 2.1e-06 ✓ · INT8 cosine 0.9992 ✓ · "
        "top-1 agree 99.6 % ✓ · CPU INT8 1.70x FP32 ✓ → PASSED: bundle /nowhere/bundle"
    )


def test_only_the_figure_that_failed_is_crossed() -> None:
    line = verdict_line(
        (GRAPH, PARITY, _int8_parity(0.995, 0.90)), UNICODE, failure=(4, "INT8 parity gate: ...")
    )

    assert "INT8 cosine 0.9950 ✓ · top-1 agree 90.0 % ✗ → FAILED (exit 4): nothing written" in line


def test_a_slow_int8_is_a_warning_until_speed_fail_below_makes_it_a_failure() -> None:
    assert "CPU INT8 0.80x FP32 ⚠ → PASSED" in verdict_line((_speed(0.8),), UNICODE, bundle=Path("/b"))
    failed = verdict_line((_speed(1.2, fail_below=1.5),), UNICODE, failure=(6, "speed gate: ..."))
    assert failed.endswith("CPU INT8 1.20x FP32 ✗ → FAILED (exit 6): nothing written")


def test_a_gate_without_a_check_is_named_from_the_error() -> None:
    line = verdict_line((), UNICODE, failure=(3, "export: no exporter could convert the model"))

    assert line == "lepton-export: export ✗ → FAILED (exit 3): nothing written"


def test_a_terminal_that_cannot_print_marks_gets_ascii() -> None:
    ascii_stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    utf8_stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")

    assert glyphs_for(ascii_stream) == ASCII and glyphs_for(utf8_stream) == UNICODE
    line = verdict_line((GRAPH, PARITY), ASCII, skipped=("INT8 skipped (--no-int8)",), bundle=Path("/b"))
    assert line.encode("ascii").decode() == line
    assert line.endswith("parity max|d| 2.1e-06 ok | INT8 skipped (--no-int8) -> PASSED: bundle /b")


def test_with_the_daemons_int8_pick_only_the_pick_is_on_the_line() -> None:
    pick = _speed(1.3).model_copy(update={"name": "speed_pick"})
    openvino = _speed(0.6).model_copy(update={"name": "speed_openvino_fp32"})  # information only
    line = verdict_line((GRAPH, _speed(0.5), openvino, pick), UNICODE, bundle=Path("/b"))
    assert " · INT8 1.30x FP32 ✓ → PASSED" in line
    assert "0.50x" not in line and "0.60x" not in line and "⚠" not in line
