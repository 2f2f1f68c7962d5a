"""The box busy with other processes: every variant measured quiet and beside ``--contention`` CPU hogs.

Each round runs each variant twice in a row, quiet and contended, the order swapped every
other round so drifting background load hits both sides alike. The ratio contended / quiet
says how far each one falls; "the daemon degrades no more than the bare engine" is the
daemon's ratio against the bare engine's. The paced daemon's ratio is of its frame → PUBACK
p50 and p99 (quiet / contended, so below 1 is worse there too).

The daemon also runs at each ``--daemon-nice`` value (``nice -n``, as the unit's ``Nice=``
sets it) against hogs at nice 0, all in this benchmark's session, hence one autogroup, so
the nice values weigh against each other as they would in one cgroup.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.pipeline.children import run_child
from benchmarks.pipeline.daemon_run import DaemonRun, run_daemon
from benchmarks.pipeline.hogs import Hogs
from benchmarks.pipeline.inputs import frame_count, sized_video
from benchmarks.pipeline.results import Measured
from tests.support.mosquitto import Broker

QUIET = "quiet"


def _side(hogs: int) -> str:
    return QUIET if not hogs else f"{hogs} hogs"


def _pair(measure: Callable[[int], Measured], hogs: int, contended_first: bool) -> list[Measured]:
    """The variant quiet and beside ``hogs`` hogs, in the round's order; each row's ``note`` says which."""
    rows = []
    for count in (hogs, 0) if contended_first else (0, hogs):
        row = measure(count)
        rows.append(dataclasses.replace(row, note=_side(count)))
        logging.info("  %-40s %-9s %-5s %dt %-8s %7.1f fps  p50/p99 %s / %s ms", row.variant, row.size,
                     row.precision, row.threads, _side(count), row.fps, _ms(row.latency_p50_ms),
                     _ms(row.latency_p99_ms))  # fmt: skip
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _child(module: str, args: list[str]) -> Callable[[int], Measured]:
    def measure(count: int) -> Measured:
        with Hogs(count) as hogs:
            row = run_child(module, *args)
        return dataclasses.replace(row, hog_cores=round(hogs.cores, 3) if count else None)

    return measure


def _daemon(run: DaemonRun) -> Callable[[int], Measured]:
    return lambda count: run_daemon(run, hogs=Hogs(count))


def contention_round(
    args: argparse.Namespace, broker: Broker, videos: dict[str, Path], precisions: list[str], index: int
) -> list[Measured]:
    """One round: bare engine, lepton-edge (each nice), naive loop, paced daemon; each quiet and contended."""
    first = index % 2 == 1
    rows: list[Measured] = []
    for size, video in videos.items():
        frames = frame_count(video)
        for threads in args.threads:
            common = ["--video", str(video), "--size", size, "--threads", str(threads)]
            for precision in precisions:
                bare = ["--bundle", str(args.bundle), "--precision", precision, "--frames", str(frames)]
                rows += _pair(_child("bare", [*common, *bare]), args.contention, first)
                for nice in args.daemon_nice:
                    run = DaemonRun(args.bundle, video, size, precision, threads, broker.port, nice=nice)
                    rows += _pair(_daemon(run), args.contention, first)
            model = ["--bundle", str(args.bundle), "--factory", args.factory, "--weights", str(args.weights)]
            naive = _child("naive", [*common, *model, "--port", str(broker.port)])
            rows += _pair(naive, args.contention, first)
            if args.paced_fps > 0:
                paced = sized_video(args.video, size, args.out / "videos", fps=args.paced_fps)
                for nice in args.daemon_nice:
                    run = DaemonRun(
                        args.bundle, paced, size, precisions[-1], threads, broker.port, realtime=True,
                        loop=args.paced_s > 0, duration_s=args.paced_s or None, nice=nice,
                    )  # fmt: skip
                    rows += _pair(_daemon(run), args.contention, first)
    return rows


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def degradation(rounds: list[list[Measured]]) -> list[dict[str, Any]]:
    """Per variant: quiet and contended medians over the rounds, and contended / quiet."""
    groups: dict[tuple[str, str, str, int], dict[str, list[Measured]]]
    groups = defaultdict(lambda: defaultdict(list))
    for rows in rounds:
        for row in rows:
            groups[(row.variant, row.size, row.precision, row.threads)][row.note].append(row)
    out = []
    for (variant, size, precision, threads), sides in groups.items():
        quiet = sides.get(QUIET, [])
        contended = next((rows for note, rows in sides.items() if note != QUIET), [])
        if not quiet or not contended:
            continue
        entry: dict[str, Any] = {"variant": variant, "size": size, "precision": precision, "threads": threads}
        for name, rows in (("quiet", quiet), ("contended", contended)):
            entry[f"{name}_fps"] = _median([r.fps for r in rows])
            entry[f"{name}_cores"] = _median([r.cpu_cores for r in rows])
            entry[f"{name}_p50_ms"] = _median([r.latency_p50_ms for r in rows])
            entry[f"{name}_p99_ms"] = _median([r.latency_p99_ms for r in rows])
            entry[f"{name}_fps_all"] = [round(r.fps, 1) for r in rows]
        entry["hog_cores"] = _median([r.hog_cores for r in contended])
        entry["fps_ratio"] = entry["contended_fps"] / entry["quiet_fps"] if entry["quiet_fps"] else None
        for q in ("p50", "p99"):
            before, after = entry[f"quiet_{q}_ms"], entry[f"contended_{q}_ms"]
            entry[f"{q}_ratio"] = before / after if before and after else None
        out.append(entry)
    return sorted(out, key=lambda e: (e["size"], e["threads"]))  # stable: the order the variants ran


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def contention_markdown(entries: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores ({', '.join(m['isa'])}); onnxruntime {m['onnxruntime']}. "
        f"Contention: {meta['contention']} CPU hogs (busy-loop processes, nice 0) during each contended "
        f"window. Median of {meta['rounds']} round(s), quiet and contended interleaved. Load average "
        f"before / after: {meta['loadavg_before']} / {meta['loadavg_after']}.",
        "",
        "Ratio: contended / quiet fps; for latency, quiet / contended (below 1: worse under contention).",
        "",
        "| variant | size | precision | threads | quiet fps | contended fps | fps ratio "
        "| CPU cores quiet / contended | hogs' cores | p50 quiet / contended ms "
        "| p99 quiet / contended ms | p50 ratio | p99 ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in entries:
        lines.append(
            f"| {e['variant']} | {e['size']} | {e['precision']} | {e['threads']} | {e['quiet_fps']:.0f} | "
            f"{e['contended_fps']:.0f} | {_cell(e['fps_ratio'], '.2f')} | "
            f"{e['quiet_cores']:.2f} / {e['contended_cores']:.2f} | {_cell(e['hog_cores'], '.2f')} | "
            f"{_cell(e['quiet_p50_ms'], '.1f')} / {_cell(e['contended_p50_ms'], '.1f')} | "
            f"{_cell(e['quiet_p99_ms'], '.1f')} / {_cell(e['contended_p99_ms'], '.1f')} | "
            f"{_cell(e['p50_ratio'], '.2f')} | {_cell(e['p99_ratio'], '.2f')} |"
        )
    lines += ["", *_versus_bare(entries)]
    return "\n".join(lines) + "\n"


def _versus_bare(entries: list[dict[str, Any]]) -> list[str]:
    """The issue's target: each unpaced daemon's fps ratio against the bare engine's."""
    lines = ["| target: fps ratio | daemon | bare engine | met |", "|---|---:|---:|---|"]
    for e in entries:
        if not e["variant"].startswith("lepton-edge") or "paced" in e["variant"]:
            continue
        bare = next(
            (b for b in entries if b["variant"] == "bare engine"
             and (b["size"], b["precision"], b["threads"]) == (e["size"], e["precision"], e["threads"])),
            None,
        )  # fmt: skip
        if bare is None or e["fps_ratio"] is None or bare["fps_ratio"] is None:
            continue
        met = "yes" if e["fps_ratio"] >= bare["fps_ratio"] else "**no**"
        name = f"{e['size']} {e['precision']} {e['threads']}t: {e['variant']} ≥ bare engine"
        lines.append(f"| {name} | {e['fps_ratio']:.2f} | {bare['fps_ratio']:.2f} | {met} |")
    return lines
