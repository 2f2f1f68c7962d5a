"""Every way a checkpoint can be wrong is exit 2 with a message naming the key, the file and
the fix, before any exporter runs, and nothing is left where the bundle would go."""

from __future__ import annotations

import pytest
import torch

from tests.export import tiny_models
from tests.export.conftest import CliRunner, ProjectFactory


def _usage_error(cli: CliRunner, args: list[str]) -> str:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("lepton-export: error:")]
    return line


def test_missing_checkpoint(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project()
    (project.root / "weights.pt").unlink()

    message = _usage_error(cli, project.cli_args())

    assert f"model.weights {project.root / 'weights.pt'}: checkpoint not found" in message
    assert "relative to the config file" in message and "torch.save(model.state_dict(), path)" in message
    assert project.no_bundle_left()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint(make_project: ProjectFactory, cli: CliRunner, damage: str) -> None:
    project = make_project()
    weights = project.root / "weights.pt"
    data = weights.read_bytes()
    weights.write_bytes(b"this is not a checkpoint" if damage == "garbage" else data[: len(data) // 2])

    message = _usage_error(cli, project.cli_args())

    assert f"model.weights {weights}: not a readable PyTorch checkpoint" in message
    assert "copy it again or re-save it" in message
    assert project.no_bundle_left()


def test_checkpoint_trained_for_another_class_count(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project(weights_classes=4)  # labels.txt has 3

    message = _usage_error(cli, project.cli_args())

    assert "model.weights" in message and "model (3, 16) vs checkpoint (4, 16)" in message
    assert "trained for 4 classes but model.labels has 3 labels: fix labels.txt" in message
    assert project.no_bundle_left()


def test_checkpoint_of_another_architecture(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project()
    torch.save(tiny_models.residual_bn(3).state_dict(), project.root / "weights.pt")

    message = _usage_error(cli, project.cli_args())

    assert "does not fit tests.export.tiny_models:small_cnn(num_classes=3)" in message
    assert "missing keys" in message and "unexpected keys" in message
    assert "point model.weights at a checkpoint of this architecture" in message


def test_labels_count_differs_from_the_model_outputs(make_project: ProjectFactory, cli: CliRunner) -> None:
    # A TorchScript model has its class count baked in; only a forward pass reveals it.
    project = make_project(model_toml='torchscript = "model.ts"\n')
    tiny_models.save_torchscript(tiny_models.small_cnn(4), project.root / "model.ts")

    message = _usage_error(cli, project.cli_args())

    assert (
        f"model.labels {project.root / 'labels.txt'}: has 3 labels but the model outputs 4 classes" in message
    )
    assert "one per line in output order" in message
    assert project.no_bundle_left()


def test_factory_module_not_on_the_module_path(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project(model_toml='factory = "no_such_models:cnn"\nweights = "weights.pt"\n')

    message = _usage_error(cli, project.cli_args())

    assert "model.factory 'no_such_models:cnn': module 'no_such_models' not found" in message
    assert "set model.module_path" in message


def test_a_model_that_cannot_run_the_configured_input_size(
    make_project: ProjectFactory, cli: CliRunner
) -> None:
    project = make_project(factory="fixed_size_head")  # sized for 5x5; the project's input is larger

    message = _usage_error(cli, project.cli_args())

    assert "model: forward on a zero input of shape (1, 3," in message
    assert "check [input] height/width against the model" in message
    assert project.no_bundle_left()
