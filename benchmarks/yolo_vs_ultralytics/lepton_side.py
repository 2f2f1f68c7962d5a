"""lepton's side: the Ultralytics ONNX bundled by ``lepton-export`` (bring your own ONNX, INT8
calibrated on the video's frames), and the engines ``lepton-edge`` may run it on."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lepton.edge.bundle.manifest import Precision, verify_bundle
from lepton.edge.decoders.findings import FrameFindings
from lepton.edge.decoders.registry import create_decoder
from lepton.edge.engines.base import Compute
from lepton.edge.engines.registry import engine_class
from lepton.edge.preprocess import preprocess_batch

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class EngineVariant:
    """One way to run the daemon: pinned to a backend and precision, or left to choose."""

    name: str
    backends: tuple[str, ...]
    precision: str
    """``[bundle] precision``: ``fp32``, ``int8`` or ``auto``."""
    engine_precision: tuple[str, ...] | None
    """``[engine] precision``; None: the daemon's ``auto``."""


ENGINES: dict[str, EngineVariant] = {
    "ort-cpu-fp32": EngineVariant("ort-cpu fp32", ("ort-cpu",), "fp32", ("fp32",)),
    "ort-cpu-int8": EngineVariant("ort-cpu int8", ("ort-cpu",), "int8", ("int8",)),
    "openvino-fp32": EngineVariant("openvino fp32", ("openvino",), "fp32", ("fp32",)),
    "openvino-int8": EngineVariant("openvino int8", ("openvino",), "int8", ("int8",)),
    "auto": EngineVariant("its own pick", ("openvino", "ort-cpu"), "auto", None),
}
"""Every engine the daemon can pick on this CPU (no bf16 without AVX-512/AMX), and its choice."""


def write_samples(video: Path, out: Path, count: int) -> Path:
    """``count`` frames spread over the video, as PNGs: the export's sample images."""
    out.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or count
    wanted = {int(i) for i in np.linspace(0, max(total - 1, 0), count)}
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            cv2.imwrite(str(out / f"frame{index:05d}.png"), frame)
        index += 1
    capture.release()
    return out


def _export_toml(onnx: Path, samples: Path, video: Path, frame_step: int, calibration: int) -> str:
    return f"""\
# INT8 without labelled data: agreement with FP32's own boxes is the accuracy gate
evaluation = false

[model]
name = "yolov8n-random"
version = "bench"
onnx = "{onnx.resolve().as_posix()}"

[samples]
dir = "{samples.resolve().as_posix()}"
count = 16
golden_count = 4

[calibration]
videos = ["{video.resolve().as_posix()}"]
frame_step = {frame_step}
count = {calibration}
allow_small = true
method = "minmax"

[quantize]
# Q/DQ placed by NNCF for OpenVINO: 2.20x ORT FP32 on OpenVINO where the portable file gave
# 1.75x and bf16 1.78x (export speed stage, AMD EPYC Zen 5)
openvino_artifact = true

[speed]
threads = 0
duration_s = 1.0
also_threads = []
"""


def code_trees() -> dict[str, str]:
    """The committed trees of the code that writes and reads a bundle: a bundle from older
    exporter code is not reused (uncommitted edits are not seen: ``--force`` then)."""
    trees = {}
    for folder in ("export", "calibration", "edge"):
        proc = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", f"HEAD:{folder}"],
            capture_output=True,
            text=True,
            check=False,
        )
        trees[folder] = proc.stdout.strip() if proc.returncode == 0 else "unknown"
    return trees


def export_bundle(onnx: Path, video: Path, work: Path, calibration: int, force: bool) -> Path:
    """``lepton-export build`` as CI runs it (console script, this checkout's code); reused when
    the same ONNX, video, settings and exporter code made the bundle already."""
    work.mkdir(parents=True, exist_ok=True)
    bundle = work / "bundle"
    stamp_path = work / "stamp.json"
    stamp = {
        "onnx_sha256": hashlib.sha256(onnx.read_bytes()).hexdigest(),
        "video": str(video.resolve()),
        "video_bytes": video.stat().st_size,
        "calibration": calibration,
        "code": code_trees(),
    }
    made = (bundle / "manifest.json").is_file() and stamp_path.is_file()
    if not force and made and json.loads(stamp_path.read_text()) == stamp:
        return bundle
    samples = write_samples(video, work / "samples", 16)
    frames = int(cv2.VideoCapture(str(video), cv2.CAP_FFMPEG).get(cv2.CAP_PROP_FRAME_COUNT)) or calibration
    frame_step = max(1, frames // calibration)
    config = work / "export.toml"
    config.write_text(_export_toml(onnx, samples, video, frame_step, calibration))
    script = Path(sys.executable).parent / "lepton-export"
    log = work / "export.log"
    with log.open("w") as stderr:
        proc = subprocess.run(
            [str(script), "build", "--config", str(config), "--out", str(bundle), "--json", "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    if proc.returncode != 0:
        raise RuntimeError(f"lepton-export exited {proc.returncode}; see {log}:\n{log.read_text()[-3000:]}")
    (work / "export.json").write_text(proc.stdout)
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
    return bundle


def count_boxes(bundle: Path, video: Path, frames: int, variant: EngineVariant) -> list[int]:
    """Boxes per frame over the first ``frames`` frames with the daemon's own engine, preprocessing
    and decoder (the daemon publishes events, not boxes per frame); not timed."""
    manifest = verify_bundle(bundle)
    precision: Precision = "int8" if variant.precision == "int8" else "fp32"
    backend = variant.backends[0]
    artifact = manifest.model_artifact(precision, backend)
    assert artifact is not None
    compute: Compute = precision
    engine = engine_class(backend)(bundle / artifact.path, manifest, precision, 0, compute=compute)
    decoder = create_decoder(manifest)
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    counts: list[int] = []
    engine.open()
    try:
        while len(counts) < frames:
            ok, read = capture.read()
            if not ok:
                break
            frame = np.asarray(read, dtype=np.uint8)
            tensor = preprocess_batch([frame], manifest.preprocess, manifest.input)
            height, width = frame.shape[:2]
            verdict = decoder.decode(engine.infer(tensor), [(height, width)])[0]
            counts.append(len(verdict.detections) if isinstance(verdict, FrameFindings) else 0)
    finally:
        engine.close()
        capture.release()
    return counts
