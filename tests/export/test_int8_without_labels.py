"""INT8 for a model without labelled data (``evaluation = false`` / ``--no-evaluation``), and
the calibration memory budget seen from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from lepton.edge.bundle.manifest import verify_bundle
from tests.export.conftest import CliRunner, ProjectFactory, int8_toml


def _without_evaluation(calibration: Path, evaluation: Path) -> str:
    toml = int8_toml(calibration, evaluation, "\n[quantize]\ncpu_artifact = false\n")
    return toml.replace(f'[evaluation]\ndir = "{evaluation.as_posix()}"\n', "")


def test_no_evaluation_skips_the_accuracy_gate_and_names_it(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    # the config has no [evaluation] table: without the flag that is a usage error
    project = make_project("small_cnn", extra_toml=_without_evaluation(calibration_dir, evaluation_dir))
    refused = cli(*project.cli_args("--json"))
    assert refused.returncode == 2 and "--no-evaluation" in refused.stderr

    result = cli(*project.cli_args("--json", "--no-evaluation"))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["skipped_gates"]) == {"accuracy_int8"}
    assert "no labelled data" in summary["skipped_gates"]["accuracy_int8"]
    assert "accuracy_int8" not in summary["gates"] and summary["gates"]["parity_int8"] is True
    manifest = verify_bundle(project.out)
    assert manifest.model_artifact("int8") is not None
    report = json.loads((project.out / "reports/int8.json").read_text(encoding="utf-8"))
    assert report["evaluation_dir"] is None and report["accuracy"] == []
    assert report["skipped_gates"] == summary["skipped_gates"]
    assert report["parity"][0]["samples"] == 12  # the [samples] images stand in
    assert "**skipped** `accuracy_int8`" in (project.out / "reports/summary.md").read_text(encoding="utf-8")
    roles = {a.path for a in manifest.artifacts}
    assert "reports/int8_scores.png" in roles and "reports/confusion.png" not in roles


def test_evaluation_false_in_the_file_does_the_same(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    project = make_project("small_cnn", extra_toml=_without_evaluation(calibration_dir, evaluation_dir))
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text("evaluation = false\n" + text, encoding="utf-8")

    result = cli(*project.cli_args("--json", "--no-plots"))

    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["skipped_gates"]) == {"accuracy_int8"}
    assert not list((project.out / "reports").glob("*.png"))


def test_a_model_beyond_the_calibration_memory_budget_exits_2_with_the_fix(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    # one entropy batch of 3000 samples of this model's activations does not fit 16 MiB
    extra = int8_toml(calibration_dir, evaluation_dir).replace(
        "allow_small = true", "allow_small = true\nbatch = 3000\nmemory_budget_mb = 16"
    )
    project = make_project("small_cnn", extra_toml=extra)

    result = cli(*project.cli_args("--json"))

    assert result.returncode == 2, result.stderr
    assert "calibration.memory_budget_mb = 16: one calibration batch of 3000 sample(s)" in result.stderr
    assert json.loads(result.stdout)["error_type"] == "UsageError"
    assert project.no_bundle_left()


def test_a_thousand_class_model_exports_with_readable_plots(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    # used to never finish: a text per cell of three 1000x1000 confusion matrices
    labels = ("ok", "scratch", "dent", *(f"part_{i:03d}" for i in range(997)))
    extra = int8_toml(calibration_dir, evaluation_dir, "\n[quantize]\ncpu_artifact = false\n")
    loose = "\n[int8_parity]\ntop1_agreement_min = 0.0\nmax_score_rel_diff = 10.0\n"
    project = make_project("small_cnn", labels=labels, extra_toml=extra + loose)

    result = cli(*project.cli_args("--json", "--top1-drop-max", "100"))

    assert result.returncode == 0, result.stderr
    assert verify_bundle(project.out).labels == labels
    for plot in ("reports/confusion.png", "reports/int8_scores.png"):
        assert (project.out / plot).read_bytes()[:4] == b"\x89PNG"
