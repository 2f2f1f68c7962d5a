"""The demo build shared by the end-to-end tests: data, conveyor video and bundles under build/demo.

Built once per session (and cached across sessions with `make demo`): the data, the video,
the shipped weights in demo/weights/ (classifier, detector and anomaly model), and the exports. The suite
runs in several pytest-xdist workers: a file lock lets one build while the others wait for it
(the build is idempotent, so a worker that waited finds it current).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import REPO

BIN = Path(sys.executable).parent
DEMO = REPO / "build" / "demo"


def _run(*args: str, timeout_s: float) -> None:
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="session")
def demo_bundle() -> Path:
    DEMO.mkdir(parents=True, exist_ok=True)
    with FileLock(DEMO.parent / ".demo-build.lock"):
        return _build_demo()


def _build_demo() -> Path:
    _run(str(BIN / "python"), "-m", "demo", "build", "--out", str(DEMO), timeout_s=900)
    current = subprocess.run(
        [str(BIN / "python"), "-m", "demo", "bundle-current", "--out", str(DEMO)], cwd=REPO, check=False
    )
    if current.returncode != 0:
        export = str(BIN / "lepton-export")
        _run(export, "build", "--config", "demo/export.toml", "--out", str(DEMO / "bundle"), timeout_s=900)
    return DEMO / "bundle"


def _current_or_fp32_export(which: str, config: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make demo`'s ``<which>-bundle`` when it is current, else an FP32 export of ``config``
    (``--no-int8``: INT8 runs slower than FP32 on ORT CPU without VNNI, so the daemon runs FP32
    here either way; the INT8 gates of these paths have their own tests in tests/export/)."""
    current = subprocess.run(
        [str(BIN / "python"), "-m", "demo", "bundle-current", f"--{which}", "--out", str(DEMO)],
        cwd=REPO,
        check=False,
    )
    if current.returncode == 0:
        return DEMO / f"{which}-bundle"
    out = tmp_path_factory.mktemp(which) / "bundle"
    export = str(BIN / "lepton-export")
    _run(export, "build", "--config", config, "--out", str(out), "--no-int8", "--no-progress", timeout_s=900)
    return out


@pytest.fixture(scope="session")
def demo_detector_bundle(demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo detector's bundle (the PyTorch detection path: tests/export/test_torch_detection_build.py)."""
    return _current_or_fp32_export("detector", "demo/export-detector.toml", tmp_path_factory)


@pytest.fixture(scope="session")
def demo_anomaly_bundle(demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo anomaly model's bundle (anomaly INT8 gates: tests/export/test_onnx_build.py). The
    threshold is chosen on the val split's good and defective frames either way."""
    return _current_or_fp32_export("anomaly", "demo/export-anomaly.toml", tmp_path_factory)


def write_demo_config(
    tmp_path: Path, bundle: Path, broker_port: int, video: Path = DEMO / "line.mp4"
) -> Path:
    """The demo line's daemon config (as demo/lepton-edge.toml) against a test broker."""
    config = tmp_path / "lepton.toml"
    config.write_text(
        f"""
[device]
id = "demo-box"
line = "line-1"

[bundle]
path = "{bundle}"

[[sources]]
kind = "file"
camera = "cam1"
path = "{video}"

[events]
# as in demo/lepton-edge.toml
confirm_frames = 5
clear_frames = 5

[mqtt]
port = {broker_port}

[service]
state_dir = "{tmp_path / "state"}"
""",
        encoding="utf-8",
    )
    return config
