"""``export.simplify``: onnxslim rewrites ``model.fp32.onnx``, the graph checks and the FP32
parity gate run on what it wrote, and the manifest and reports say what changed; off, the
exporter's graph ships untouched; a simplifier failure ships the exporter's graph with a
warning instead of failing the export.

The legacy exporter leaves Constant nodes in the decode head's graph that onnxslim turns
into initializers, so simplification has something real to change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import onnxslim
import pytest

from lepton.edge.bundle.manifest import CheckResult, verify_bundle
from tests.export.conftest import BATCH_MAX, CliRunner, ProjectFactory

SIMPLIFY_ON = "\n[export]\nsimplify = true\n"


def _ops(path: Path) -> list[str]:
    return [node.op_type for node in onnx.load(str(path)).graph.node]


def _check(checks: tuple[CheckResult, ...], name: str) -> CheckResult:
    return next(c for c in checks if c.name == name)


def test_simplified_graph_passes_checks_and_parity_and_is_recorded(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project("decode_head_cnn", extra_toml=SIMPLIFY_ON)

    result = cli(*project.cli_args("--json", "--exporter", "legacy"))

    assert result.returncode == 0, result.stderr
    manifest = verify_bundle(project.out)
    model = project.out / "model.fp32.onnx"
    simplify = _check(manifest.checks, "simplify_fp32")
    before, after = simplify.measured["nodes_before"], simplify.measured["nodes_after"]
    assert simplify.passed and simplify.measured["applied"] is True
    assert after < before and "Constant" in simplify.detail and "onnxslim" in simplify.detail
    # the file that ships is the simplified one, and it is the one that was checked and gated
    assert len(_ops(model)) == after and "Constant" not in _ops(model)
    assert _check(manifest.checks, "graph_fp32").measured["nodes"] == after
    assert _check(manifest.checks, "parity_fp32").passed
    report = json.loads((project.out / "reports/parity.json").read_text(encoding="utf-8"))
    assert report["simplify"]["applied"] is True and report["simplify"]["op_changes"]["Constant"] < 0
    assert report["graph"]["node_count"] == after and report["parity"]["passed"] is True
    assert f"{int(before)} → {int(after)} nodes" in (project.out / "reports/summary.md").read_text("utf-8")
    assert json.loads(result.stdout)["gates"]["simplify_fp32"] is True
    assert manifest.toolchain.packages["onnxslim"] == onnxslim.__version__
    # the golden outputs reproduce from the simplified graph at the batch range's ends
    with np.load(project.out / "golden/inputs.npz") as f:
        inputs = f["images"]
    with np.load(project.out / "golden/outputs.fp32.npz") as f:
        expected = f["logits"]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for n in (1, BATCH_MAX):
        (got,) = session.run(["logits"], {"images": inputs[:n]})
        np.testing.assert_allclose(got, expected[:n], rtol=1e-5, atol=1e-6)


def test_no_simplify_flag_ships_the_exported_graph_untouched(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project("decode_head_cnn", extra_toml=SIMPLIFY_ON)

    result = cli(*project.cli_args("--exporter", "legacy", "--no-simplify"))

    assert result.returncode == 0, result.stderr
    manifest = verify_bundle(project.out)
    assert [c.name for c in manifest.checks] == ["graph_fp32", "parity_fp32"]
    assert "Constant" in _ops(project.out / "model.fp32.onnx")
    report = json.loads((project.out / "reports/parity.json").read_text(encoding="utf-8"))
    assert report["simplify"] is None


def _raises(path: str) -> onnx.ModelProto:
    raise RuntimeError("shape inference exploded")


def _renames_the_output(path: str) -> onnx.ModelProto:
    model = onnx.load(path)
    old = model.graph.output[0].name
    model.graph.output[0].name = "renamed"
    for node in model.graph.node:
        node.output[:] = ["renamed" if name == old else name for name in node.output]
    return model


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        (_raises, "onnxslim failed (RuntimeError: shape inference exploded)"),
        (_renames_the_output, "the simplified graph failed the graph check"),
    ],
    ids=["simplifier-raises", "simplified-graph-fails-checks"],
)
def test_simplifier_failure_ships_the_exported_graph_with_a_warning(
    make_project: ProjectFactory,
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[str], onnx.ModelProto],
    why: str,
) -> None:
    # No real input makes onnxslim fail on a valid graph: the fault is injected into the
    # third-party call; everything of ours runs for real.
    monkeypatch.setattr(onnxslim, "slim", fault)
    project = make_project("decode_head_cnn", extra_toml=SIMPLIFY_ON)

    result = cli(*project.cli_args("--json", "--exporter", "legacy"))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    (warning,) = summary["warnings"]
    assert why in warning and "the exported graph ships unsimplified" in warning
    assert why in result.stderr
    manifest = verify_bundle(project.out)
    simplify = _check(manifest.checks, "simplify_fp32")
    assert simplify.measured["applied"] is False and "WARNING" in simplify.detail
    assert simplify.measured["nodes_after"] == simplify.measured["nodes_before"]
    assert "Constant" in _ops(project.out / "model.fp32.onnx")
    assert _check(manifest.checks, "parity_fp32").passed


def _scales_the_weights(path: str) -> onnx.ModelProto:
    """A valid graph that computes something else: what a simplifier bug would write."""
    model = onnx.load(path)
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * 1.5, init.name))
    return model


def test_parity_gate_runs_on_the_simplified_graph(
    make_project: ProjectFactory, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnxslim, "slim", _scales_the_weights)  # a wrong graph that passes the checks
    project = make_project("decode_head_cnn")

    result = cli(*project.cli_args("--json", "--exporter", "legacy", "--simplify"))

    assert result.returncode == 3, result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("lepton-export: error:")]
    assert "parity gate: model.fp32.onnx (legacy exporter, simplified by onnxslim) differs" in line
    assert "retry with --no-simplify" in line
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["simplify_fp32"]["measured"]["applied"] is True and checks["parity_fp32"]["passed"] is False
    assert project.no_bundle_left()


def test_simplify_keeps_the_module_scopes_that_int8_exclusion_reads(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    # onnxslim drops node metadata; the dynamo exporter's module scopes there are how the
    # default quantize.exclude_nodes finds the decode head (its node names carry no path).
    project = make_project("decode_head_cnn", extra_toml=SIMPLIFY_ON)

    result = cli(*project.cli_args())

    assert result.returncode == 0, result.stderr
    graph = onnx.load(str(project.out / "model.fp32.onnx")).graph
    scopes = {
        node.name: prop.value
        for node in graph.node
        for prop in node.metadata_props
        if prop.key == "pkg.torch.onnx.name_scopes"
    }
    assert len(scopes) == len(graph.node)
    assert any("decode" in scope for scope in scopes.values())
    assert not any("decode" in node.name for node in graph.node)
