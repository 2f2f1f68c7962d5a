"""The last line of ``lepton-export build``: every gate with its figure, then PASSED or FAILED.

The manifest's ``checks`` (and the speed measured into ``build.json``) hold every number, but
nobody reads JSON at a terminal; this line says at a glance which gate decided, e.g.

    lepton-export: FP32 graph opset 19 ✓ · parity max|Δ| 2.1e-06 ✓ · INT8 cosine 0.9992 ✓ ·
    top-1 agree 99.6 % ✓ · held-out drop +0.1 pt ✓ · INT8 1.70x FP32 ✓ → PASSED: bundle out/pcb

(one line). A gate that did not run says ``skipped`` and why; on a failure the line ends at
the gate that failed, marked ✗, then ``FAILED (exit N): nothing written``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lepton.edge.bundle.manifest import CheckResult


@dataclass(frozen=True)
class Glyphs:
    passed: str
    failed: str
    warned: str
    then: str
    sep: str
    delta: str


UNICODE = Glyphs(passed="✓", failed="✗", warned="⚠", then="→", sep=" · ", delta="Δ")
ASCII = Glyphs(passed="ok", failed="FAIL", warned="WARN", then="->", sep=" | ", delta="d")


def glyphs_for(stream: TextIO) -> Glyphs:
    """Unicode marks where the stream can encode them; ASCII on a C-locale terminal or log."""
    try:
        "".join(vars(UNICODE).values()).encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


@dataclass(frozen=True)
class _Figure:
    """One number of a check: how to name and print it, and the threshold it is gated on."""

    label: str
    key: str
    show: Callable[[float], str]
    threshold: str | None = None
    at_least: bool = True
    """True: the figure must be >= its threshold; False: <=."""


def _sci(x: float) -> str:
    return f"{x:.1e}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _points(x: float) -> str:
    return f"{x:+.1f} pt"


def _figures(name: str, g: Glyphs) -> tuple[str, tuple[_Figure, ...]]:
    """(what the check is about, its figures) by check name; INT8 variants share one table."""
    base, _, variant = name.partition("_")
    model = {
        "fp32": "FP32",
        "int8": "INT8",
        "int8_cpu": "CPU INT8",
        "int8_openvino": "OpenVINO INT8",
        "pick": "INT8",
        "ort_cpu_pick": "ORT CPU INT8 at more threads",
    }.get(variant, variant)
    if base == "graph":
        return f"{model} graph", (_Figure("opset", "opset", lambda x: f"{x:.0f}"),)
    if base == "simplify":
        return "simplify", (_Figure("nodes", "nodes_after", lambda x: f"{x:.0f}"),)
    if base == "parity" and variant == "fp32":
        return "", (_Figure(f"parity max|{g.delta}|", "max_abs_diff", _sci, "max_abs_diff", at_least=False),)
    if base == "parity":
        return model, (
            _Figure("cosine", "cosine", lambda x: f"{x:.4f}", "cosine_min"),
            _Figure("top-1 agree", "top1_agreement", _pct, "top1_agreement_min"),
        )
    if base == "accuracy":
        return model, (_Figure("held-out drop", "drop_pt", _points, "top1_drop_max_pt", at_least=False),)
    if base == "speed":
        return model, (_Figure("", "ratio", lambda x: f"{x:.2f}x FP32", "warn_below"),)
    if base == "calibration":
        return "", (_Figure("calibration", "samples", lambda x: f"{x:.0f} samples", "samples_min"),)
    return name, ()


def _mark(check: CheckResult, figure: _Figure, g: Glyphs, *, alone: bool) -> str:
    """✗ on the figure that failed its check (on the only one, whatever the gate's bound);
    ⚠ on a speed below ``warn_below`` that is only a warning."""
    value = check.measured.get(figure.key, math.nan)
    limit = check.thresholds.get(figure.threshold) if figure.threshold else None
    within = limit is None or (value >= limit if figure.at_least else value <= limit)
    if not check.passed:
        return g.failed if alone or not within or limit is None else g.passed
    if check.name.startswith("speed") and not within:
        return g.warned  # below warn_below: a warning unless speed.fail_below failed the check
    return g.passed


def describe_check(check: CheckResult, g: Glyphs) -> str:
    """``INT8 cosine 0.9992 ✓ · top-1 agree 99.6 % ✓`` for one check."""
    subject, figures = _figures(check.name, g)
    present = [f for f in figures if f.key in check.measured]
    parts = []
    for figure in present:
        text = " ".join(t for t in (figure.label, figure.show(check.measured[figure.key])) if t)
        parts.append(f"{text} {_mark(check, figure, g, alone=len(present) == 1)}")
    if check.name == "calibration" and "allow_small" in check.detail:
        parts[-1:] = [f"{parts[-1]} (allow_small)"] if parts else []
    if not parts:
        return f"{subject} {g.passed if check.passed else g.failed}"
    first = f"{subject} {parts[0]}" if subject else parts[0]
    return g.sep.join([first, *parts[1:]])


def verdict_line(
    checks: Sequence[CheckResult],
    g: Glyphs,
    *,
    skipped: Sequence[str] = (),
    bundle: Path | None = None,
    failure: tuple[int, str] | None = None,
) -> str:
    """The whole line. ``skipped``: e.g. ``INT8 skipped (--no-int8)``; ``failure``: (exit code,
    the error message) when the export failed, whose head names the gate if no check did."""
    parts = [describe_check(c, g) for c in _gated(checks)]
    if failure is None:
        parts += list(skipped)
        where = _shown(bundle) if bundle else "?"
        return f"lepton-export: {g.sep.join(parts)} {g.then} PASSED: bundle {where}"
    code, message = failure
    if all(c.passed for c in checks):
        parts.append(f"{message.split(':', 1)[0]} {g.failed}")
    return f"lepton-export: {g.sep.join(parts)} {g.then} FAILED (exit {code}): nothing written"


def _gated(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """With ``speed_pick`` (the INT8 engine the daemon would pick vs the fastest FP32 one) the
    other speed figures are information only: the line shows the one that gates."""
    if not any(c.name == "speed_pick" for c in checks):
        return list(checks)
    return [c for c in checks if not c.name.startswith("speed_") or c.name == "speed_pick"]


def _shown(path: Path) -> str:
    """Relative to the working directory when under it: what the user typed, usually."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


__all__ = ["ASCII", "UNICODE", "Glyphs", "describe_check", "glyphs_for", "verdict_line"]
