"""The product as a line engineer installs it: the built wheels, a fresh venv, no source tree.

Builds ``lepton-line`` and ``lepton-line-export`` from this checkout (each wheel from its
sdist), checks what each wheel
carries (the daemon's: no export, calibration or demo code, but the unit, example configs,
broker config, schemas and license), installs the daemon's with only its ``cpu`` extra into
a fresh virtualenv, and runs it from a directory outside the source tree: ``--version``,
``lepton-export`` without its extra, the shipped example through ``check-config``,
``install-service`` into a root directory, and the demo video through the daemon.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from demo.scoring import score_events
from demo.truth import read_truth
from tests.conftest import REPO
from tests.e2e.conftest import DEMO, write_demo_config
from tests.support.mosquitto import Broker
from tests.support.subscriber import Subscriber

pytestmark = pytest.mark.timeout(1800)
VERSION = "0.2.0"


def _build_wheel(project: Path, out: Path) -> Path:
    """sdist first, then the wheel from the sdist: a file the sdist lacks fails the wheel checks."""
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return _build_wheel(REPO, out / "line"), _build_wheel(REPO / "packaging" / "export", out / "export")


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH and no virtualenv of ours: the installed code or nothing."""
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}


@pytest.fixture(scope="module")
def installed(wheels: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the daemon's wheel and its cpu extra; returns its bin directory."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=True)
    bin_dir = root / "bin"
    result = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", f"{wheels[0]}[cpu]"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return bin_dir


def _run(bin_dir: Path, *args: str, cwd: Path, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_clean_env(),
        timeout=timeout_s,
        check=False,
    )


def test_daemon_wheel_carries_the_deployment_files_and_no_export_code(wheels: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for shipped in (
        "lepton/systemd/lepton-edge.service",
        "lepton/systemd/config.example.toml",
        "lepton/systemd/mosquitto-lepton.conf",
        "lepton/systemd/README.md",
        "lepton/schemas/lepton-edge.config.schema.json",
        "lepton/schemas/lepton.event-1.schema.json",
        "lepton/schemas/lepton.bundle-1.schema.json",
        "lepton/edge/service/app.py",
        f"lepton_line-{VERSION}.dist-info/licenses/LICENSE",
    ):
        assert shipped in names, f"{shipped} missing from {wheels[0].name}"
    tops = {n.split("/")[0] for n in names}
    assert tops == {"lepton", f"lepton_line-{VERSION}.dist-info"}, tops
    inside = {n.split("/")[1] for n in names if n.startswith("lepton/") and n.count("/") > 1}
    assert inside == {"edge", "systemd", "schemas"}, f"the daemon's wheel carries {inside}"


def test_export_wheel_carries_export_and_calibration_only(wheels: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(wheels[1]).namelist())
    code = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert {n.split("/")[1] for n in code} == {"export", "calibration"}
    assert "lepton/__init__.py" not in names  # owned by lepton-line, which it requires
    assert "lepton/export/cli/main.py" in names and "lepton/calibration/ranges.py" in names


def test_installed_daemon_reports_its_versions_and_files(installed: Path, tmp_path: Path) -> None:
    version = _run(installed, "lepton-edge", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert f"lepton-edge {VERSION}" in version.stdout and "onnxruntime" in version.stdout
    after = _run(installed, "lepton-edge", "check-config", "--version", cwd=tmp_path)
    assert after.stdout == version.stdout  # a global flag works after the subcommand too
    listed = _run(installed, "lepton-edge", "files", cwd=tmp_path)
    assert str(installed.parent) in listed.stdout and "mosquitto-lepton.conf" in listed.stdout
    for path in (line.split()[-1] for line in listed.stdout.splitlines()):
        assert Path(path).is_file(), path


def test_export_without_its_extra_names_the_extra(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, "lepton-export", "build", "--config", "x.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "pip install 'lepton-line[export]'" in result.stderr and "Traceback" not in result.stderr
    probe = _run(installed, "python", "-c", "import lepton.export", cwd=tmp_path)
    assert probe.returncode != 0, "the daemon's install carries export code"


def test_check_config_on_the_shipped_example_names_only_what_the_box_lacks(
    installed: Path, tmp_path: Path
) -> None:
    example = _run(installed, "lepton-edge", "files", "show", "config.example.toml", cwd=tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(example.stdout, encoding="utf-8")
    result = _run(installed, "lepton-edge", "check-config", str(config), cwd=tmp_path)
    # The example is schema-valid; what fails is on disk: the bundle and the secret files
    # it names do not exist on this machine.
    assert result.returncode == 78, result.stderr
    assert "bundle.path" in result.stderr and "/var/lib/lepton/bundles/defects-v1" in result.stderr
    assert "unknown key" not in result.stderr and "Traceback" not in result.stderr


def test_install_service_from_the_wheel_points_the_unit_at_this_install(
    installed: Path, tmp_path: Path
) -> None:
    first = _run(installed, "lepton-edge", "install-service", "--root", str(tmp_path / "root"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    unit = (tmp_path / "root/etc/systemd/system/lepton-edge.service").read_text()
    assert f"ExecStart={installed / 'lepton-edge'} run --config /etc/lepton/config.toml" in unit
    documentation = next(line for line in unit.splitlines() if line.startswith("Documentation="))
    assert Path(documentation.removeprefix("Documentation=file://")).is_file()
    again = _run(installed, "lepton-edge", "install-service", "--root", str(tmp_path / "root"), cwd=tmp_path)
    assert "install-service: 0 change(s)" in again.stdout


def test_installed_daemon_runs_the_demo_line_outside_the_source_tree(
    installed: Path, tmp_path: Path, broker: Broker, demo_bundle: Path
) -> None:
    where = _run(installed, "python", "-c", "import lepton.edge; print(lepton.edge.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(installed.parent)), where.stdout
    truth = read_truth(DEMO / "line.truth.json")
    config = write_demo_config(tmp_path, demo_bundle, broker.port)
    sub = Subscriber(broker.port, "lepton/demo-box/+/events")
    try:
        result = _run(installed, "lepton-edge", "run", "--config", str(config), cwd=tmp_path, timeout_s=600)
        assert result.returncode == 0, result.stderr[-3000:]
        received = sub.wait_for("/events", 2 * len(truth.defect_windows()), timeout_s=30)
    finally:
        sub.close()
    from lepton.edge.events.schema import Event

    score = score_events(truth, [Event.model_validate_json(m.payload) for m in received])
    assert not score.false_alarms and not score.incomplete
    assert all(len(p.occurrences) == 1 for p in score.parts)
