"""Both exporters on real models: dynamo by default, the TorchScript exporter when dynamo
refuses (``auto``) or cannot read the model (TorchScript), and a refusal under ``dynamo``
alone is a gate failure. Runs in-process under ``-W error``: the legacy exporter's
DeprecationWarning must be contained by the stage, not leak."""

from __future__ import annotations

import json

from edge.bundle.manifest import sha256_file, verify_bundle
from tests.export import tiny_models
from tests.export.conftest import CliRunner, ProjectFactory


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
