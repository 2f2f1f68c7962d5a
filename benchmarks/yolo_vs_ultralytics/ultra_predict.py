"""Runs in the benchmark venv: Ultralytics' own ``predict`` on one export, over the video,
as its docs give the fastest usage (``stream=True``, a generator over the file), and prints
one ``Timed`` JSON line.

The window opens when the first result arrives (the model load, the warm-up Ultralytics runs
itself and the first frame are outside it, as loading and the engine choice are outside
lepton-edge's READY → STOPPING window) and closes after the last frame.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.yolo_vs_ultralytics.record import Timed, parse_imgsz


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(prog="ultra_predict")
    parser.add_argument("--model", type=Path, required=True, help="the exported .onnx or *_openvino_model/")
    parser.add_argument("--format", required=True)
    parser.add_argument("--imgsz", required=True, help="H or H,W as exported")
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--conf", type=float, default=0.25, help="Ultralytics' default")
    args = parser.parse_args()
    from ultralytics import YOLO  # type: ignore[import-not-found, unused-ignore]

    height, width = parse_imgsz(args.imgsz)
    model = YOLO(str(args.model), task="detect")
    boxes: list[int] = []
    speed = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
    start_wall = start_cpu = 0.0
    results = model.predict(
        source=str(args.video),
        stream=True,
        imgsz=[height, width],
        conf=args.conf,
        device="cpu",
        verbose=False,
    )
    for result in results:
        if not boxes:
            start_wall, start_cpu = time.monotonic(), time.process_time()
        else:
            for key in speed:
                speed[key] += float(result.speed.get(key) or 0.0)
        boxes.append(len(result.boxes))
    end_wall, end_cpu = time.monotonic(), time.process_time()
    timed_frames = len(boxes) - 1
    seconds = end_wall - start_wall
    print(
        Timed(
            side="ultralytics",
            variant=f"ultralytics {args.format} imgsz {args.imgsz}",
            imgsz=args.imgsz,
            frames=timed_frames,
            seconds=seconds,
            cpu_cores=(end_cpu - start_cpu) / max(seconds, 1e-9),
            peak_rss_mb=_peak_rss_mb(),
            engine=f"{args.format} ({os.cpu_count()} CPUs, Ultralytics' defaults)",
            boxes=boxes,
            stage_ms={k: round(v / max(timed_frames, 1), 3) for k, v in speed.items()},
        ).to_json()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
