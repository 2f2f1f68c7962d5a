"""lepton-export's own flags (not a subcommand's): accepted before or after the subcommand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lepton.edge.version import __version__
from lepton.export.cli.main import build_parser as export_parser

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("argv", "verbose", "quiet"),
    [
        (["-v", "build", "--config", "e.toml"], 1, 0),
        (["build", "--config", "e.toml", "-v"], 1, 0),
        (["-q", "build", "--config", "e.toml"], 0, 1),
        (["build", "-q", "--config", "e.toml"], 0, 1),
        (["build", "--config", "e.toml"], 0, 0),
    ],
)
def test_export_verbosity_before_or_after_the_subcommand(argv: list[str], verbose: int, quiet: int) -> None:
    args = export_parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (verbose, quiet)


@pytest.mark.parametrize("argv", [["--version"], ["build", "--version"]])
def test_export_version_names_lepton_and_the_toolchain(argv: list[str]) -> None:
    result = subprocess.run([str(BIN / "lepton-export"), *argv], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"lepton-export {__version__} (torch ")


def test_the_launcher_without_the_export_side_uses_the_usage_exit_code() -> None:
    # lepton/export_launcher.py cannot import lepton.export (that is its point), so it keeps a copy
    from lepton.export.errors import USAGE_EXIT_CODE
    from lepton.export_launcher import USAGE_EXIT_CODE as LAUNCHER_USAGE_EXIT_CODE

    assert LAUNCHER_USAGE_EXIT_CODE == USAGE_EXIT_CODE == 2
