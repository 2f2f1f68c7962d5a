"""``lepton-export build`` through its console script, as CI runs it: exit codes, ``--json``
on stdout, one-line errors on stderr, and the bundle it leaves (or does not)."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from lepton.edge.preprocess import preprocess_batch
from lepton.export.cli.main import build_parser
from lepton.export.stages.toolchain import read_cpu_flags
from tests.export.conftest import (
    BATCH_MAX,
    GOLDEN_COUNT,
    LABELS,
    SAMPLE_COUNT,
    CliRunner,
    ProjectFactory,
    lepton_export_script,
)


def test_happy_path_writes_a_bundle_that_verifies_and_reproduces(make_project: ProjectFactory) -> None:
    project = make_project("small_cnn")

    proc = project.run_cli("--json")

    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout, parse_constant=_reject_non_json_constant)  # JSON and nothing else
    manifest = verify_bundle(project.out)
    model_path = project.out / "model.fp32.onnx"
    assert summary["ok"] is True
    assert summary["bundle"] == str(project.out)
    assert summary["model_sha256"] == sha256_file(model_path)
    assert summary["exporter"] == manifest.toolchain.exporter == "dynamo"
    assert {c["name"]: c["passed"] for c in summary["checks"]} == {"graph_fp32": True, "parity_fp32": True}

    # manifest: every file listed with its real sha256/bytes; the model artifact's opset is the file's
    for artifact in manifest.artifacts:
        path = project.out / artifact.path
        assert (artifact.sha256, artifact.bytes) == (sha256_file(path), path.stat().st_size)
    assert {a.path for a in manifest.artifacts} == {
        "model.fp32.onnx",
        "labels.txt",
        "golden/inputs.npz",
        "golden/outputs.fp32.npz",
        "reports/parity.json",
        "reports/summary.md",
    }
    fp32 = manifest.model_artifact("fp32")
    assert fp32 is not None and fp32.opset == 19
    graph = onnx.load(str(model_path))
    assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [19]
    assert graph.ir_version <= 10
    assert manifest.labels == LABELS
    assert manifest.model.source_sha256 == sha256_file(project.root / "weights.pt")
    assert manifest.decoder.output == "logits" and manifest.decoder.background_labels == ("ok",)
    assert manifest.outputs[0].semantics == "class_logits"
    assert manifest.thresholds.score_min == 0.6
    assert manifest.input.batch_max == BATCH_MAX
    assert manifest.toolchain.cpu_flags == read_cpu_flags()
    assert {"torch", "onnx", "onnxruntime", "numpy", "opencv"} <= set(manifest.toolchain.packages)

    # golden: the ORT outputs reproduce from the golden inputs, at batch 1 and at batch_max
    assert manifest.golden is not None and manifest.golden.count == GOLDEN_COUNT
    with np.load(project.out / "golden/inputs.npz") as f:
        inputs = f["images"]
    with np.load(project.out / "golden/outputs.fp32.npz") as f:
        expected = f["logits"]
    assert inputs.shape == (GOLDEN_COUNT, 3, 32, 32) and expected.shape == (GOLDEN_COUNT, len(LABELS))
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (batched,) = session.run(["logits"], {"images": inputs[:BATCH_MAX]})
    single = np.concatenate(
        [session.run(["logits"], {"images": inputs[i : i + 1]})[0] for i in range(len(inputs))]
    )
    np.testing.assert_allclose(batched, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(single, expected, rtol=1e-5, atol=1e-6)

    # the golden inputs are the daemon's preprocessing of the images the report names
    report = json.loads((project.out / "reports/parity.json").read_text(encoding="utf-8"))
    assert report["parity"]["passed"] is True and len(report["samples"]["used"]) == SAMPLE_COUNT
    config_samples = report["samples"]["dir"]
    frames = [
        np.asarray(cv2.imread(f"{config_samples}/{rel}"), dtype=np.uint8)
        for rel in report["samples"]["golden"]
    ]
    np.testing.assert_array_equal(preprocess_batch(frames, manifest.preprocess, manifest.input), inputs)
    assert "PASSED" in (project.out / "reports/summary.md").read_text(encoding="utf-8")

    # with --json, the verdict line ends stderr: every gate with its figure, INT8 skipped and why
    parity_max = next(c for c in summary["checks"] if c["name"] == "parity_fp32")["measured"]["max_abs_diff"]
    assert proc.stderr.splitlines()[-1] == (
        f"lepton-export: FP32 graph opset 19 ✓ · parity max|Δ| {parity_max:.1e} ✓ · "
        f"INT8 skipped (no [calibration] table) → PASSED: bundle {project.out}"
    )


def test_parity_gate_failure_exits_3_and_leaves_no_bundle(make_project: ProjectFactory) -> None:
    # The model computes something else while being exported; the legacy exporter (chosen
    # by flag, which also shows flags override the config) is the quicker of the two here.
    project = make_project("export_skewed_cnn")

    proc = project.run_cli("--json", "--exporter", "legacy")

    assert proc.returncode == 3, proc.stderr
    error_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("lepton-export: error:")]
    assert len(error_lines) == 1 and "parity gate" in error_lines[0] and "max |diff|" in error_lines[0]
    assert "Traceback" not in proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["ok"] is False and payload["exit_code"] == 3 and payload["error_type"] == "GateFailed"
    parity = next(c for c in payload["checks"] if c["name"] == "parity_fp32")
    assert (
        parity["passed"] is False
        and parity["measured"]["max_abs_diff"] > parity["thresholds"]["max_abs_diff"]
    )
    assert proc.stderr.splitlines()[-1] == (
        f"lepton-export: FP32 graph opset 19 ✓ · parity max|Δ| {parity['measured']['max_abs_diff']:.1e} ✗ "
        "→ FAILED (exit 3): nothing written"
    )
    assert project.no_bundle_left()


def test_non_finite_outputs_fail_the_gate_and_json_stays_strict(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project("export_nan_cnn")

    result = cli(*project.cli_args("--json", "--exporter", "legacy"))

    assert result.returncode == 3
    payload = json.loads(result.stdout, parse_constant=_reject_non_json_constant)
    parity = next(c for c in payload["checks"] if c["name"] == "parity_fp32")
    assert parity["measured"]["max_abs_diff"] is None  # inf written as null, not Infinity
    assert "non-finite (NaN/inf) or misshaped outputs in case samples" in result.stderr
    assert result.stderr.splitlines()[-1].endswith("parity max|Δ| inf ✗ → FAILED (exit 3): nothing written")
    assert project.no_bundle_left()


def _reject_non_json_constant(name: str) -> None:
    raise AssertionError(f"stdout is not strict JSON: it holds {name}")


def test_usage_error_exits_2_with_one_line_naming_the_key(make_project: ProjectFactory) -> None:
    project = make_project(extra_toml="\n[parity]\ncosine_minimum = 0.9\n")

    proc = project.run_cli()

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("lepton-export: error: ")
    assert "parity.cosine_minimum" in proc.stderr and "unknown key" in proc.stderr
    assert "cosine_min" in proc.stderr  # the valid keys are listed: the fix
    assert project.no_bundle_left()


def test_help_documents_the_exit_codes() -> None:
    script = str(lepton_export_script())
    proc = subprocess.run([script, "build", "--help"], capture_output=True, text=True, check=True, timeout=60)
    for line in ("0   the bundle was written", "2   usage error", "3   a gate failed"):
        assert line in proc.stdout
    assert "exit codes" in build_parser().format_help()
