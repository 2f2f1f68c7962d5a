"""The ceiling: ONNX Runtime ``run`` in a loop on frames already decoded and preprocessed.

Same session options as the daemon (``lepton.edge.engines.ort.session_options``), same threads,
the bundle's own preprocessing, frames from the same video. Child process of ``__main__``.

``--decode-beside``: the same loop while another process decodes the video on the other core,
as any program that decodes and infers at once must. On 2-vCPU VMs the two cores share the host
core's caches and bandwidth, and the engine alone ran 0.86-0.88 of its quiet speed with decoding
beside it (benchmarks/README.md): the bound the daemon can reach there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from benchmarks.pipeline.inputs import first_frames
from benchmarks.pipeline.procstat import CpuMark, own_peak_rss_mb
from benchmarks.pipeline.results import Measured
from lepton.edge.bundle.manifest import verify_bundle
from lepton.edge.engines.ort import session_options
from lepton.edge.outbox.delivery_clock import nearest_rank
from lepton.edge.preprocess import preprocess_batch

DISTINCT_FRAMES = 64
BESIDE = "bare engine, decoding beside"

_DECODE_FOREVER = """
import sys, cv2
frame = None
while True:
    capture = cv2.VideoCapture(sys.argv[1], cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    while True:
        ok, frame = capture.read(frame)
        if not ok:
            break
    capture.release()
"""
"""One decoder thread reading the video over and over, as the daemon's capture thread does."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--precision", choices=["fp32", "int8"], required=True)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--decode-beside", action="store_true", help="a process decoding the video meanwhile")
    args = parser.parse_args()

    manifest = verify_bundle(args.bundle)
    artifact = manifest.model_artifact(args.precision, "ort-cpu")  # the file the daemon runs
    assert artifact is not None, f"{args.bundle} has no {args.precision} model"
    session = ort.InferenceSession(
        str(args.bundle / artifact.path),
        sess_options=session_options(args.threads),
        providers=["CPUExecutionProvider"],
    )
    frames = first_frames(args.video, DISTINCT_FRAMES)
    tensors = [
        preprocess_batch(frames[i : i + args.batch], manifest.preprocess, manifest.input)
        for i in range(0, len(frames) - args.batch + 1, args.batch)
    ]
    name = manifest.input.name
    for tensor in tensors[:8]:  # warm-up: first runs allocate
        session.run(None, {name: tensor})

    runs = max(1, args.frames // args.batch)
    latencies_ms = []
    beside = None
    if args.decode_beside:
        beside = subprocess.Popen(
            [sys.executable, "-c", _DECODE_FOREVER, str(args.video)], stdin=subprocess.DEVNULL
        )
        time.sleep(0.5)  # decoding under way before the window opens
    try:
        start = CpuMark.own()
        for i in range(runs):
            t0 = time.perf_counter()
            session.run(None, {name: tensors[i % len(tensors)]})
            latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        end = CpuMark.own()
    finally:
        if beside is not None:
            beside.kill()
            beside.wait()
    latencies_ms.sort()
    print(
        Measured(
            variant=(BESIDE if args.decode_beside else "bare engine")
            + (f" (batch {args.batch})" if args.batch > 1 else ""),
            size=args.size,
            precision=args.precision,
            threads=args.threads,
            frames=runs * args.batch,
            seconds=end.wall_s - start.wall_s,
            cpu_cores=end.cores_since(start),
            peak_rss_mb=own_peak_rss_mb(),
            latency_p50_ms=nearest_rank(latencies_ms, 0.5),
            latency_p99_ms=nearest_rank(latencies_ms, 0.99),
            latency="session.run per batch",
        ).to_json()
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
