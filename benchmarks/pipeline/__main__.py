"""One command, one run: bare engine, lepton-edge and the naive loop on the same model,
threads and video, at each size and precision, against a local Mosquitto.

    .venv/bin/python -m benchmarks.pipeline [--sizes 640x480,1280x720]
        [--threads 1,2] [--rounds 3] [--soak-s 600] [--out build/bench/pipeline]
    .venv/bin/python -m benchmarks.pipeline --contention 4 [--daemon-nice 0,-5] ...

Needs the demo build (``make demo`` makes build/demo: video, model, bundle). Writes
``results.json`` and ``results.md`` under ``--out`` (and ``soak.json``/``soak.png`` with
``--soak-s``), or ``contention.json``/``contention.md`` with ``--contention``
(benchmarks/pipeline/contention.py). Not a test: it asserts nothing; the targets table says what held.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.pipeline.children import run_child
from benchmarks.pipeline.contention import contention_markdown, contention_round, degradation
from benchmarks.pipeline.daemon_run import DaemonRun, run_daemon
from benchmarks.pipeline.inputs import frame_count, sized_video
from benchmarks.pipeline.report import as_json, machine, markdown, median_rows, targets
from benchmarks.pipeline.results import Measured
from benchmarks.pipeline.soak import run_soak
from lepton.edge.bundle.manifest import verify_bundle
from tests.support.mosquitto import Broker

_SUMMARY = "bare engine vs lepton-edge vs a naive loop: same model, threads and video"
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "build" / "demo"


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _nices(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=_SUMMARY)
    parser.add_argument("--bundle", type=Path, default=DEMO / "bundle")
    parser.add_argument("--video", type=Path, default=DEMO / "line.mp4")
    parser.add_argument("--factory", default="demo.model:build_classifier", help="naive loop's torch model")
    parser.add_argument("--weights", type=Path, default=DEMO / "model" / "classifier.pt")
    parser.add_argument("--sizes", default="640x480,1280x720")
    parser.add_argument("--precisions", default="", help="default: every precision the bundle has")
    parser.add_argument("--threads", type=_ints, default=[1, 2], help="engine threads, e.g. 1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-fps", type=float, default=50.0, help="fps of the live-like runs (0: none)")
    parser.add_argument(
        "--paced-s",
        type=float,
        default=100.0,
        help="length of each live-like run, the video looping (0: one pass); about one event per second, "
        "so 100 s gives p99 over 100 events rather than the maximum of 25",
    )
    parser.add_argument(
        "--contention",
        type=int,
        default=0,
        help="instead of the comparison: every variant quiet and beside this many CPU-hog processes",
    )
    parser.add_argument(
        "--daemon-nice",
        type=_nices,
        default=[0],
        help="with --contention: the daemon's nice values to compare (as the unit's Nice=), e.g. 0,-5",
    )
    parser.add_argument("--soak-s", type=float, default=0.0, help="soak this long (0: none)")
    parser.add_argument("--soak-warmup-s", type=float, default=60.0)
    parser.add_argument("--soak-only", action="store_true", help="skip the comparison, only soak")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "pipeline")
    return parser


def _round(
    args: argparse.Namespace, broker: Broker, videos: dict[str, Path], precisions: list[str]
) -> list[Measured]:
    rows: list[Measured] = []
    for size, video in videos.items():
        frames = frame_count(video)
        rows.append(run_child("decode_only", "--video", str(video), "--size", size))
        for threads in args.threads:
            common = ["--video", str(video), "--size", size, "--threads", str(threads)]
            for precision in precisions:
                bare = ["--bundle", str(args.bundle), "--precision", precision, "--frames", str(frames)]
                rows.append(run_child("bare", *common, *bare))
                if threads == 1:  # with 2 engine threads the engine takes both cores anyway
                    rows.append(run_child("bare", *common, *bare, "--decode-beside"))
                rows.append(run_daemon(DaemonRun(args.bundle, video, size, precision, threads, broker.port)))
            model = ["--bundle", str(args.bundle), "--factory", args.factory, "--weights", str(args.weights)]
            rows.append(run_child("naive", *common, *model, "--port", str(broker.port)))
    for row in rows:
        logging.info(
            "  %-36s %-9s %-18s %dt %7.1f fps", row.variant, row.size, row.precision, row.threads, row.fps
        )
    return rows


def _paced(args: argparse.Namespace, broker: Broker, sizes: list[str], precision: str) -> list[Measured]:
    rows = []
    for size in sizes:
        video = sized_video(args.video, size, args.out / "videos", fps=args.paced_fps)
        for threads in args.threads:
            run = DaemonRun(
                args.bundle,
                video,
                size,
                precision,
                threads,
                broker.port,
                realtime=True,
                loop=args.paced_s > 0,
                duration_s=args.paced_s or None,
            )
            rows.append(run_daemon(run))
            r = rows[-1]
            logging.info("  paced %s %s %dt: p50 %s p99 %s ms", size, precision, threads, r.latency_p50_ms,
                         r.latency_p99_ms)  # fmt: skip
    return rows


def _compare(
    args: argparse.Namespace,
    broker: Broker,
    videos: dict[str, Path],
    sizes: list[str],
    precisions: list[str],
    started: float,
) -> None:
    rounds = []
    for n in range(args.rounds):
        logging.info("round %d/%d", n + 1, args.rounds)
        rounds.append(_round(args, broker, videos, precisions))
    rows = median_rows(rounds)
    if args.paced_fps > 0:
        logging.info("paced runs at %g fps", args.paced_fps)
        rows += _paced(args, broker, sizes, precisions[-1])  # the daemon's default: int8 when present
    checks = targets(rows)
    meta = {
        "machine": machine(),
        "rounds": args.rounds,
        "video": args.video.name,
        "frames": frame_count(videos[sizes[0]]),
        "bundle": str(args.bundle),
        "paced_fps": args.paced_fps,
        "seconds": round(time.monotonic() - started, 1),
    }
    (args.out / "results.json").write_text(json.dumps(as_json(rows, checks, meta), indent=2) + "\n")
    table = markdown(rows, checks, meta)
    (args.out / "results.md").write_text(table)
    print(table)


def _contention(
    args: argparse.Namespace, broker: Broker, videos: dict[str, Path], precisions: list[str]
) -> None:
    started, load_before = time.monotonic(), os.getloadavg()
    rounds = []
    for n in range(args.rounds):
        logging.info("round %d/%d (%d hogs)", n + 1, args.rounds, args.contention)
        rounds.append(contention_round(args, broker, videos, precisions, n))
    entries = degradation(rounds)
    meta = {
        "machine": machine(),
        "rounds": args.rounds,
        "contention": args.contention,
        "daemon_nice": args.daemon_nice,
        "video": args.video.name,
        "paced_fps": args.paced_fps,
        "paced_s": args.paced_s,
        "loadavg_before": " ".join(f"{v:.1f}" for v in load_before),
        "loadavg_after": " ".join(f"{v:.1f}" for v in os.getloadavg()),
        "seconds": round(time.monotonic() - started, 1),
    }
    raw = [[{**asdict(r), "fps": round(r.fps, 2)} for r in rows] for rows in rounds]
    schema = "lepton.bench.pipeline-contention/1"
    document = {"schema": schema, "meta": meta, "variants": entries, "rounds": raw}
    (args.out / "contention.json").write_text(json.dumps(document, indent=2) + "\n")
    table = contention_markdown(entries, meta)
    (args.out / "contention.md").write_text(table)
    print(table)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    for flag, path in (("--bundle", args.bundle), ("--video", args.video), ("--weights", args.weights)):
        if not path.exists():
            print(f"{flag} {path}: not found; build the demo (`make demo`) or pass {flag}", file=sys.stderr)
            return 2
    manifest = verify_bundle(args.bundle)
    precisions = [p for p in (args.precisions.split(",") if args.precisions else manifest.precisions()) if p]
    sizes = [s for s in args.sizes.split(",") if s]
    args.out.mkdir(parents=True, exist_ok=True)
    videos = {size: sized_video(args.video, size, args.out / "videos") for size in sizes}
    broker = Broker(args.out / "broker").start()
    started = time.monotonic()
    try:
        if args.contention > 0:
            _contention(args, broker, videos, precisions)
        elif not args.soak_only:
            _compare(args, broker, videos, sizes, precisions, started)
        if args.soak_s > 0:
            run = DaemonRun(
                args.bundle,
                videos[sizes[0]],
                sizes[0],
                precisions[-1],
                args.threads[0],
                broker.port,
                loop=True,
                duration_s=args.soak_s,
                stats_interval_s=10.0,
                # a small snapshot quota, so eviction starts early: months on a line are spent
                # with the quota full, and that steady state is what the soak must reach
                extra_toml="[snapshots]\nmax_bytes = 8388608\n",
            )
            print(run_soak(run, args.soak_warmup_s, args.out))
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
