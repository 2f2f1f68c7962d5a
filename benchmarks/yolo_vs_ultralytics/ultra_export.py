"""Runs in the benchmark venv: YOLOv8n from ``yolov8n.yaml`` (random weights, seeded: nothing
can be downloaded here), saved once, then exported by Ultralytics itself to each format and
input size. Writes ``exports.json`` under ``--out``; an export Ultralytics refuses is listed
with its error, not fatal.

    /work/bench-ultra/bin/python -m benchmarks.yolo_vs_ultralytics.ultra_export --out DIR \
        [--formats onnx,openvino] [--imgsz 640,480x640] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.yolo_vs_ultralytics.record import imgsz_text, parse_imgsz

MODEL_YAML = "yolov8n.yaml"


def build_checkpoint(out: Path, seed: int) -> Path:
    import torch
    from ultralytics import YOLO  # type: ignore[import-not-found, unused-ignore]

    torch.manual_seed(seed)
    model = YOLO(MODEL_YAML)
    path = out / "yolov8n-random.pt"
    model.save(str(path))
    return path


def export_one(checkpoint: Path, out: Path, fmt: str, imgsz: tuple[int, int]) -> dict[str, Any]:
    """One export in its own folder (Ultralytics writes beside the checkpoint it reads)."""
    from ultralytics import YOLO  # type: ignore[import-not-found, unused-ignore]

    folder = out / f"{fmt}-{imgsz[0]}x{imgsz[1]}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    local = folder / "yolov8n.pt"
    shutil.copy2(checkpoint, local)
    started = time.perf_counter()
    entry: dict[str, Any] = {"format": fmt, "imgsz": imgsz_text(imgsz)}
    try:
        exported = YOLO(str(local)).export(format=fmt, imgsz=list(imgsz), device="cpu")
        entry |= {"path": str(Path(exported).resolve()), "seconds": round(time.perf_counter() - started, 1)}
    except Exception as err:  # any refusal is a finding to report, not a crash
        traceback.print_exc(file=sys.stderr)
        entry["error"] = f"{type(err).__name__}: {err}"
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(prog="ultra_export")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--formats", default="onnx,openvino")
    parser.add_argument("--imgsz", default="640,480x640", help="comma-separated: 640 or HxW")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import torch
    import ultralytics  # type: ignore[import-not-found, unused-ignore]

    checkpoint = build_checkpoint(args.out, args.seed)
    sizes = [parse_imgsz(s) for s in args.imgsz.split(",") if s]
    exports = [export_one(checkpoint, args.out, f, s) for f in args.formats.split(",") if f for s in sizes]
    summary = {
        "model": MODEL_YAML,
        "weights": f"random, torch.manual_seed({args.seed})",
        "checkpoint": str(checkpoint),
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "exports": exports,
    }
    (args.out / "exports.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
