"""One command, one run: Ultralytics' ``predict`` on its own ONNX and OpenVINO exports of
YOLOv8n against ``lepton-edge`` on the same ONNX bundled by ``lepton-export``, on the same
640x480 video, rounds interleaving the variants.

    .venv/bin/python -m benchmarks.yolo_vs_ultralytics [--rounds 3] [--parts 4]
        [--ultra-python /work/bench-ultra/bin/python] [--engines ...] [--name yolo-vs-ultralytics]

Ultralytics runs in its own venv (AGPL: never a lepton dependency); without it this says how
to make one (exit 2). Writes ``<name>.json`` and ``<name>.md`` under ``--results``
(benchmarks/results/). Not a test: it asserts nothing; the target line says whether it held.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.pipeline.children import run_child
from benchmarks.pipeline.daemon_run import DaemonRun, run_daemon
from benchmarks.pipeline.inputs import frame_count
from benchmarks.pipeline.report import machine
from benchmarks.yolo_vs_ultralytics.inputs import demo_video, video_size
from benchmarks.yolo_vs_ultralytics.lepton_side import ENGINES, EngineVariant, count_boxes, export_bundle
from benchmarks.yolo_vs_ultralytics.record import Timed, imgsz_text, parse_imgsz
from benchmarks.yolo_vs_ultralytics.report import markdown, summarise
from benchmarks.yolo_vs_ultralytics.ultra_venv import DEFAULT_PYTHON, check_venv, run_ultra
from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger("yolo_vs_ultralytics")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.yolo_vs_ultralytics", description=__doc__)
    parser.add_argument(
        "--ultra-python", type=Path, default=DEFAULT_PYTHON, help="the benchmark venv's python"
    )
    parser.add_argument("--video", type=Path, help="a 640x480 video (default: the demo line, rendered)")
    parser.add_argument(
        "--parts", type=int, default=4, help="parts on the rendered demo line (~80 frames each)"
    )
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the random YOLOv8n weights")
    parser.add_argument("--ultra-formats", default="onnx,openvino")
    parser.add_argument("--ultra-imgsz", default="640,480x640", help="Ultralytics' export sizes, H or HxW")
    parser.add_argument(
        "--lepton-imgsz",
        default="480x640,640",
        help="ONNX exports lepton bundles; --engines run on the first",
    )
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"of {list(ENGINES)}")
    parser.add_argument("--other-engines", default="auto", help="engines on the other --lepton-imgsz bundles")
    parser.add_argument(
        "--threads", type=int, default=0, help="lepton-edge intra-op threads (0: the runtime's)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calibration", type=int, default=64, help="INT8 calibration frames from the video")
    parser.add_argument("--count-frames", type=int, default=60, help="frames whose boxes both sides count")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench" / "yolo")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="yolo-vs-ultralytics", help="results file name, without suffix")
    parser.add_argument("--force", action="store_true", help="export again even where the work dir has it")
    return parser


def _exports(args: argparse.Namespace, python: Path) -> dict[str, Any]:
    """Ultralytics' exports, reused while the same sizes, formats and seed made them."""
    out = args.work / "ultralytics"
    listing = out / "exports.json"
    wanted = {"formats": args.ultra_formats, "imgsz": args.ultra_imgsz, "seed": args.seed}
    stamp = out / "stamp.json"
    if not args.force and listing.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        exports: dict[str, Any] = json.loads(listing.read_text())
        return exports
    log.info(
        "Ultralytics: building YOLOv8n from yolov8n.yaml and exporting %s at %s",
        args.ultra_formats,
        args.ultra_imgsz,
    )
    flags = ["--out", str(out), "--formats", args.ultra_formats, "--imgsz", args.ultra_imgsz]
    exports = run_ultra(python, "ultra_export", [*flags, "--seed", str(args.seed)], out / "settings", 1800)
    stamp.write_text(json.dumps(wanted) + "\n")
    return exports


Run = Callable[[], Timed]


def _ultra_runs(args: argparse.Namespace, python: Path, exports: dict[str, Any], video: Path) -> list[Run]:
    runs: list[Run] = []
    settings = args.work / "ultralytics" / "settings"
    for entry in exports["exports"]:
        if "path" not in entry:
            log.warning(
                "Ultralytics could not export %s imgsz %s: %s",
                entry["format"],
                entry["imgsz"],
                entry.get("error"),
            )
            continue
        flags = ["--model", entry["path"], "--format", entry["format"], "--imgsz", entry["imgsz"]]

        def run(flags: list[str] = flags) -> Timed:
            return Timed.from_dict(
                run_ultra(python, "ultra_predict", [*flags, "--video", str(video)], settings, 3600)
            )

        runs.append(run)
    return runs


def _lepton_runs(
    args: argparse.Namespace, bundles: dict[str, Path], video: Path, size: str, port: int
) -> list[Run]:
    runs: list[Run] = []
    for n, (imgsz, bundle) in enumerate(bundles.items()):
        names = args.engines if n == 0 else args.other_engines
        for key in [k for k in names.split(",") if k]:
            variant = ENGINES[key]

            def run(variant: EngineVariant = variant, imgsz: str = imgsz, bundle: Path = bundle) -> Timed:
                daemon = DaemonRun(
                    bundle,
                    video,
                    size,
                    variant.precision,
                    args.threads,
                    port,
                    backends=variant.backends,
                    engine_precision=variant.engine_precision,
                )
                m = run_daemon(daemon)
                return Timed(
                    side="lepton-edge",
                    variant=f"lepton-edge {variant.name} imgsz {imgsz}",
                    imgsz=imgsz,
                    frames=m.frames,
                    seconds=m.seconds,
                    cpu_cores=m.cpu_cores,
                    peak_rss_mb=m.peak_rss_mb,
                    engine=m.engine,
                    stage_ms=m.stage_ms,
                    batch_mean=m.batch_mean,
                )

            runs.append(run)
    return runs


def _decode_only(video: Path, size: str) -> Timed:
    m = run_child("decode_only", "--video", str(video), "--size", size)
    return Timed(
        "decode only", "decode only (OpenCV, 1 thread)", "-", m.frames, m.seconds, m.cpu_cores, m.peak_rss_mb
    )


def _interleave(first: list[Run], second: list[Run], reverse: bool) -> list[Run]:
    """Alternate the two sides; every other round backwards, so a drifting load hits both alike."""
    merged: list[Run] = []
    for i in range(max(len(first), len(second))):
        merged += [r[i] for r in (first, second) if i < len(r)]
    return merged[::-1] if reverse else merged


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    versions = check_venv(args.ultra_python)
    if isinstance(versions, str):
        print(versions, file=sys.stderr)
        return 2
    unknown = [e for e in f"{args.engines},{args.other_engines}".split(",") if e and e not in ENGINES]
    if unknown:
        print(f"--engines: unknown {unknown}; choose from {list(ENGINES)}", file=sys.stderr)
        return 2
    started, load_start = time.monotonic(), os.getloadavg()[0]
    video = args.video or demo_video(args.work / "videos", args.parts, 0)
    size, frames = video_size(video), frame_count(video)
    exports = _exports(args, args.ultra_python)
    onnx = {e["imgsz"]: Path(e["path"]) for e in exports["exports"] if e["format"] == "onnx" and "path" in e}
    bundles: dict[str, Path] = {}
    for text in [t for t in args.lepton_imgsz.split(",") if t]:
        imgsz = imgsz_text(parse_imgsz(text))
        if imgsz not in onnx:
            print(
                f"--lepton-imgsz {text}: Ultralytics made no ONNX at {imgsz} (--ultra-imgsz)", file=sys.stderr
            )
            return 2
        log.info(
            "lepton-export: bundling %s with INT8 on %d frames of the video", onnx[imgsz], args.calibration
        )
        bundles[imgsz] = export_bundle(
            onnx[imgsz], video, args.work / f"lepton-{imgsz.replace(',', 'x')}", args.calibration, args.force
        )
    first_bundle = next(iter(bundles.values()))
    lepton_boxes = {
        ENGINES[k].name: count_boxes(first_bundle, video, args.count_frames, ENGINES[k])
        for k in args.engines.split(",")
        if k and k != "auto"
    }
    rounds: list[list[Timed]] = []
    broker = Broker(args.work / "broker").start()
    try:
        ultra = _ultra_runs(args, args.ultra_python, exports, video)
        lepton = _lepton_runs(args, bundles, video, size, broker.port)
        for n in range(args.rounds):
            log.info("round %d/%d (load average %.1f)", n + 1, args.rounds, os.getloadavg()[0])
            rows = [_decode_only(video, size)]
            for run in _interleave(ultra, lepton, reverse=n % 2 == 1):
                rows.append(run())
                log.info("  %-48s %7.2f fps  %s", rows[-1].variant, rows[-1].fps, rows[-1].engine)
            rounds.append(rows)
    finally:
        broker.stop()
    meta = {
        "machine": machine(),
        "load": f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        "video": video.name,
        "video_size": size,
        "frames": frames,
        "seed": args.seed,
        "threads": args.threads,
        "rounds": args.rounds,
        "count_frames": args.count_frames,
        "ultra_versions": versions,
        "ultra_exports": exports,
        "lepton_boxes": lepton_boxes,
        "seconds": round(time.monotonic() - started, 1),
        "command": "python -m benchmarks.yolo_vs_ultralytics "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    summary = summarise(rounds)
    args.results.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema": "lepton.bench.yolo_vs_ultralytics/1",
        "meta": meta,
        "summary": summary,
        "rounds": [[r.__dict__ | {"fps": round(r.fps, 3)} for r in rows] for rows in rounds],
    }
    (args.results / f"{args.name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    table = markdown(summary, rounds, meta)
    (args.results / f"{args.name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
