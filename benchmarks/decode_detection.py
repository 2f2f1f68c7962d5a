"""Detection decode cost per frame: the daemon's ``DetectionDecoder`` on YOLOv8-sized outputs.

A (1, 84, 8400) raw output (80 classes, a 640x640 input) with 0, 30 and 200 anchors above
the score threshold, decoded into frame pixels of a 640x480 frame: max over classes, argmax
on the survivors, OpenCV's class-aware NMS, the letterbox undone. It tells whether decoding
matters next to inference (tens of milliseconds for a YOLOv8n on a CPU). Synthetic
outputs: no model, no video. Not a test: nothing here asserts a speed.

Usage: ``PYTHONPATH=. .venv/bin/python benchmarks/decode_detection.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lepton.edge.bundle.manifest import (  # noqa: E402
    Artifact,
    DecoderSpec,
    DetectionDecoding,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    PreprocessSpec,
    Toolchain,
)
from lepton.edge.decoders.detection import DetectionDecoder  # noqa: E402

LABELS = tuple(f"class{i}" for i in range(80))


def manifest() -> Manifest:
    return Manifest(
        created_at=datetime.now(timezone.utc),
        model=ModelInfo(name="yolov8n", version="bench", task="detection"),
        labels=LABELS,
        input=InputSpec(name="images", height=640, width=640),
        preprocess=PreprocessSpec(color_order="rgb", resize_mode="letterbox", mean=(0, 0, 0), std=(1, 1, 1)),
        outputs=(OutputSpec(name="output0", shape=("N", 84, 8400), semantics="detections_raw"),),
        decoder=DecoderSpec(
            kind="detection",
            output="output0",
            background_labels=(),
            detection=DetectionDecoding(layout="yolo_raw"),
        ),
        artifacts=(Artifact(path="model.onnx", sha256="0" * 64, bytes=0, role="model", precision="fp32"),),
        toolchain=Toolchain(python="3", lepton="bench"),
    )


def output(above: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((1, 84, 8400), np.float32)
    out[0, :2] = rng.uniform(0, 640, (2, 8400))
    out[0, 2:4] = rng.uniform(10, 100, (2, 8400))
    out[0, 4:] = rng.uniform(0, 0.2, (80, 8400))  # below conf 0.25
    picked = rng.choice(8400, above, replace=False)
    out[0, 4 + rng.integers(0, 80, above), picked] = rng.uniform(0.3, 1.0, above)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    decoder = DetectionDecoder(manifest())
    rng = np.random.default_rng(0)
    for above in (0, 30, 200):
        raw = {"output0": output(above, rng)}
        for _ in range(5):
            decoder.decode(raw, [(480, 640)])
        start = time.perf_counter()
        for _ in range(args.frames):
            (found,) = decoder.decode(raw, [(480, 640)])
        ms = (time.perf_counter() - start) / args.frames * 1000
        print(f"{above:4d} anchors above conf -> {len(found.detections):3d} boxes: {ms:.3f} ms/frame")


if __name__ == "__main__":
    main()
