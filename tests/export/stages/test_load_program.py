"""A ``torch.export`` program (``model.exported_program``) that cannot become the bundle's
graph is exit 2 before any exporter runs, with one line naming the file and the fix: a file
that is not a program, a program fixed to another batch range or image size, and one
exported in training mode (which the parity gate could not catch: both sides would use the
batch's own statistics)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.export import tiny_models
from tests.export.conftest import CliRunner, Project, ProjectFactory

PROGRAM_TOML = 'exported_program = "model.pt2"\n'


def _usage_error(cli: CliRunner, project: Project) -> str:
    result = cli(*project.cli_args())
    assert result.returncode == 2, result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("lepton-export: error:")]
    assert project.no_bundle_left()
    return line


def _program(path: Path, batch: tuple[int, int] | None = (1, 4), size: int = 32) -> None:
    model = tiny_models.seeded(tiny_models.small_cnn(3), seed=1).eval()
    tiny_models.save_exported_program(model, path, batch=batch, size=size)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a program")


def _truncated(path: Path) -> None:
    _program(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damaged_entry(path: Path) -> None:
    """A valid zip whose serialized program is not JSON: corrupted inside, not truncated."""
    _program(path)
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, b"{ not json" if name.endswith("models/model.json") else data)


def _state_dict(path: Path) -> None:
    torch.save(tiny_models.small_cnn(3).state_dict(), path)


def _torchscript(path: Path) -> None:
    tiny_models.save_torchscript(tiny_models.small_cnn(3), path)


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (_garbage, ["not a torch.export archive", "not even a zip file", "torch.export.save("]),
        (_truncated, ["not a torch.export archive", "copy it again or re-save it"]),
        (_damaged_entry, ["not a readable torch.export program", "copy it again or re-save it"]),
        (_state_dict, ["is a torch.save file", "set model.factory and model.weights instead"]),
        (_torchscript, ["is a TorchScript file", "set model.torchscript to it instead"]),
    ],
    ids=["garbage", "truncated", "damaged", "state_dict", "torchscript"],
)
def test_a_file_that_is_not_a_program(
    make_project: ProjectFactory, cli: CliRunner, write: Callable[[Path], None], expected: list[str]
) -> None:
    project = make_project(model_toml=PROGRAM_TOML)
    write(project.root / "model.pt2")

    message = _usage_error(cli, project)

    assert f"model.exported_program {project.root / 'model.pt2'}: " in message
    for part in expected:
        assert part in message


def test_missing_program_file(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project(model_toml=PROGRAM_TOML)

    message = _usage_error(cli, project)

    assert f"model.exported_program {project.root / 'model.pt2'}: file not found" in message
    assert "torch.export.save(" in message


@pytest.mark.parametrize(
    ("batch", "size", "expected"),
    [
        (
            None,
            32,
            [
                "was exported with a static batch of 1, but [input] batch_max = 4 needs batches 1..4",
                "Dim('batch', min=1, max=4)",
                "or set [input] batch_max = 1",
            ],
        ),
        ((2, 8), 32, ["was exported with a batch of 2..8", "Dim('batch', min=1, max=4)"]),
        ((1, 2), 32, ["was exported with a batch of 1..2", "or set [input] batch_max = 2"]),
        ((1, 4), 40, ["takes images of shape (s", ", 3, 40, 40), but lepton feeds (batch, 3, 32, 32)"]),
    ],
    ids=["static", "no-batch-1", "max-too-small", "image-size"],
)
def test_a_program_that_does_not_fit_the_input_config(
    make_project: ProjectFactory,
    cli: CliRunner,
    batch: tuple[int, int] | None,
    size: int,
    expected: list[str],
) -> None:
    project = make_project(model_toml=PROGRAM_TOML)  # [input] 32x32, batch_max 4
    _program(project.root / "model.pt2", batch=batch, size=size)

    message = _usage_error(cli, project)

    assert f"model.exported_program {project.root / 'model.pt2'}: " in message
    for part in expected:
        assert part in message


def test_a_program_exported_in_training_mode(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project(model_toml=PROGRAM_TOML)
    model = tiny_models.seeded(tiny_models.residual_bn(3), seed=1).train()
    tiny_models.save_exported_program(model, project.root / "model.pt2")

    message = _usage_error(cli, project)

    assert "was exported from a model in training mode (aten.batch_norm with training=True)" in message
    assert "call model.eval() before torch.export.export" in message
