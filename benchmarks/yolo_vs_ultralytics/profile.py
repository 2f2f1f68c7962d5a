"""Where lepton-edge's time goes on this model: the daemon under py-spy (sampling its Python
threads; an engine call shows as the Python frame that made it), samples sorted by what they
were doing, per thread.

    .venv/bin/python -m benchmarks.yolo_vs_ultralytics.profile --engine ort-cpu-fp32 [--imgsz 480x640]

py-spy comes from the benchmark venv (``--py-spy``), not lepton's. It needs the bundles of a
run of ``python -m benchmarks.yolo_vs_ultralytics`` in ``--work``. Idle samples (a thread
waiting on a queue or a lock) are left out, so the shares are of busy time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.pipeline.daemon_run import DaemonRun, daemon_toml
from benchmarks.yolo_vs_ultralytics.inputs import demo_video, video_size
from benchmarks.yolo_vs_ultralytics.lepton_side import ENGINES
from benchmarks.yolo_vs_ultralytics.record import imgsz_text, parse_imgsz
from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parents[2]
CATEGORIES = (
    ("engine (inference)", ("engines/",)),
    ("video decode (capture)", ("sources/",)),
    ("preprocess", ("preprocess.py",)),
    ("decoder (boxes, NMS)", ("decoders/",)),
    ("events, outbox, MQTT", ("events/", "outbox/", "mqtt/", "paho/")),
)
"""A busy sample counts for the first of these its stack holds, innermost frame first."""
WAITS = ("Condition.wait", "Event.wait", "Queue.get", "Thread.join", "sleep", "select", "Client._loop ")
"""Innermost frames of a thread that waits (py-spy samples those too here)."""
STARTUP = ("_load_model", "_find_and_load")


def category(stack: list[str]) -> str:
    if any(any(n in frame for n in STARTUP) for frame in stack):
        return "start-up"
    if stack and any(w in stack[-1] for w in WAITS):
        return "waiting"
    for frame in reversed(stack):
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


def thread_of(stack: list[str]) -> str:
    """The main thread, or the function a ``threading.Thread`` runs."""
    if not stack or not stack[0].startswith("Thread._bootstrap"):
        return "main (inference loop)"
    frames = [f for f in stack if not f.startswith(("Thread.", "_bootstrap"))]
    return frames[0].split(" (")[0] if frames else "thread"


def summarise(raw: str) -> dict[str, Counter[str]]:
    """py-spy's ``--format raw`` (collapsed stacks: ``frame;...;frame count``, outermost first)."""
    threads: dict[str, Counter[str]] = defaultdict(Counter)
    for line in raw.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        stack = stack_text.split(";")
        threads[thread_of(stack)][category(stack)] += int(count)
    return dict(threads)


COLUMNS = (*(name for name, _ in CATEGORIES), "other")


def render(threads: dict[str, Counter[str]], rate: int) -> str:
    """Busy seconds per thread (start-up and waiting left out), split by activity."""
    lines = [
        "| thread | busy s | " + " | ".join(COLUMNS) + " | start-up s | waiting s |",
        "|---|---:|" + "---:|" * (len(COLUMNS) + 2),
    ]
    for thread, counts in sorted(threads.items(), key=lambda kv: -sum(kv[1][c] for c in COLUMNS)):
        busy = sum(counts[c] for c in COLUMNS)
        shares = [f"{100 * counts[c] / busy:.0f} %" if busy else "-" for c in COLUMNS]
        tail = f" | {counts['start-up'] / rate:.1f} | {counts['waiting'] / rate:.1f} |"
        lines.append(f"| {thread} | {busy / rate:.1f} | " + " | ".join(shares) + tail)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.yolo_vs_ultralytics.profile")
    parser.add_argument("--engine", default="auto", choices=list(ENGINES))
    parser.add_argument("--imgsz", default="480x640")
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--py-spy", type=Path, default=Path("/work/bench-ultra/bin/py-spy"))
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench" / "yolo")
    parser.add_argument(
        "--out", type=Path, help="also write the collapsed stacks here (speedscope, flamegraph)"
    )
    args = parser.parse_args()
    imgsz = imgsz_text(parse_imgsz(args.imgsz))
    bundle = args.work / f"lepton-{imgsz.replace(',', 'x')}" / "bundle"
    if not (bundle / "manifest.json").is_file() or not args.py_spy.is_file():
        print(f"needs {bundle} (run the benchmark first) and py-spy at {args.py_spy}", file=sys.stderr)
        return 2
    video = demo_video(args.work / "videos", args.parts, 0)
    variant = ENGINES[args.engine]
    broker = Broker(args.work / "broker").start()
    try:
        with tempfile.TemporaryDirectory(prefix="lepton-profile-") as tmp:
            run = DaemonRun(
                bundle,
                video,
                video_size(video),
                variant.precision,
                args.threads,
                broker.port,
                backends=variant.backends,
                engine_precision=variant.engine_precision,
            )
            config = Path(tmp) / "lepton-edge.toml"
            config.write_text(daemon_toml(run, Path(tmp) / "state"))
            raw = Path(tmp) / "stacks.txt"
            daemon = [str(Path(sys.executable).parent / "lepton-edge"), "run", "--config", str(config)]
            spy = [
                str(args.py_spy),
                "record",
                "--format",
                "raw",
                "--rate",
                str(args.rate),
                "-o",
                str(raw),
                "--",
            ]
            subprocess.run([*spy, *daemon], check=True, capture_output=True)
            stacks = raw.read_text()
    finally:
        broker.stop()
    if args.out:
        args.out.write_text(stacks)
    print(f"lepton-edge {variant.name} imgsz {imgsz}, {video.name}: busy samples by thread and activity")
    print(render(summarise(stacks), args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
