"""Both exporters on real models: dynamo by default, the TorchScript exporter when dynamo
refuses (``auto``) or cannot read the model (TorchScript), and a refusal under ``dynamo``
alone is a gate failure; a torch.export program goes to dynamo only, with its own batch
dims. Runs in-process under ``-W error``: the legacy exporter's DeprecationWarning must be
contained by the stage, not leak."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from tests.export import tiny_models
from tests.export.conftest import BATCH_MAX, CliRunner, ProjectFactory


def test_residual_net_with_batchnorm_exports_with_dynamo(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project("residual_bn")

    result = cli(*project.cli_args("--json"))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["exporter"] == "dynamo" and all(c["passed"] for c in summary["checks"])
    assert verify_bundle(project.out).toolchain.exporter == "dynamo"


def test_auto_falls_back_to_legacy_when_dynamo_refuses(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project("gated_cnn")

    result = cli(*project.cli_args())

    assert result.returncode == 0, result.stderr
    assert "dynamo exporter failed" in result.stderr and "falling back" in result.stderr
    manifest = verify_bundle(project.out)
    report = json.loads((project.out / "reports/parity.json").read_text(encoding="utf-8"))
    assert manifest.toolchain.exporter == report["exporter"] == "legacy"
    assert "data-dependent" in report["dynamo_error"]
    assert any(w.startswith("TracerWarning") for w in report["exporter_warnings"])
    assert report["parity"]["passed"] is True  # the trace generalises here, and parity proves it


def test_dynamo_only_refusal_is_a_gate_failure(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project("gated_cnn")

    result = cli(*project.cli_args("--exporter", "dynamo"))

    assert result.returncode == 3
    assert "the dynamo exporter failed" in result.stderr and "--exporter legacy" in result.stderr
    assert project.no_bundle_left()


def test_torchscript_model_goes_straight_to_the_legacy_exporter(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project(model_toml='torchscript = "model.ts"\n')
    tiny_models.save_torchscript(
        tiny_models.seeded(tiny_models.small_cnn(3), seed=1), project.root / "model.ts"
    )

    result = cli(*project.cli_args())

    assert result.returncode == 0, result.stderr
    manifest = verify_bundle(project.out)
    assert manifest.toolchain.exporter == "legacy"
    assert manifest.model.source_sha256 == sha256_file(project.root / "model.ts")


def test_exported_program_goes_through_the_whole_export(make_project: ProjectFactory, cli: CliRunner) -> None:
    # BatchNorm in eval mode, a dynamic batch 1..4: what a training pipeline should hand over.
    project = make_project(model_toml='exported_program = "model.pt2"\n')
    model = tiny_models.seeded(tiny_models.residual_bn(3), seed=1).eval()
    tiny_models.save_exported_program(model, project.root / "model.pt2", batch=(1, BATCH_MAX))

    result = cli(*project.cli_args("--json"))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["exporter"] == "dynamo"
    assert summary["gates"] == {"graph_fp32": True, "parity_fp32": True}
    manifest = verify_bundle(project.out)
    assert manifest.model.source_sha256 == sha256_file(project.root / "model.pt2")
    assert (manifest.input.batch_min, manifest.input.batch_max) == (1, BATCH_MAX)
    graph = onnx.load(str(project.out / "model.fp32.onnx"))
    batch_dim = graph.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param  # symbolic: the program's own dynamic batch, not a fixed 2
    # the graph computes the saved program (weights included) at the smallest and largest batch
    session = ort.InferenceSession(str(project.out / "model.fp32.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((BATCH_MAX, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    for n in (1, BATCH_MAX):
        (got,) = session.run(["logits"], {"images": x[:n]})
        np.testing.assert_allclose(got, expected[:n], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch", [None, (1, BATCH_MAX)], ids=["static", "dynamic"])
def test_exported_program_exports_for_batch_max_1(
    make_project: ProjectFactory, cli: CliRunner, batch: tuple[int, int] | None
) -> None:
    # [input] batch_max = 1 takes a program with a static batch of 1, or one whose dynamic
    # batch covers 1; the graph keeps the program's dims, the manifest states batch 1.
    project = make_project(model_toml='exported_program = "model.pt2"\n')
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(text.replace(f"batch_max = {BATCH_MAX}\n", "batch_max = 1\n"), encoding="utf-8")
    model = tiny_models.seeded(tiny_models.small_cnn(3), seed=1).eval()
    tiny_models.save_exported_program(model, project.root / "model.pt2", batch=batch)

    result = cli(*project.cli_args())

    assert result.returncode == 0, result.stderr
    manifest = verify_bundle(project.out)
    assert manifest.input.batch_max == 1 and manifest.outputs[0].shape == (1, 3)
    graph = onnx.load(str(project.out / "model.fp32.onnx"))
    batch_dim = graph.graph.input[0].type.tensor_type.shape.dim[0]
    assert bool(batch_dim.dim_param) is (batch is not None)
    assert batch_dim.dim_value == (0 if batch else 1)


def test_legacy_exporter_cannot_read_an_exported_program(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project(model_toml='exported_program = "model.pt2"\n')
    model = tiny_models.seeded(tiny_models.small_cnn(3), seed=1).eval()
    tiny_models.save_exported_program(model, project.root / "model.pt2", batch=(1, BATCH_MAX))

    result = cli(*project.cli_args("--exporter", "legacy"))

    assert result.returncode == 2, result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("lepton-export: error:")]
    assert "export.exporter = 'legacy': the TorchScript exporter cannot read a torch.export program" in line
    assert f"model.exported_program {project.root / 'model.pt2'}" in line
    assert "use exporter 'dynamo' or 'auto' (--exporter auto)" in line
    assert project.no_bundle_left()
