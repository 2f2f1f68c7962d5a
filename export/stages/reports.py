"""Stage: ``reports/parity.json`` for machines and ``reports/summary.md`` for the reviewer.

The JSON holds every measured number behind the manifest's check results, plus what a
reviewer needs to reproduce them: the exporter and its warnings, the graph census, and
which sample images were used.
"""

from __future__ import annotations

from pathlib import Path

from lepton.edge.strict_model import StrictModel
from lepton.export.stages.graph_checks import GraphReport
from lepton.export.stages.int8_report import INT8_REPORT, Int8Report, render_int8_summary
from lepton.export.stages.parity import ParityResult
from lepton.export.stages.simplify import SimplifyReport

PARITY_REPORT = "reports/parity.json"
SUMMARY_REPORT = "reports/summary.md"


def recorded_path(path: Path | str, base: Path | None) -> str:
    """``path`` as the bundle's reports record it: relative to the config file's directory
    (``base``) when it lies under it, so two checkouts of one project write the same bytes;
    otherwise as it is (a shared data path is the same on every checkout)."""
    resolved = Path(path).resolve()
    if base is not None and resolved.is_relative_to(base.resolve()):
        return resolved.relative_to(base.resolve()).as_posix()
    return Path(path).as_posix()


class SamplesSummary(StrictModel):
    dir: str
    """Relative to the config file's directory when under it (``recorded_path``)."""
    available: int
    seed: int
    used: tuple[str, ...]
    """Paths relative to ``dir``, sorted."""
    golden: tuple[str, ...]
    """The images behind ``golden/inputs.npz``, in order."""


class ExportReport(StrictModel):
    report: str = "lepton.export.parity/1"
    model: str
    version: str
    exporter: str
    exporter_warnings: tuple[str, ...]
    dynamo_error: str | None
    onnx: str
    onnx_sha256: str
    graph: GraphReport
    """The graph that ships (after simplification, when that applied)."""
    simplify: SimplifyReport | None = None
    """Present when ``export.simplify`` was on, whether or not it applied."""
    parity: ParityResult
    samples: SamplesSummary


def write_reports(bundle_dir: Path, report: ExportReport, int8: Int8Report | None = None) -> tuple[str, ...]:
    """Write the reports (and ``int8.json`` when INT8 was built); return their bundle-relative paths.

    The INT8 plots are already in ``reports/`` (``stages.plots``); they are listed here too.
    """
    (bundle_dir / "reports").mkdir(parents=True, exist_ok=True)
    # model_dump_json writes a non-finite metric as null: strict JSON for every reader.
    (bundle_dir / PARITY_REPORT).write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    summary = render_summary(report)
    written: tuple[str, ...] = (PARITY_REPORT, SUMMARY_REPORT)
    if int8 is not None:
        (bundle_dir / INT8_REPORT).write_text(int8.model_dump_json(indent=2) + "\n", encoding="utf-8")
        summary += "\n".join(render_int8_summary(int8)) + "\n"
        written += (INT8_REPORT, *int8.plots)
    (bundle_dir / SUMMARY_REPORT).write_text(summary, encoding="utf-8")
    return written


def render_summary(report: ExportReport) -> str:
    p, g, t = report.parity, report.graph, report.parity.thresholds
    lines = [
        f"# {report.model} {report.version}: export summary",
        "",
        f"**FP32 parity: {'PASSED' if p.passed else 'FAILED'}** ({p.candidate} vs {p.reference})",
        "",
        f"- ONNX: `{report.onnx}` sha256 `{report.onnx_sha256}`",
        f"- exporter: {report.exporter}"
        + (f" (dynamo refused: {report.dynamo_error})" if report.dynamo_error else ""),
        f"- graph: opset {g.opset}, IR {g.ir_version}, {g.node_count} nodes, producer {g.producer}",
        *_simplify_lines(report.simplify),
        f"- input {list(g.input_shape)}, output {list(g.output_shape)}",
        f"- samples: {len(report.samples.used)} of {report.samples.available} images in "
        f"`{report.samples.dir}` (seed {report.samples.seed}); golden set: {len(report.samples.golden)}",
        "",
        "## Parity",
        "",
        f"Gate: max |diff| <= {t.max_abs_diff:g}, cosine >= {t.cosine_min:g}, "
        f"top-1 agreement >= {t.top1_agreement_min:.0%}. "
        f"Reported: fraction within atol {t.atol:g} + rtol {t.rtol:g}·|ref|.",
        "",
        "| case | samples | max abs diff | min cosine | top-1 agreement | ties | allclose | result |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in p.cases:
        lines.append(
            f"| {c.name} | {c.samples} | {c.max_abs_diff:.3g} | {c.min_cosine:.7f} | "
            f"{c.top1_agreement:.1%} | {c.top1_ties} | {c.allclose_fraction:.1%} | "
            f"{'pass' if c.passed else '**FAIL**'} |"
        )
    lines += ["", "## Op census", "", "| op | count |", "|---|---:|"]
    lines += [f"| {op} | {n} |" for op, n in g.op_counts.items()]
    if report.exporter_warnings:
        lines += ["", "## Exporter warnings", ""]
        lines += [f"- {w}" for w in report.exporter_warnings]
    return "\n".join(lines) + "\n"


def _simplify_lines(simplify: SimplifyReport | None) -> list[str]:
    if simplify is None:
        return []
    if not simplify.applied:
        return [f"- simplification ({simplify.tool}) NOT applied: {simplify.warning}"]
    changes = ", ".join(f"{op} {n:+d}" for op, n in simplify.op_changes.items()) or "no op changed"
    return [
        f"- simplified by {simplify.tool}: {simplify.nodes_before} → {simplify.nodes_after} nodes "
        f"({changes}); checks and parity ran on the simplified graph"
    ]


__all__ = [
    "PARITY_REPORT",
    "SUMMARY_REPORT",
    "ExportReport",
    "SamplesSummary",
    "recorded_path",
    "render_summary",
    "write_reports",
]
