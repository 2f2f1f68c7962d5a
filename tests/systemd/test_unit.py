"""The shipped unit and example config: linted offline, and valid against the real models."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lepton.edge.config.loader import load_config
from tests.conftest import REPO

UNIT = REPO / "systemd" / "lepton-edge.service"
needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _lintable_copy(tmp_path: Path) -> Path:
    # verify fails when ExecStart's binary is missing, so lint a copy that runs /bin/true
    text = "\n".join(
        "ExecStart=/bin/true" if line.startswith("ExecStart=") else line
        for line in UNIT.read_text().splitlines()
    )
    copy = tmp_path / "lepton-edge.service"
    copy.write_text(text + "\n")
    return copy


@needs_systemd
def test_unit_has_no_unknown_keys(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--recursive-errors=yes", "--man=no", str(_lintable_copy(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@needs_systemd
def test_unit_sandbox_exposure_stays_low(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=25", str(_lintable_copy(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:]


def test_unit_never_restart_loops_on_bad_config_or_bundle() -> None:
    text = UNIT.read_text()
    assert "RestartPreventExitStatus=65 66 78" in text
    assert "Type=notify" in text
    # systemd rejects or misreads trailing comments ("StateDirectory=x # y" is a path)
    assert not [line for line in text.splitlines() if "=" in line and "#" in line]


def _settings() -> dict[str, str]:
    return dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line)


def test_unit_outranks_other_processes_by_weight_not_by_realtime() -> None:
    """Nice= weighs the daemon's threads where it shares a scheduling group with other
    processes, CPUWeight= its cgroup where systemd runs the cpu controller: the same weight
    both ways (the kernel's ratio is 1.25 per nice step), so the priority does not depend on
    which one a box uses (systemd/README.md, "Scheduling"). Never a realtime policy: a daemon
    spinning in a bug must not starve the box, and RestrictRealtime=yes would refuse it."""
    settings = _settings()
    nice, weight = int(settings["Nice"]), int(settings["CPUWeight"])
    assert -10 <= nice < 0
    assert abs(weight / 100 - 1.25**-nice) / 1.25**-nice < 0.05
    assert settings["RestrictRealtime"] == "yes"
    assert settings.get("CPUSchedulingPolicy", "other") == "other"


def test_example_config_is_valid() -> None:
    config = load_config(REPO / "systemd" / "config.example.toml")
    assert config.device.id == "line1-station3"
    assert config.sources[0].kind == "camera"
    assert config.mqtt.tls is not None and config.mqtt.password_file is not None
