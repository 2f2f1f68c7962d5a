"""The benchmark venv that holds Ultralytics, and how its children are run.

Ultralytics is AGPL: it must never be installed beside lepton (its venv, its extras, CI).
It lives in a venv of its own, outside the repository, and runs only as child processes
that import nothing of lepton.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from pathlib import Path
from typing import Any

DEFAULT_PYTHON = Path("/work/bench-ultra/bin/python")

HOW_TO_CREATE = """\
The Ultralytics side runs in its own venv, outside the repository (Ultralytics is AGPL and must
never be a lepton dependency). Create it once (about 7 GB: the torch wheel is a CUDA build, which
runs on CPU), then pass it with --ultra-python if it is not at {python}:

    python3.11 -m venv {venv}
    {venv}/bin/pip install torch==2.14.1 torchvision==0.29.1
    {venv}/bin/pip install ultralytics onnx onnxslim onnxruntime=={ort} openvino=={ov} py-spy

(onnxruntime and openvino at the versions lepton's venv has, so both sides run the same runtimes;
onnx, onnxslim and openvino are what Ultralytics' exports need, installed first so that it does not
try to pip-install them itself.)"""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "<the version lepton's venv has>"


def how_to_create(python: Path) -> str:
    return HOW_TO_CREATE.format(
        python=python, venv=python.parent.parent, ort=_version("onnxruntime"), ov=_version("openvino")
    )


def check_venv(python: Path) -> dict[str, str] | str:
    """The versions the venv holds, or why it cannot be used (with how to create it)."""
    if not python.is_file():
        return f"--ultra-python {python}: not found.\n\n{how_to_create(python)}"
    probe = (
        "import json, ultralytics, onnxruntime, openvino, torch, cv2; "
        "print(json.dumps({'ultralytics': ultralytics.__version__, 'onnxruntime': onnxruntime.__version__, "
        "'openvino': openvino.__version__, 'torch': torch.__version__, 'opencv': cv2.__version__}))"
    )
    proc = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=False, env=_env(None)
    )
    if proc.returncode != 0:
        missing = proc.stderr[-1500:]
        return f"--ultra-python {python}: cannot import what it needs:\n{missing}\n{how_to_create(python)}"
    versions: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return versions


def _env(settings_dir: Path | None) -> dict[str, str]:
    """No lepton on its path but this repository's benchmarks package; Ultralytics' settings kept
    beside the results rather than in ~/.config; offline (nothing can be downloaded here)."""
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PYTHONPATH": str(repo), "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_VERBOSE": "0"}
    if settings_dir is not None:
        env["YOLO_CONFIG_DIR"] = str(settings_dir)
    return env


def run_ultra(
    python: Path, module: str, args: list[str], settings_dir: Path, timeout_s: float
) -> dict[str, Any]:
    """Run ``benchmarks.yolo_vs_ultralytics.<module>`` in the venv; its last JSON line."""
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [str(python), "-m", f"benchmarks.yolo_vs_ultralytics.{module}", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=repo,
        env=_env(settings_dir),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
