"""Stage: ``reports/int8.json`` and the INT8 part of ``reports/summary.md``.

Every number behind the INT8 checks in the manifest, and what a reviewer needs to
reproduce them: which samples calibrated the model (index hash), how it was quantized
(recipes, nodes kept in float), the gates' measurements, and the CPU they ran on. Speed is
not here: it differs from run to run, so it is in ``build.json`` (``stages.bundle``).
"""

from __future__ import annotations

import math

from lepton.calibration.index import SourceEntry
from lepton.edge.strict_model import StrictModel
from lepton.export.stages.accuracy import AccuracyResult
from lepton.export.stages.int8_parity import Int8ParityResult
from lepton.export.stages.qdq_checks import QdqReport
from lepton.export.stages.speed import VNNI_FLAGS

INT8_REPORT = "reports/int8.json"


class CalibrationSummary(StrictModel):
    samples: int
    requested: int
    available: int
    allow_small: bool
    seed: int
    method: str
    batch: int
    index_file: str
    index_sha256: str
    ranges_file: str
    ranges_tensors: int
    sources: tuple[SourceEntry, ...]
    symbolic_shape_inference: bool


class RecipeSummary(StrictModel):
    key: str
    path: str
    description: str
    trt_compatible: bool


class QuantizeSummary(StrictModel):
    recipes: tuple[RecipeSummary, ...]
    per_channel: bool
    reduce_range: bool
    op_types: tuple[str, ...] | None
    exclude_patterns: tuple[str, ...]
    float_nodes: tuple[str, ...]
    float_stem: str | None
    float_head: str | None


class Int8Report(StrictModel):
    report: str = "lepton.export.int8/1"
    evaluation_dir: str | None
    """Relative to the config file's directory when under it; None with ``evaluation = false``."""
    evaluation_images: int
    skipped_gates: dict[str, str]
    """Gates that did not run (check name → why), e.g. accuracy without labelled data."""
    calibration: CalibrationSummary
    quantize: QuantizeSummary
    graphs: tuple[QdqReport, ...]
    parity: tuple[Int8ParityResult, ...]
    accuracy: tuple[AccuracyResult, ...]
    cpu_flags: tuple[str, ...]
    plots: tuple[str, ...]


def render_int8_summary(report: Int8Report) -> list[str]:
    """Markdown lines for ``summary.md``."""
    c, q = report.calibration, report.quantize
    vnni = [f for f in report.cpu_flags if f in VNNI_FLAGS]
    lines = [
        "",
        "## INT8",
        "",
        f"- calibration: {c.samples} samples ({c.method}, seed {c.seed}, batch {c.batch}) drawn from "
        f"{c.available} candidates; index `{c.index_file}` sha256 `{c.index_sha256}`"
        + (" — **allow_small: not for a shipped model**" if c.allow_small else ""),
        f"- ranges: `{c.ranges_file}` ({c.ranges_tensors} tensors)",
        f"- quantization: per-channel {q.per_channel}, reduce_range {q.reduce_range}, op types "
        f"{list(q.op_types) if q.op_types else 'ORT default'}; kept in float: "
        f"{', '.join(q.float_nodes) or 'nothing'}",
        f"- CPU: {', '.join(report.cpu_flags) or 'no flags recorded'}"
        + ("" if vnni else " (no VNNI/AMX: ORT INT8 speed is limited on this CPU)"),
        (
            f"- evaluation: {report.evaluation_images} labelled images in `{report.evaluation_dir}`"
            if report.evaluation_dir
            else "- evaluation: none (`evaluation = false`); tensor agreement on the [samples] images"
        ),
        *(f"- **skipped** `{gate}`: {why}" for gate, why in report.skipped_gates.items()),
        "",
        "| artefact | format | Q/DQ | INT8 compute nodes | float compute nodes |",
        "|---|---|---:|---:|---:|",
    ]
    recipes = {r.key: r for r in q.recipes}
    for g in report.graphs:
        lines.append(
            f"| `{g.artifact}` | {recipes[g.key].description} | {g.quantize_linear}/{g.dequantize_linear} | "
            f"{sum(g.quantized_compute.values())} | {len(g.float_compute)} |"
        )
    lines += [
        "",
        "### Tensor agreement (INT8 vs FP32, ORT CPU)",
        "",
        "| artefact | cosine | min sample cosine | top-1 agreement | non-zero | max score Δ "
        "| kernels vs Q/DQ | result |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in report.parity:
        lines.append(
            f"| `{p.artifact}` | {p.cosine:.5f} | {p.min_sample_cosine:.4f} | {p.top1_agreement:.2%} | "
            f"{p.nonzero_fraction:.1%} | {p.max_score_rel_diff:.2%} | {p.kernel_cosine:.6f} | "
            f"{'pass' if p.passed else '**FAIL**'} |"
        )
    lines += [
        "",
        "### Held-out accuracy",
        "",
        "| artefact | images | top-1 FP32 | top-1 INT8 | drop (pt) | CI (pt) | McNemar p | gate | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for a in report.accuracy:
        lines.append(
            f"| `{a.artifact}` | {a.images} | {a.top1_fp32:.2%} | {a.top1_int8:.2%} | {a.drop_pt:+.2f} | "
            f"[{a.drop_ci_pt[0]:+.2f}, {a.drop_ci_pt[1]:+.2f}] | {a.mcnemar_p:.3g} | "
            f"{a.bound} <= {a.threshold_pt:g} | {'pass' if a.passed else '**FAIL**'} |"
        )
    if report.accuracy:
        first = report.accuracy[0]
        lines += ["", f"Interval: {first.confidence:.0%}, {first.interval}.", "", "Per-class recall:", ""]
        lines += [
            "| label | images | " + " | ".join(f"`{a.artifact}`" for a in report.accuracy) + " | FP32 |"
        ]
        lines += ["|---|---:|" + "---:|" * (len(report.accuracy) + 1)]
        for i, cls in enumerate(first.per_class):
            cells = [_pct(a.per_class[i].recall_int8) for a in report.accuracy]
            lines.append(f"| {cls.label} | {cls.images} | {' | '.join(cells)} | {_pct(cls.recall_fp32)} |")
    lines += [
        "",
        "### Speed",
        "",
        "The throughput of every engine the daemon may pick (ORT CPU and OpenVINO, against ORT "
        "FP32; speed_pick: the INT8 pick against the fastest FP32 engine) is measured on every "
        "build and differs from run to run: it is in `build.json` (`speed`), the one file of the "
        "bundle that is not reproducible.",
    ]
    if report.plots:
        lines += ["", *[f"![{p}]({p.removeprefix('reports/')})" for p in report.plots]]
    return lines


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


__all__ = [
    "INT8_REPORT",
    "CalibrationSummary",
    "Int8Report",
    "QuantizeSummary",
    "RecipeSummary",
    "render_int8_summary",
]
