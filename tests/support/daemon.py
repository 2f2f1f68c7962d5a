"""Run ``lepton-edge`` through its console script, as systemd or an installer would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def lepton_edge(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lepton-edge"), *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def daemon_config(
    *, bundle: Path, video: Path, port: int, state_dir: Path, device_id: str = "box-1", extra: str = ""
) -> str:
    return f"""
[device]
id = "{device_id}"
site = "plant-test"
line = "line-1"

[bundle]
path = "{bundle}"

[[sources]]
kind = "file"
camera = "cam1"
path = "{video}"

[events]
confirm_frames = 3
clear_frames = 3

[mqtt]
port = {port}
keepalive_s = 10

[service]
state_dir = "{state_dir}"
stats_interval_s = 1.0
{extra}
"""
