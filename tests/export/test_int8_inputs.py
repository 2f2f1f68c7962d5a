"""Bad INT8 inputs: each is exit 2 with one error line naming the key or flag and the fix,
and nothing is written (most are found before the model is even loaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

from lepton.calibration.errors import DATA_ERROR_EXIT_CODE
from lepton.export.errors import USAGE_EXIT_CODE
from tests.export.conftest import CliRunner, Project, ProjectFactory, int8_toml


def _usage_error(cli: CliRunner, project: Project, *flags: str) -> str:
    result = cli(*project.cli_args(*flags))
    assert result.returncode == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("lepton-export: error: ")]
    assert len(errors) == 1, result.stderr
    assert project.no_bundle_left()
    return errors[0]


def test_calibration_errors_share_the_usage_exit_code() -> None:
    assert DATA_ERROR_EXIT_CODE == USAGE_EXIT_CODE == 2


def test_empty_calibration_folder(
    make_project: ProjectFactory, cli: CliRunner, evaluation_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    (empty / "ok").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here\n", encoding="utf-8")
    project = make_project(extra_toml=int8_toml(empty, evaluation_dir))

    message = _usage_error(cli, project)

    assert f"calibration: no images or video frames found in calibration.images ['{empty}']" in message
    assert "in-domain jpg/png images" in message


def test_missing_calibration_folder(
    make_project: ProjectFactory, cli: CliRunner, evaluation_dir: Path, tmp_path: Path
) -> None:
    project = make_project(extra_toml=int8_toml(tmp_path / "absent", evaluation_dir))

    message = _usage_error(cli, project)

    assert f"calibration.images {tmp_path / 'absent'}: does not exist" in message


def test_too_small_calibration_set_needs_the_explicit_flag(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    toml = int8_toml(calibration_dir, evaluation_dir).replace("count = 24\nallow_small = true\n", "")
    project = make_project(extra_toml=toml)

    message = _usage_error(cli, project)

    assert "offer 24 images/frames but calibration.count is 500" in message
    assert "--allow-small-calibration" in message and "calibration.allow_small = true" in message

    message = _usage_error(cli, project, "--calibration-count", "24")

    assert "calibration.count = 24 is below 500 samples" in message
    assert "--allow-small-calibration" in message


def test_calibration_overlapping_the_evaluation_set_is_refused(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(calibration_dir, mixed)
    leaked = next(evaluation_dir.rglob("*.jpg"))
    shutil.copy(leaked, mixed / "renamed.jpg")  # another name, the same bytes
    project = make_project(extra_toml=int8_toml(mixed, evaluation_dir))

    message = _usage_error(cli, project)

    assert "1 calibration image(s) are also in the evaluation set" in message
    assert f"{mixed / 'renamed.jpg'} = {leaked}" in message and "disjoint from the evaluation set" in message


def test_evaluation_folder_must_be_labelled_with_the_model_labels(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    shutil.copytree(evaluation_dir, wrong)
    (wrong / "ok").rename(wrong / "good")
    project = make_project(extra_toml=int8_toml(calibration_dir, wrong))

    message = _usage_error(cli, project)

    assert f"evaluation.dir {wrong}: folder 'good' is not a label of the model" in message
    assert "['ok', 'scratch', 'dent']" in message


def test_unsupported_op_type_for_quantization(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    extra = '\n[quantize]\nop_types = ["Conv", "Softplus"]\n'
    project = make_project(extra_toml=int8_toml(calibration_dir, evaluation_dir, extra))

    message = _usage_error(cli, project)

    assert "quantize.op_types: onnxruntime cannot quantize ['Softplus']" in message and "'Conv'" in message


def test_int8_tables_without_calibration_and_calibration_without_evaluation(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path
) -> None:
    project = make_project(extra_toml="\n[quantize]\nreduce_range = false\n")

    message = _usage_error(cli, project)

    assert "[quantize] only apply to INT8, which [calibration] turns on" in message

    toml = f'\n[calibration]\nimages = ["{calibration_dir.as_posix()}"]\n'
    project.config.write_text(
        project.config.read_text(encoding="utf-8").replace("\n[quantize]\nreduce_range = false\n", toml),
        encoding="utf-8",
    )

    message = _usage_error(cli, project)

    assert "INT8 needs a held-out evaluation set" in message and "add [evaluation]" in message


def test_bad_exclusion_regex_and_one_that_matches_nothing(
    make_project: ProjectFactory, cli: CliRunner, calibration_dir: Path, evaluation_dir: Path
) -> None:
    project = make_project(
        extra_toml=int8_toml(calibration_dir, evaluation_dir, '\n[quantize]\nexclude_nodes = ["(head"]\n')
    )

    message = _usage_error(cli, project)

    assert "quantize.exclude_nodes" in message and "'(head' is not a valid regex" in message

    project.config.write_text(
        project.config.read_text(encoding="utf-8").replace('["(head"]', '["^no_such_node$"]'),
        encoding="utf-8",
    )

    message = _usage_error(cli, project, "--exporter", "legacy")

    assert "quantize.exclude_nodes: ['^no_such_node$'] match no node name or module scope" in message
    assert "fix the regex" in message
