"""ORT CPU throughput of a bundle's FP32 model vs each INT8 model: same threads, one run.

    .venv/bin/python benchmarks/int8_speed.py BUNDLE [--threads 1,2] [--batch 1,8]
        [--duration-s 6] [--json out.json] [--markdown out.md]

For every (threads, batch) pair, FP32 and every INT8 artefact of the bundle run in
alternating short blocks on the bundle's own golden inputs (real preprocessed frames),
and each ratio is the median of the per-round INT8/FP32 ratios: load that comes and goes
during the run hits every model alike, so the ratio holds on a busy machine where the
absolute images/s do not. Absolute numbers are printed too, with the spread over rounds.

It also saves each model as ORT optimises it (``SessionOptions.optimized_model_filepath``)
and counts what is left: a Q/DQ graph whose Conv nodes did not become ``QLinearConv``, or
that still holds DequantizeLinear → Relu → QuantizeLinear chains, runs its INT8 parts in
float. The CPU's ISA flags are in the output: on x86, ORT's INT8 gains need VNNI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lepton.edge.bundle.manifest import Manifest, verify_bundle  # noqa: E402
from lepton.export.stages.toolchain import read_cpu_flags  # noqa: E402


def _session(path: Path, threads: int, optimized_out: Path | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if optimized_out is not None:
        options.optimized_model_filepath = str(optimized_out)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _images_per_s(session: ort.InferenceSession, feed: dict[str, np.ndarray], block_s: float) -> float:
    runs, started = 0, time.perf_counter()
    while True:
        session.run(None, feed)
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= block_s:
            return runs * len(next(iter(feed.values()))) / elapsed


def _census(optimized: Path) -> dict[str, int]:
    ops = Counter(
        (f"{n.domain}::{n.op_type}" if n.domain else n.op_type) for n in onnx.load(str(optimized)).graph.node
    )
    return dict(sorted(ops.items()))


def measure(
    bundle: Path, manifest: Manifest, threads: int, batch: int, duration_s: float, work: Path
) -> dict[str, Any]:
    with np.load(bundle / manifest.golden.inputs) as golden:  # type: ignore[union-attr]
        frames = np.asarray(golden[manifest.input.name], dtype=np.float32)
    feed = {manifest.input.name: np.ascontiguousarray(frames[np.arange(batch) % len(frames)])}
    models = [a for a in manifest.artifacts if a.role == "model" and a.precision in ("fp32", "int8")]
    sessions = {}
    census = {}
    for a in models:
        optimized = work / f"{Path(a.path).stem}.t{threads}.b{batch}.optimized.onnx"
        sessions[a.path] = _session(bundle / a.path, threads, optimized)
        census[a.path] = _census(optimized)
    for s in sessions.values():
        for _ in range(3):
            s.run(None, feed)
    block_s = min(0.25, duration_s / 8)
    rounds = max(5, round(duration_s / (len(sessions) * block_s)))
    rates: dict[str, list[float]] = {p: [] for p in sessions}
    for _ in range(rounds):
        for path, session in sessions.items():
            rates[path].append(_images_per_s(session, feed, block_s))
    fp32 = next(a.path for a in models if a.precision == "fp32")
    rows = []
    for path, r in rates.items():
        ratios = [x / f for x, f in zip(r, rates[fp32], strict=True)]
        rows.append(
            {
                "model": path,
                "images_per_s_median": statistics.median(r),
                "images_per_s_best": max(r),
                "ratio_vs_fp32": statistics.median(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                "optimized_ops": census[path],
            }
        )
    return {"threads": threads, "batch": batch, "rounds": rounds, "block_s": block_s, "results": rows}


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# INT8 vs FP32 on ORT CPU: {report['bundle']}",
        "",
        f"CPU: {report['cpu']} · flags: {', '.join(report['cpu_flags']) or 'none recorded'} · "
        f"onnxruntime {report['onnxruntime']} · {report['cores']} cores",
        "",
        "| threads | batch | model | img/s (median) | img/s (best round) | ratio vs FP32 | per-round range |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for m in report["measurements"]:
        for r in m["results"]:
            lines.append(
                f"| {m['threads']} | {m['batch']} | `{r['model']}` | {r['images_per_s_median']:.0f} | "
                f"{r['images_per_s_best']:.0f} | {r['ratio_vs_fp32']:.2f}x | "
                f"{r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f} |"
            )
    lines += ["", "Ops left after ORT's graph optimisation (first measurement):", ""]
    for r in report["measurements"][0]["results"]:
        lines.append(f"- `{r['model']}`: " + ", ".join(f"{op} {n}" for op, n in r["optimized_ops"].items()))
    return "\n".join(lines) + "\n"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle", type=Path, help="a bundle directory written by lepton-export")
    parser.add_argument("--threads", type=_ints, default=None, help="comma list; default 1 and all cores")
    parser.add_argument(
        "--batch", type=_ints, default=None, help="comma list; default 1 and the bundle's batch_max"
    )
    parser.add_argument("--duration-s", type=float, default=6.0, help="measuring time per (threads, batch)")
    parser.add_argument("--json", type=Path, help="write the JSON report here")
    parser.add_argument("--markdown", type=Path, help="write the markdown table here")
    args = parser.parse_args(argv)
    manifest = verify_bundle(args.bundle)
    if manifest.golden is None or manifest.model_artifact("int8") is None:
        parser.error(
            f"{args.bundle}: the bundle needs golden inputs and an INT8 model (export with [calibration])"
        )
    cores = len(os.sched_getaffinity(0))
    threads = args.threads or sorted({1, cores})
    batches = args.batch or sorted({1, manifest.input.batch_max})
    report: dict[str, Any] = {
        "bundle": str(args.bundle),
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": list(read_cpu_flags()),
        "cores": cores,
        "onnxruntime": ort.__version__,
        "measurements": [],
    }
    with tempfile.TemporaryDirectory(prefix="int8-speed.") as work:
        for t in threads:
            for b in batches:
                m = measure(args.bundle, manifest, t, b, args.duration_s, Path(work))
                report["measurements"].append(m)
                for r in m["results"]:
                    print(
                        f"threads {t} batch {b} {r['model']:24s} {r['images_per_s_median']:8.0f} img/s "
                        f"x{r['ratio_vs_fp32']:.2f}",
                        file=sys.stderr,
                    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(to_markdown(report), encoding="utf-8")
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
