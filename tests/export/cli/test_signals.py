"""A signal stops ``lepton-export build`` cleanly: a real export subprocess is signalled half-way
and must leave nothing behind, neither beside ``--out`` nor in its temporary directory."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.export.conftest import ProjectFactory, int8_toml, lepton_export_script
from tests.export.onnx_models import write_yolo
from tests.export.test_onnx_build import DETECTION_TOML, write_images


def signal_mid_export(
    cmd: list[str], staging: Path, int8_glob: str, signum: signal.Signals, **popen: Any
) -> tuple[int, str]:
    """Run ``cmd`` (a ``lepton-export build``), send ``signum`` once ``int8_glob`` matches in
    ``staging``'s folder (the export is then well past writing files), return its exit code and stderr."""
    proc = subprocess.Popen(
        [*cmd, "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    try:
        deadline = time.monotonic() + 240
        while not list(staging.glob(int8_glob)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the export never reached INT8"
            time.sleep(0.2)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_export_removes_the_staging_directory_and_temporary_files(
    make_project: ProjectFactory,
    calibration_dir: Path,
    evaluation_dir: Path,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    # a long speed stage keeps the export running well after the staging directory has files
    extra = int8_toml(calibration_dir, evaluation_dir).replace("duration_s = 0.2", "duration_s = 120.0")
    project = make_project("small_cnn", extra_toml=extra)
    temp = tmp_path / "tmp"
    temp.mkdir()
    cmd = [str(lepton_export_script()), "build", "--config", str(project.config), "--out", str(project.out)]
    returncode, stderr = signal_mid_export(
        cmd,
        project.out.parent,
        f".{project.out.name}.*.staging/model.int8.onnx",
        signum,
        env={**os.environ, "TMPDIR": str(temp)},
    )

    assert returncode == 128 + signum, stderr
    assert f"lepton-export: error: {signum.name}: export stopped" in stderr
    assert "Traceback" not in stderr
    assert project.no_bundle_left() and list(project.out.parent.iterdir()) == []
    assert [p.name for p in temp.iterdir() if p.name.startswith("lepton-")] == []  # torch's caches may stay


def test_a_signal_mid_export_of_a_brought_onnx_model_leaves_nothing_behind(tmp_path: Path) -> None:
    # The bring-your-own-ONNX sequence (and the PyTorch detector's, which runs it) is its own
    # build function: the signal handling must cover it as it covers the classifier's.
    write_yolo(tmp_path / "tiny.onnx")
    write_images(tmp_path / "samples", 8, seed=1)
    write_images(tmp_path / "calib", 16, seed=2)
    toml = DETECTION_TOML.format(extra_model="", extra="").replace("duration_s = 0.2", "duration_s = 120.0")
    (tmp_path / "export.toml").write_text(toml)
    out = tmp_path / "bundle"
    cmd = [str(lepton_export_script()), "build", "--config", str(tmp_path / "export.toml"), "--out", str(out)]
    returncode, stderr = signal_mid_export(cmd, tmp_path, ".bundle.*.staging/model.int8.onnx", signal.SIGTERM)

    assert returncode == 128 + signal.SIGTERM, stderr
    assert "lepton-export: error: SIGTERM: export stopped" in stderr
    assert "Traceback" not in stderr
    assert not out.exists() and list(tmp_path.glob(".bundle.*")) == []
