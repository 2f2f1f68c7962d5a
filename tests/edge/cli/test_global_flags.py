"""lepton-edge's own flags (not a subcommand's): accepted before or after the subcommand."""

from __future__ import annotations

import pytest

from lepton.edge.cli.main import build_parser as edge_parser
from lepton.edge.version import __version__
from tests.support.daemon import lepton_edge


@pytest.mark.parametrize(
    "argv",
    [["-v", "check-config", "x.toml"], ["check-config", "-v", "x.toml"], ["check-config", "x.toml", "-v"]],
)
def test_edge_verbose_before_or_after_the_subcommand(argv: list[str]) -> None:
    assert edge_parser().parse_args(argv).verbose is True


def test_edge_verbose_defaults_off() -> None:
    assert edge_parser().parse_args(["check-config", "x.toml"]).verbose is False


@pytest.mark.parametrize("argv", [["--version"], ["run", "--version"], ["tail", "--version"]])
def test_edge_version_names_lepton_and_the_runtimes(argv: list[str]) -> None:
    result = lepton_edge(*argv)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"lepton-edge {__version__} (") and "onnxruntime" in line and "OpenCV" in line
    assert "TensorRT" in line  # its version, or named among those not installed
