"""A bundle or state dir the service user cannot read: one clear line and an exit code systemd
does not restart on (65 bundle, 78 state dir), never a traceback and a restart every 10 s.

The daemon runs as ``nobody`` (setpriv), as the unit's ``User=lepton`` would, against a
bundle written 0700 and copied by root: what the issue saw on a real box.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton.edge import exitcodes
from tests.conftest import MODELS
from tests.support.daemon import BIN, daemon_config, write_config
from tests.support.mosquitto import free_port
from tests.support.videos import GRAY, write_color_video

SETPRIV = shutil.which("setpriv")
NOBODY = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to run the daemon as nobody"
)


@pytest.fixture
def box() -> Iterator[Path]:
    """A directory ``nobody`` can reach (pytest's tmp_path is under a 0700 root directory)."""
    path = Path(tempfile.mkdtemp(prefix="lepton-nobody-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _setup(box: Path) -> tuple[Path, Path, Path]:
    bundle = shutil.copytree(MODELS / "color_bundle", box / "bundle")
    video = box / "line.mp4"
    write_color_video(video, [(GRAY, 5)])
    state = box / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    text = daemon_config(bundle=bundle, video=video, port=free_port(), state_dir=state)
    config = write_config(box / "lepton.toml", text)
    for path in (video, config):
        path.chmod(0o644)
    return bundle, state, config


def _as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    assert SETPRIV is not None
    return subprocess.run(
        [SETPRIV, *NOBODY, str(BIN / "lepton-edge"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )


def _one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("lepton-edge: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_the_setup_as_such_runs_as_nobody(box: Path) -> None:
    """The control: with everything readable the same daemon runs the video to its end."""
    _bundle, _state, config = _setup(box)
    result = _as_nobody("run", "--config", str(config))
    assert result.returncode == exitcodes.OK, result.stderr


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_bundle_directory_0700_owned_by_root_exits_65(box: Path, command: str) -> None:
    bundle, _state, config = _setup(box)
    bundle.chmod(0o700)
    args = ["run", "--config", str(config)] if command == "run" else ["check-config", str(config)]
    result = _as_nobody(*args)
    assert result.returncode == exitcodes.BUNDLE == 65
    error = _one_error(result)
    assert str(bundle) in error and "as user nobody" in error and "Permission denied" in error
    assert f"chmod -R a+rX {bundle}" in error


def test_bundle_subdirectory_unreadable_exits_65(box: Path) -> None:
    bundle, _state, config = _setup(box)
    (bundle / "golden").chmod(0o700)
    result = _as_nobody("run", "--config", str(config))
    assert result.returncode == exitcodes.BUNDLE
    assert "golden/" in _one_error(result)


def test_state_dir_owned_by_root_exits_78(box: Path) -> None:
    _bundle, state, config = _setup(box)
    os.chown(state, 0, 0)
    state.chmod(0o700)
    result = _as_nobody("run", "--config", str(config))
    assert result.returncode == exitcodes.CONFIG == 78
    error = _one_error(result)
    assert "service.state_dir" in error and str(state) in error and "chown -R nobody" in error


def test_outbox_left_by_a_run_as_root_exits_78(box: Path) -> None:
    """A first start by hand as root leaves a root-owned outbox.db in the service's state dir."""
    _bundle, state, config = _setup(box)
    (state / "outbox.db").write_bytes(b"")
    result = _as_nobody("run", "--config", str(config))
    assert result.returncode == exitcodes.CONFIG
    error = _one_error(result)
    assert f"{state / 'outbox.db'} is not writable by user nobody" in error
