"""A signal stops ``lepton-export build`` cleanly: a real export subprocess is signalled half-way
and must leave nothing behind, neither beside ``--out`` nor in its temporary directory."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.export.conftest import ProjectFactory, int8_toml, lepton_export_script


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
    proc = subprocess.Popen(
        [*cmd, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        deadline = time.monotonic() + 240
        while not list(project.out.parent.glob(f".{project.out.name}.*.staging/model.int8.onnx")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the export never reached INT8"
            time.sleep(0.2)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 128 + signum, stderr
    assert f"lepton-export: error: {signum.name}: export stopped" in stderr
    assert "Traceback" not in stderr
    assert project.no_bundle_left() and list(project.out.parent.iterdir()) == []
    assert [p.name for p in temp.iterdir() if p.name.startswith("lepton-")] == []  # torch's caches may stay
