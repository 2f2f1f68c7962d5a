"""Stage (optional, ``export.simplify``): simplify ``model.fp32.onnx`` with onnxslim.

onnxslim (pure Python, Ultralytics' default) folds constants and removes redundant nodes.
On CNNs TensorRT does the same itself, but collapsed patterns matter elsewhere (a decomposed
LayerNorm overflowed FP16 until simplified, notes §2), and the ORT fallback runs the file
as written. A simplifier is one more tool that can write a wrong graph, so its output goes
through the full graph check here and the FP32 parity gate after (notes §7). Simplification
is an option, not a gate: when onnxslim raises or writes a graph that fails the check, the
exported graph ships unchanged, with a warning naming why.
"""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

import onnx

from lepton.edge.bundle.manifest import CheckResult
from lepton.edge.strict_model import StrictModel
from lepton.export.errors import GateFailed, UsageError, describe_exception
from lepton.export.stages.graph_checks import GraphExpectation, GraphReport, check_graph
from lepton.export.stages.library_output import contained_output, log_distinct_warnings

log = logging.getLogger(__name__)

SIMPLIFIER = "onnxslim"


class SimplifyReport(StrictModel):
    """What the simplifier did to the graph, or why the exported graph shipped unchanged."""

    tool: str
    """``onnxslim <version>``."""
    applied: bool
    nodes_before: int
    nodes_after: int
    op_changes: dict[str, int]
    """Op type → change in its count (after - before), only the ops that changed."""
    warning: str | None = None
    """Why the simplified graph was not used, when it was not."""

    def as_check(self) -> CheckResult:
        """Not a gate (a failure keeps the exported graph), recorded like the speed warning."""
        changes = ", ".join(f"{op} {n:+d}" for op, n in self.op_changes.items()) or "none"
        detail = (
            f"{self.tool}: {self.nodes_before} -> {self.nodes_after} nodes (ops: {changes}); "
            "graph checks and FP32 parity ran on the simplified graph"
            if self.applied
            else f"{self.tool}; WARNING: {self.warning}"
        )
        return CheckResult(
            name="simplify_fp32",
            passed=True,
            measured={
                "applied": self.applied,
                "nodes_before": self.nodes_before,
                "nodes_after": self.nodes_after,
            },
            detail=detail,
        )


def check_simplifier_installed() -> None:
    """Before any model code: ``export.simplify`` asks for a package this environment may lack."""
    try:
        metadata.version(SIMPLIFIER)
    except metadata.PackageNotFoundError:
        raise UsageError(
            f"export.simplify = true: {SIMPLIFIER} is not installed; install it "
            "(pip install 'lepton-line[export]') or set export.simplify = false (--no-simplify)"
        ) from None


def simplify_graph(
    path: Path, expect: GraphExpectation, exported: GraphReport
) -> tuple[GraphReport, SimplifyReport]:
    """Replace ``path`` by its simplified graph if that passes the graph check.

    ``exported`` is the check report of the graph at ``path``; returns the report of the
    graph that is at ``path`` afterwards, and what simplification did.
    """
    tool = f"{SIMPLIFIER} {metadata.version(SIMPLIFIER)}"
    candidate = path.with_name(f".{path.stem}.simplified.onnx")  # beside it: os.replace stays atomic
    try:
        _write_simplified(path, candidate)
        simplified = check_graph(candidate, expect)
        candidate.replace(path)
    except GateFailed as err:  # the check's own fix ("re-export ...") is for the exporter's graph
        evidence = str(err).partition("; ")[0]
        return exported, _kept(tool, exported, f"the simplified graph failed the graph check ({evidence})")
    except Exception as err:  # onnxslim and onnx raise many unrelated types
        return exported, _kept(tool, exported, f"{SIMPLIFIER} failed ({describe_exception(err)})")
    finally:
        candidate.unlink(missing_ok=True)
    report = SimplifyReport(
        tool=tool,
        applied=True,
        nodes_before=exported.node_count,
        nodes_after=simplified.node_count,
        op_changes=_op_changes(exported.op_counts, simplified.op_counts),
    )
    log.info(
        "simplified %s with %s: %d -> %d nodes", path.name, tool, report.nodes_before, report.nodes_after
    )
    return simplified, report


def _write_simplified(path: Path, out: Path) -> None:
    import onnxslim  # here, not at the top: only ``export.simplify`` needs it

    with contained_output(SIMPLIFIER) as caught:
        model = onnxslim.slim(str(path))
    log_distinct_warnings(SIMPLIFIER, caught)
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"onnxslim.slim returned {type(model).__name__}, not a ModelProto")
    _keep_node_metadata(onnx.load(str(path)).graph, model.graph)
    onnx.save(model, str(out))  # weights inline, like the exporter's file


def _keep_node_metadata(exported: onnx.GraphProto, simplified: onnx.GraphProto) -> None:
    """Copy each surviving node's metadata (matched by name) back: onnxslim drops it, and the
    dynamo exporter's module scopes there are what ``quantize.exclude_nodes`` matches to keep
    a detection head in float (its node names, ``node_linear``, carry no module path)."""
    by_name = {node.name: node.metadata_props for node in exported.node if node.metadata_props}
    for node in simplified.node:
        if node.name in by_name and not node.metadata_props:
            node.metadata_props.extend(by_name[node.name])


def _kept(tool: str, exported: GraphReport, why: str) -> SimplifyReport:
    warning = f"{why}; the exported graph ships unsimplified (--no-simplify skips the attempt)"
    log.warning("simplify: %s", warning)
    return SimplifyReport(
        tool=tool,
        applied=False,
        nodes_before=exported.node_count,
        nodes_after=exported.node_count,
        op_changes={},
        warning=warning,
    )


def _op_changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    ops = sorted(set(before) | set(after))
    return {op: after.get(op, 0) - before.get(op, 0) for op in ops if after.get(op, 0) != before.get(op, 0)}


__all__ = ["SIMPLIFIER", "SimplifyReport", "check_simplifier_installed", "simplify_graph"]
