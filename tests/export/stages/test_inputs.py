"""Labels, samples and the output directory: checked before the model is touched; each
failure is exit 2 naming the key or file and the fix, with nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.export.conftest import CliRunner, ProjectFactory


def _usage_error(cli: CliRunner, args: list[str]) -> str:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    return result.stderr


def test_missing_samples_dir(make_project: ProjectFactory, cli: CliRunner, tmp_path: Path) -> None:
    absent = tmp_path / "no-such-samples"
    project = make_project(samples=absent)

    message = _usage_error(cli, project.cli_args())

    assert f"samples.dir {absent}: does not exist" in message
    assert "--samples-dir" in message and "real jpg/png images" in message
    assert project.no_bundle_left()


def test_too_few_samples(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project()

    message = _usage_error(cli, project.cli_args("--sample-count", "40"))

    assert "has 16 jpg/png images but samples.count is 40" in message and "lower samples.count" in message


def test_undecodable_sample(
    make_project: ProjectFactory, cli: CliRunner, sample_dir: Path, tmp_path: Path
) -> None:
    samples = tmp_path / "samples"
    shutil.copytree(sample_dir, samples)
    (samples / "line_a" / "frame_01.png").write_bytes(b"\x89PNG but not really")
    project = make_project(samples=samples)

    message = _usage_error(cli, project.cli_args("--sample-count", "16"))

    assert f"sample {samples / 'line_a' / 'frame_01.png'}: OpenCV cannot decode it" in message


def test_missing_labels_file(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project()
    (project.root / "labels.txt").unlink()

    message = _usage_error(cli, project.cli_args())

    assert f"model.labels {project.root / 'labels.txt'}: file not found" in message


def test_background_label_not_in_labels(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project(labels=("good", "scratch", "dent"))

    message = _usage_error(cli, project.cli_args())

    assert "model.background_labels: ['ok'] are not in" in message and "use labels from the file" in message


def test_out_dir_that_is_not_a_bundle_is_never_replaced(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project()
    project.out.mkdir(parents=True)
    precious = project.out / "thesis.tex"
    precious.write_text("years of work\n", encoding="utf-8")

    message = _usage_error(cli, project.cli_args())

    assert "not a lepton bundle; refusing to replace it" in message
    assert precious.read_text(encoding="utf-8") == "years of work\n"
