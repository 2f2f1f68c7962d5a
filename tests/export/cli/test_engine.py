"""``lepton-export engine BUNDLE`` and ``build --engine`` where TensorRT is absent: exit 2 with the
reason and where to run it instead, before any work, and the bundle untouched."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from lepton.edge.bundle.manifest import sha256_file, verify_bundle
from lepton.export.errors import USAGE_EXIT_CODE
from tests.conftest import MODELS
from tests.export.conftest import CliRunner, ProjectFactory

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="this machine has TensorRT: the flags build"
)


def test_engine_subcommand_without_tensorrt_exits_2_and_leaves_the_bundle(
    tmp_path: Path, cli: CliRunner
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(MODELS / "color_bundle", bundle)
    before = sha256_file(bundle / "manifest.json")

    result = cli("engine", str(bundle), "--json")

    assert result.returncode == USAGE_EXIT_CODE == 2
    assert "lepton-export engine: TensorRT cannot build on this machine (not installed" in result.stderr
    assert "CI runner on a Jetson of the fleet's JetPack" in result.stderr
    assert '"ok": false' in result.stdout and '"exit_code": 2' in result.stdout
    assert sha256_file(bundle / "manifest.json") == before
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no staging copy left
    verify_bundle(bundle)


def test_build_with_engine_fails_before_exporting(make_project: ProjectFactory, cli: CliRunner) -> None:
    project = make_project("small_cnn")

    result = cli(*project.cli_args("--engine"))

    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("lepton-export: error:")]
    assert len(errors) == 1 and "--engine: TensorRT cannot build on this machine" in errors[0]
    assert project.no_bundle_left()


def test_engine_flags_are_validated_like_the_box_config(tmp_path: Path, cli: CliRunner) -> None:
    result = cli("engine", str(MODELS / "color_bundle"), "--builder-optimization-level", "9")
    assert result.returncode == 2
    assert "engine flags:" in result.stderr and "builder_optimization_level" in result.stderr
